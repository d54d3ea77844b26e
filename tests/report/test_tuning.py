"""The report's tuning parts on hand-made stores: rulesets apart, tuning table, sensitivity
figure, the survival verdicts, and the page in headless Chromium."""

from __future__ import annotations

import math
import shutil
import subprocess
from pathlib import Path

import pytest
from testkit import read_csv

from uncertainty_lr.experiments.store import Store
from uncertainty_lr.experiments.tuning import pick_lr, save_choices
from uncertainty_lr.report import load_study, write_report
from uncertainty_lr.report.summary import AB_METRICS, Comparison
from uncertainty_lr.report.tuning import _verdict, split_rulesets
from uncertainty_lr.stats import PairedComparison, holm

GIVEN_SEEDS, TUNING_SEEDS = (0, 1, 2, 3), (100, 101)
# Given LR: uncertainty wins clearly. Tuned LRs: the gap closes to a zero-mean wobble.
GIVEN = {"uncertainty": (0.90, 0.91, 0.905, 0.915), "constant": (0.85, 0.862, 0.853, 0.866)}
TUNED = {"uncertainty": (0.92, 0.93, 0.925, 0.935), "constant": (0.93, 0.92, 0.935, 0.925)}
# Final validation accuracy of each tuning run: arm -> lr -> per tuning seed (None = diverged).
GRID = {
    "uncertainty": {1e-3: (0.80, 0.81), 3e-3: (0.85, 0.86), 1e-2: (0.84, 0.83)},
    "constant": {1e-3: (0.70, 0.71), 3e-3: (0.80, 0.80), 1e-2: (0.99, None)},
}


def add(store, schedule, seed, source, lr, val_final, test=None, status="done"):
    config = {"problem": "p", "schedule": schedule, "schedule_options": {}, "seed": seed,
              "lr": lr, "lr_source": source, "epochs": 3, "optimizer": "adam"}  # fmt: skip
    run_id = Store.run_id("p", schedule, seed, config)
    store.start_run(run_id, problem="p", schedule=schedule, seed=seed, config=config)
    for epoch in (1, 2, 3):
        val = val_final - 0.1 * (3 - epoch)
        loss = float("nan") if status == "diverged" and epoch == 3 else 1.0 - val
        store.log_epoch(run_id, epoch, {"val_accuracy": val, "val_loss": loss, "lr": lr,
                                        "train_loss": loss, "wall_time": float(epoch)})  # fmt: skip
    metrics = {"accuracy": test, "loss": 1 - test, "f1": test, "ece": 0.05} if test else None
    store.finish_run(run_id, status, test=metrics)


def tuned_store(path: Path, given=True, tuned=True) -> Path:
    with Store(path) as store:
        for arm, by_lr in GRID.items():
            for lr, finals in by_lr.items():
                for seed, final in zip(TUNING_SEEDS, finals, strict=True):
                    status = "diverged" if final is None else "done"
                    add(store, arm, seed, "tuning", lr, final or 0.5, test=0.1, status=status)
        records = [{"problem": "p", "schedule": arm, "lr": lr, "seed": s,
                    "status": "done" if f is not None else "diverged", "val_accuracy": [f]}
                   for arm, by_lr in GRID.items() for lr, fs in by_lr.items()
                   for s, f in zip(TUNING_SEEDS, fs, strict=True)]  # fmt: skip
        save_choices(store, pick_lr(records).values())
        for arm in GRID:
            for i, seed in enumerate(GIVEN_SEEDS):
                if given:
                    add(store, arm, seed, "given", 1e-3, 0.9, test=GIVEN[arm][i])
                if tuned:
                    add(store, arm, seed, "tuned", 3e-3, 0.9, test=TUNED[arm][i])
    return path


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    return write_report(tuned_store(tmp_path_factory.mktemp("tuned")))


def test_rulesets_are_split_and_tuning_runs_kept_apart(tmp_path):
    study = load_study(tuned_store(tmp_path))
    assert len(study.runs) == 12 + 8 + 8  # no tuning run is mistaken for a repeat of another
    parts = split_rulesets(study)
    assert parts.main_ruleset == "given" and len(parts.main.runs) == 8
    assert {r.config["lr_source"] for r in parts.tuned.runs} == {"tuned"}
    assert len(parts.tuning.runs) == 12


def test_main_sections_hold_only_the_self_tuning_runs(report):
    rows = read_csv(report / "final_metrics.csv")
    assert rows and all("100" not in str(row.values()) for row in rows)
    ab = read_csv(report / "ab_tests.csv")
    accuracy = next(r for r in ab if r["metric"] == "test accuracy")
    assert float(accuracy["mean A"]) == pytest.approx(sum(GIVEN["uncertainty"]) / 4)


def test_tuned_ruleset_is_its_own_holm_family(report):
    given, tuned = read_csv(report / "ab_tests.csv"), read_csv(report / "ab_tests_tuned.csv")
    accuracy = next(r for r in tuned if r["metric"] == "test accuracy")
    assert float(accuracy["mean A"]) == pytest.approx(sum(TUNED["uncertainty"]) / 4)
    for rows in (given, tuned):  # Holm over the family's own p-values only
        ps = [float(r["t-test p"]) if r["t-test p"][:1].isdigit() else None for r in rows]
        expected = holm(ps)
        for row, p in zip(rows, expected, strict=True):
            if p is not None:
                assert float(row["Holm p (t-test)"]) == pytest.approx(p)
    md = (report / "report.md").read_text()
    assert "(self-tuning ruleset)" in md and "(external tuning ruleset)" in md


def test_tuning_table_marks_the_choice_and_the_diverged_lr(report):
    rows = {r["schedule"]: r for r in read_csv(report / "tuning.csv")}
    assert rows["uncertainty"]["chosen LR"] == "0.003"
    assert rows["uncertainty"]["lr 0.003"] == "0.8550 ± 0.0071 (chosen)"
    # constant's best single run (0.99 at 1e-2) sits beside a diverged seed: it cannot win
    assert rows["constant"]["chosen LR"] == "0.003"
    assert rows["constant"]["lr 0.01"] == "1 of 2 seeds did not finish"
    assert (report / "figures" / "lr_sensitivity_p.png").stat().st_size > 10_000


def test_analysis_says_the_advantage_does_not_survive_tuning(report):
    md = (report / "report.md").read_text()
    survival = md.split("### Does the result survive tuning?")[1]
    assert "p (tuned LRs: uncertainty 0.003, constant 0.003)" in survival
    assert "uncertainty vs constant" in survival
    assert "self-tuning +0.0498 (significant" in survival
    assert "the advantage does not survive tuning" in survival


def _comparison(diff: float, holm_p: float) -> Comparison:
    result = PairedComparison(n=4, mean_a=0.9, mean_b=0.9 - diff, mean_diff=diff, ci_low=None,
                              ci_high=None, t_stat=None, t_p=holm_p, w_stat=None, w_p=None,
                              cohens_dz=None, prob_improvement=None, notes=())  # fmt: skip
    return Comparison("p", "uncertainty", "constant", AB_METRICS[0], result, holm_p=holm_p)


@pytest.mark.parametrize(
    "given, tuned, verdict",
    [((0.05, 0.001), (0.04, 0.01), "the advantage survives tuning"),
     ((0.05, 0.001), (0.00, 0.9), "the advantage does not survive tuning"),
     ((0.05, 0.001), (-0.03, 0.01), "the advantage does not survive tuning (it reverses)"),
     ((-0.05, 0.001), (-0.02, 0.04), "the loss survives tuning"),
     ((0.01, 0.5), (0.02, 0.6), "no significant difference under either ruleset"),
     ((0.01, 0.5), (-0.04, 0.01), "a significant loss appears only after tuning")],
)  # fmt: skip
def test_verdicts(given, tuned, verdict):
    assert _verdict(_comparison(*given), _comparison(*tuned)) == verdict


def test_store_without_tuning_has_no_tuning_section(tmp_path):
    with Store(tmp_path) as store:
        for arm in GRID:
            for i, seed in enumerate(GIVEN_SEEDS):
                add(store, arm, seed, "given", 1e-3, 0.9, test=GIVEN[arm][i])
    out = write_report(tmp_path)
    assert "Learning-rate tuning" not in (out / "report.md").read_text()
    assert not (out / "tuning.csv").exists()


def test_only_tuned_runs_become_the_main_sections(tmp_path):
    out = write_report(tuned_store(tmp_path, given=False))
    md = (out / "report.md").read_text()
    assert "The sections above show the external-tuning ruleset" in md
    assert "(external tuning ruleset)" in md and not (out / "ab_tests_tuned.csv").exists()
    accuracy = next(r for r in read_csv(out / "ab_tests.csv") if r["metric"] == "test accuracy")
    assert math.isclose(float(accuracy["mean B"]), sum(TUNED["constant"]) / 4)


PROBE = """<script>
window.addEventListener("load", function () {
  var imgs = Array.from(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; });
  var div = document.createElement("div");
  div.id = "probe";
  div.textContent = "decoded=" + ok.map(function (i) { return i.alt.replace(/ /g, "_"); }).join(",");
  document.body.appendChild(div);
});
</script>"""


def test_sensitivity_figure_renders_in_headless_chromium(report, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium not installed: apt-get install chromium (the CI script installs it)")
    page = tmp_path / "probe.html"
    page.write_text((report / "report.html").read_text() + PROBE, encoding="utf-8")
    result = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
         "--virtual-time-budget=5000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=90,
    )  # fmt: skip
    decoded = result.stdout.split('<div id="probe">decoded=')[-1].split("</div>")[0].split(",")
    assert "p:_LR_sensitivity" in decoded
    assert "<table" in result.stdout and "tuning: validation accuracy per schedule" in result.stdout


def test_store_with_only_tuning_runs_reports_the_tuning(tmp_path):
    out = write_report(tuned_store(tmp_path, given=False, tuned=False))
    md = (out / "report.md").read_text()
    assert "No comparison runs yet, only tuning runs" in md
    assert len(read_csv(out / "tuning.csv")) == 2
    assert read_csv(out / "final_metrics.csv") == []

"""End-to-end tests of write_report on small synthetic stores written through the Store API."""

from __future__ import annotations

import ast
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps
from testkit import read_csv

from uncertainty_lr.experiments.store import Store
from uncertainty_lr.report import load_study, summarise, write_report
from uncertainty_lr.stats import holm

EPOCHS = 6
SEEDS = (0, 1, 2, 3)
# Final test accuracy per (schedule, seed): uncertainty beats cosine by a large, consistent
# 0.05; constant differs from uncertainty by a zero-mean +-0.01 / +-0.005.
TEST_ACC = {
    "uncertainty": (0.900, 0.910, 0.905, 0.915),
    "cosine": (0.851, 0.859, 0.856, 0.864),
    "constant": (0.910, 0.900, 0.910, 0.910),
}
# Epoch at which each schedule's validation accuracy first reaches 0.85.
REACH = {"uncertainty": 3, "cosine": 5, "constant": 4}


def val_curve(final: float, reach: int, epochs: int) -> list[float]:
    """Validation accuracy rising linearly to 0.85 at epoch ``reach``, then to ``final``."""
    out = []
    for e in range(1, epochs + 1):
        if e < reach:
            out.append(0.5 + (0.84 - 0.5) * (e - 1) / max(1, reach - 1))
        else:
            out.append(0.85 + (final - 0.85) * (e - reach) / max(1, epochs - reach))
    return out


def add_run(
    store: Store,
    problem: str,
    schedule: str,
    seed: int,
    *,
    final: float,
    reach: int = 3,
    epochs: int = EPOCHS,
    status: str = "done",
    stop_after: int | None = None,
    test: bool = True,
    options: dict | None = None,
    name: str | None = None,
) -> str:
    """Write one plausible run: epoch records, then finish with ``status``."""
    config = {
        "problem": problem, "schedule": schedule.split(":")[0], "schedule_options": options or {},
        "seed": seed, "epochs": epochs, "batch_size": 64, "lr": 0.1, "optimizer": "sgd",
        "weight_decay": 5e-4, "train_size": 1000, "model": "mlp",
        "data_sizes": {"train": 1000, "val": 200, "test": 500},
    }  # fmt: skip
    run_id = Store.run_id(problem, schedule, seed, config)
    store.start_run(
        run_id, problem=problem, schedule=schedule, seed=seed, config=config,
        name=name or f"{problem}-{schedule}-{seed}", version="0.1.0", git_sha="0123456789abcdef",
        hardware={"cpu": "test cpu", "cores": 2, "torch": "2.13.0", "device": "cpu"},
    )  # fmt: skip
    acc = val_curve(final, reach, epochs)
    for e in range(1, (stop_after or epochs) + 1):
        loss = 2.0 * (1 - acc[e - 1]) + 0.01 * seed
        if status == "diverged" and e == stop_after:
            loss = float("nan")  # stored as NULL: the run blew up here
        store.log_epoch(run_id, e, {
            "train_loss": loss, "val_loss": loss, "val_accuracy": acc[e - 1],
            "val_f1": acc[e - 1] - 0.01, "val_ece": 0.05, "val_entropy": 1.0 - acc[e - 1],
            "lr": 0.1 * (0.5 ** (e - 1)) if schedule == "cosine" else 0.1,
            "train_time": 1.0, "eval_time": 0.25, "wall_time": 1.25 * e,
        })  # fmt: skip
    metrics = None
    if test and status == "done":
        metrics = {"accuracy": final, "loss": 2 * (1 - final), "f1": final - 0.01, "ece": 0.04}
    store.finish_run(run_id, status, test=metrics, error="boom" if status == "failed" else None)
    return run_id


def rich_store(path: Path, problems=("mnist_mlp", "cifar10_mlp")) -> Path:
    with Store(path) as store:
        for problem in problems:
            for schedule, finals in TEST_ACC.items():
                for seed, final in zip(SEEDS, finals, strict=True):
                    add_run(store, problem, schedule, seed, final=final, reach=REACH[schedule])
    return path


@pytest.fixture(scope="module")
def rich_report(tmp_path_factory) -> Path:
    store_dir = rich_store(tmp_path_factory.mktemp("rich"))
    return write_report(store_dir, command="uncertainty-lr sweep --seeds 4")


def test_writes_every_file(rich_report):
    assert rich_report.name == "report"
    for name in ("report.md", "report.html", "setup.csv", "final_metrics.csv",
                 "convergence.csv", "ab_tests.csv", "eval_summaries.txt", "verdict.csv",
                 "divergence.csv", "iqm.csv", "probability_of_improvement.csv",
                 "algoperf_score.csv"):  # fmt: skip
        assert (rich_report / name).stat().st_size > 0, name
    figures = sorted(p.name for p in (rich_report / "figures").glob("*.png"))
    for problem in ("mnist_mlp", "cifar10_mlp"):
        for kind in ("curves", "test_accuracy", "epochs_to_target"):
            assert f"{kind}_{problem}.png" in figures
    assert "performance_profile.png" in figures
    md = (rich_report / "report.md").read_text()
    assert "figures/curves_mnist_mlp.png" in md
    assert "could not be drawn" not in md


def test_final_metrics_csv_holds_the_written_means(rich_report):
    rows = read_csv(rich_report / "final_metrics.csv")
    assert len(rows) == 6
    for row in rows:
        expected = TEST_ACC[row["schedule"]]
        assert float(row["test_accuracy_mean"]) == pytest.approx(np.mean(expected))
        assert float(row["test_accuracy_std"]) == pytest.approx(np.std(expected, ddof=1))
        assert row["n_done"] == "4" and row["n_diverged"] == "0" and row["n_test"] == "4"


def test_ab_table_flags_the_large_difference_and_not_the_zero_one(rich_report):
    rows = read_csv(rich_report / "ab_tests.csv")
    # 2 problems x 2 baselines x 5 metrics
    assert len(rows) == 20
    col = "significant (Holm p < 0.05)"
    by_key = {(r["problem"], r["baseline"], r["metric"]): r for r in rows}
    for problem in ("mnist_mlp", "cifar10_mlp"):
        big = by_key[(problem, "cosine", "test accuracy")]
        assert big[col] == "yes"
        assert float(big["mean_diff"]) == pytest.approx(0.05, abs=1e-9)
        # The reported interval is the paired t-interval, the one the t-test implies.
        t_ci = sps.ttest_rel(TEST_ACC["uncertainty"], TEST_ACC["cosine"]).confidence_interval()
        assert float(big["ci_low"]) == pytest.approx(t_ci.low) and t_ci.low > 0
        assert float(big["ci_high"]) == pytest.approx(t_ci.high)
        assert by_key[(problem, "cosine", "test ECE")]["ci_low"] == "no diff"
        zero = by_key[(problem, "constant", "test accuracy")]
        assert zero[col] == "no"
        assert float(zero["mean_diff"]) == pytest.approx(0.0, abs=1e-12)
    # Holm runs over every t-test p in the report at once.
    t_ps = [None if r["t-test p"] in ("n<3", "zero var", "no diff") else float(r["t-test p"])
            for r in rows]  # fmt: skip
    for row, want in zip(rows, holm(t_ps), strict=True):
        got = row["Holm p (t-test)"]
        assert got == "no t-test" if want is None else float(got) == pytest.approx(want)


def test_convergence_table_and_target(rich_report):
    rows = read_csv(rich_report / "convergence.csv")
    best_cosine = np.median(TEST_ACC["cosine"])  # val curves end at the test accuracy
    best_constant = np.median(TEST_ACC["constant"])
    target = 0.99 * max(best_cosine, best_constant)
    for row in rows:
        assert float(row["target (val acc)"]) == pytest.approx(target)
        assert row["budget (epochs)"] == "6.0"


def test_known_epochs_to_target(tmp_path):
    study = load_study(rich_store(tmp_path, problems=("p",)))
    summary = summarise(study, target=0.85)
    ps = summary.problems["p"]
    for schedule, epoch in REACH.items():
        assert set(ps.epochs_to_target[schedule].values()) == {float(epoch)}
        assert set(ps.seconds_to_target[schedule].values()) == {1.25 * epoch}
    never = summarise(study, target=0.99).problems["p"]
    assert all(math.isinf(t) for t in never.epochs_to_target["cosine"].values())


def test_eval_summaries_are_trainer_style(rich_report):
    lines = (rich_report / "eval_summaries.txt").read_text().splitlines()
    assert len(lines) == 24
    label, _, payload = lines[0].partition(": ")
    assert label == "mnist_mlp / uncertainty / seed 0 [done]"
    values = ast.literal_eval(payload)
    assert values == {
        "eval_loss": round(2 * (1 - 0.9), 4), "eval_accuracy": 0.9, "eval_f1": 0.89,
        "eval_ece": 0.04, "eval_runtime": 0.25, "eval_samples_per_second": 800.0, "epoch": 6.0,
    }  # fmt: skip
    assert lines[0] in (rich_report / "report.md").read_text()


def test_analysis_states_the_significant_result(rich_report):
    md = (rich_report / "report.md").read_text()
    assert "uncertainty is significantly better on test accuracy vs cosine by +0.05" in md
    assert (
        "No significant difference after Holm correction for epochs to target vs cosine; "
        "test accuracy, test loss, test macro-F1 and epochs to target vs constant "
    ) in md
    assert "Holm p < 0.0001" in md
    assert "mean diff A-B [95% t-interval, unadjusted]" in md
    assert re.search(r"by \+0\.05 \(\d\d\.\d\d% t-interval, the Holm level: \[\+0\.0", md)
    assert "CI [" not in md
    assert "test ECE vs cosine (every paired difference is zero)" in md
    assert "uncertainty-lr sweep --seeds 4" in md  # the command, in the setup table


def test_html_escapes_user_strings(tmp_path):
    evil = "<script>alert(1)</script>"
    with Store(tmp_path) as store:
        for seed in (0, 1, 2):
            add_run(store, "p<b>", "uncertainty", seed, final=0.9, name=evil)
            add_run(store, "p<b>", evil, seed, final=0.8)
    out = write_report(tmp_path, command=f"run {evil}")
    page = (out / "report.html").read_text()
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<b>" not in page
    # Markdown: escaped everywhere except inside the fenced code block, which renders as text.
    md = (out / "report.md").read_text()
    outside_code = md.split("```text")[0]
    assert "<script" not in outside_code and "&lt;script>" in outside_code


def test_single_seed(tmp_path):
    with Store(tmp_path) as store:
        for schedule in ("uncertainty", "cosine"):
            add_run(store, "p", schedule, 0, final=0.9)
    out = write_report(tmp_path)
    rows = read_csv(out / "ab_tests.csv")
    accuracy = next(r for r in rows if r["metric"] == "test accuracy")
    assert accuracy["n"] == "1" and accuracy["t-test p"] == "n<3"
    assert accuracy["Cohen's d_z"] == "n<2" and accuracy["ci_low"] == "n<2"
    md = (out / "report.md").read_text()
    assert "at most one finished seed" in md
    assert "performance profile not drawn" in md


def test_single_schedule_without_uncertainty(tmp_path):
    with Store(tmp_path) as store:
        for seed in SEEDS:
            add_run(store, "p", "cosine", seed, final=0.85)
    out = write_report(tmp_path)
    assert read_csv(out / "ab_tests.csv") == []
    md = (out / "report.md").read_text()
    assert "only one schedule, cosine, was run, so nothing is compared" in md
    assert "no run uses the schedule 'uncertainty'" in md
    assert (out / "figures" / "curves_p.png").is_file()


def test_diverged_failed_and_untested_runs(tmp_path):
    with Store(tmp_path) as store:
        for seed in SEEDS:
            add_run(store, "p", "uncertainty", seed, final=0.9)
            status = {0: "diverged", 1: "failed"}.get(seed, "done")
            add_run(store, "p", "cosine", seed, final=0.85, status=status,
                    stop_after=2 if status != "done" else None)  # fmt: skip
            add_run(store, "p", "constant", seed, final=0.88, test=False)
        # A run that failed before its first epoch and one still running.
        config = {"epochs": 6}
        store.start_run(Store.run_id("p", "step", 0, config), problem="p", schedule="step",
                        seed=0, config=config)  # fmt: skip
        store.finish_run(Store.run_id("p", "step", 0, config), "failed", error="OOM")
        store.start_run("live", problem="p", schedule="step", seed=1, config=config)
        store.log_epoch("live", 1, {"val_accuracy": 0.5, "lr": 0.1})
    out = write_report(tmp_path, target={"p": 0.86})
    final = {r["schedule"]: r for r in read_csv(out / "final_metrics.csv")}
    assert (final["cosine"]["n_done"], final["cosine"]["n_diverged"]) == ("2", "1")
    assert final["cosine"]["n_failed"] == "1"
    # no run recorded its classes and 'p' is no registered problem: chance is bounded by 0
    assert float(final["cosine"]["test_accuracy_mean"]) == pytest.approx(0.85 * 2 / 3)
    assert final["constant"]["test_accuracy_mean"] == "" and final["constant"]["n_test"] == "0"
    rows = {(r["baseline"], r["metric"]): r for r in read_csv(out / "ab_tests.csv")}
    # The diverged cosine seed 0 stays in the accuracy comparison at chance accuracy (here
    # 0: the class count is unknown); the failed seed 1 drops out.
    accuracy = rows[("cosine", "test accuracy")]
    assert accuracy["n"] == "3" and "dropped 1 of 4 pairs" in accuracy["notes"]
    assert float(accuracy["mean B"]) == pytest.approx(0.85 * 2 / 3)
    assert (
        "1 diverged run (A: 0, B: 1) count at chance accuracy 0: the number of classes is unknown"
        in accuracy["notes"]
    )
    assert rows[("cosine", "test loss")]["n"] == "2"
    assert "dropped 2 of 4 pairs" in rows[("cosine", "test loss")]["notes"]
    assert (
        "drops 1 diverged run (A: 0, B: 1): a diverged run has no test loss"
        in (rows[("cosine", "test loss")]["notes"])
    )
    assert rows[("constant", "test loss")]["t-test p"] == "no data"
    md = (out / "report.md").read_text()
    assert "1 run(s) diverged: cosine seed 0 (after 2 epochs)" in md
    assert (
        "2 run(s) failed: cosine seed 1 (after 2 epochs) and step seed 0 (after 0 epochs) "
        "(error: boom [1x]; OOM [1x])"
    ) in md
    assert "1 run(s) are still running: step seed 1 (after 1 epochs)" in md
    assert "p: target given: 0.86" in md
    assert (
        "test accuracy, test loss, test macro-F1 and test ECE vs constant "
        "(no finished pairs with this metric)"
    ) in md
    assert "test loss, test macro-F1 and test ECE vs cosine (only 2 paired seed(s))" in md
    assert "could not be drawn" not in md
    evals = (out / "eval_summaries.txt").read_text().splitlines()
    # No test metrics: the last validation epoch stands in.
    constant = ast.literal_eval(
        next(x for x in evals if "/ constant / seed 0" in x).split(": ", 1)[1]
    )
    assert constant["eval_accuracy"] == 0.88 and constant["eval_samples_per_second"] == 800.0
    assert "p / step / seed 0 [failed]: {'epoch': 0.0}" in evals


def test_schedule_options_become_separate_arms(tmp_path):
    with Store(tmp_path) as store:
        for seed in (0, 1, 2):
            add_run(store, "p", "uncertainty", seed, final=0.9, options={"reference": "absolute"})
            add_run(store, "p", "uncertainty", seed, final=0.92, options={"reference": "min"})
            add_run(store, "p", "cosine", seed, final=0.85)
    summary = summarise(load_study(tmp_path))
    ps = summary.problems["p"]
    assert ps.uncertainty_arms == [
        "uncertainty (reference=absolute)",
        "uncertainty (reference=min)",
    ]
    assert ps.baseline_arms == ["cosine"]
    assert len(summary.comparisons) == 2 * 5


def test_schedule_labels_with_options_count_as_the_uncertainty_schedule(tmp_path):
    # The training loop stores schedule labels like 'uncertainty:reference=min'.
    with Store(tmp_path) as store:
        for seed in (0, 1, 2):
            add_run(store, "p", "uncertainty:reference=min", seed, final=0.9)
            add_run(store, "p", "uncertainty:reference=absolute", seed, final=0.9)
            add_run(store, "p", "cosine", seed, final=0.85)
    study = load_study(tmp_path)
    every = summarise(study).problems["p"]
    assert every.uncertainty_arms == ["uncertainty:reference=min", "uncertainty:reference=absolute"]
    one = summarise(study, uncertainty_schedule="uncertainty:reference=min").problems["p"]
    assert one.uncertainty_arms == ["uncertainty:reference=min"]
    # the other uncertainty variant is shown but is no baseline
    assert one.baseline_arms == ["cosine"]
    assert "uncertainty:reference=absolute" in one.arms


def test_empty_store_and_bad_arguments(tmp_path):
    Store(tmp_path / "empty").close()
    out = write_report(tmp_path / "empty", tmp_path / "out")
    assert "The store holds no runs" in (out / "report.md").read_text()
    with pytest.raises(ValueError, match="no results store"):
        write_report(tmp_path / "missing")
    with pytest.raises(ValueError, match=r"target must be a validation accuracy in \(0, 1\]"):
        write_report(tmp_path / "empty", target=97)
    with pytest.raises(ValueError, match="target_fraction must be a number in"):
        write_report(tmp_path / "empty", target_fraction=1.5)
    with pytest.raises(ValueError, match="uncertainty_schedule must be"):
        write_report(tmp_path / "empty", uncertainty_schedule="")


def test_report_package_does_not_import_torch():
    code = "import sys, uncertainty_lr.report; print('torch' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_schedules_filter_reports_only_those_arms(tmp_path):
    with Store(tmp_path) as store:
        for seed in (0, 1, 2):
            add_run(store, "p", "uncertainty:mode=band", seed, final=0.9)
            add_run(store, "p", "uncertainty", seed, final=0.9)
            add_run(store, "p", "cosine", seed, final=0.85)
    out = write_report(tmp_path, tmp_path / "out", schedules=["uncertainty", "cosine"])
    text = (out / "final_metrics.csv").read_text()
    assert "cosine" in text and "mode=band" not in text
    with pytest.raises(ValueError, match="no runs with schedule"):
        write_report(tmp_path, tmp_path / "out2", schedules=["onecycle"])


def test_schedules_and_uncertainty_labels_match_in_any_option_order(tmp_path):
    # The store labels a schedule with its options sorted; a label typed as in a config file
    # ("trigger=..., signal=...") names the same runs.
    with Store(tmp_path) as store:
        for seed in (0, 1, 2):
            add_run(store, "p", "uncertainty:mode=anneal,signal=s,trigger=t", seed, final=0.9)
            add_run(store, "p", "cosine", seed, final=0.85)
    spec = "uncertainty:trigger=t,mode=anneal,signal=s"
    out = write_report(tmp_path, tmp_path / "out", schedules=[spec, "cosine"],
                       uncertainty_schedule=spec)  # fmt: skip
    text = (out / "final_metrics.csv").read_text()
    assert "uncertainty:mode=anneal,signal=s,trigger=t" in text and "cosine" in text
    with pytest.raises(ValueError, match="must look like KEY=VALUE"):
        write_report(tmp_path, tmp_path / "out2", schedules=["uncertainty:mode"])

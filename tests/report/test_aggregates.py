"""Diverged runs in the comparison, divergence rates, rliable aggregates and the AlgoPerf
score in the written report, on synthetic stores and one forced divergence of a real run."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps
from testkit import read_csv

from uncertainty_lr.experiments.store import Store
from uncertainty_lr.report import load_study, summarise, write_report
from uncertainty_lr.report.aggregates import across_matrix, profile_times
from uncertainty_lr.report.summary import accuracy_by_seed
from uncertainty_lr.stats import algoperf_score, iqm_ci

rly_metrics = pytest.importorskip("rliable.metrics")

EPOCHS = 5
SEEDS = (0, 1, 2, 3, 4)


def add_run(store: Store, problem: str, schedule: str, seed: int, final: float, status="done"):
    """A run whose val accuracy climbs to ``final``; a diverged one stops after 2 epochs."""
    config = {"epochs": EPOCHS, "seed": seed, "schedule": schedule, "num_classes": 10}
    run_id = Store.run_id(problem, schedule, seed, config)
    store.start_run(run_id, problem=problem, schedule=schedule, seed=seed, config=config)
    stop = 2 if status == "diverged" else EPOCHS
    for e in range(1, stop + 1):
        acc = 0.5 + (final - 0.5) * e / EPOCHS
        store.log_epoch(run_id, e, {"val_accuracy": acc, "val_loss": 1 - acc, "lr": 0.1,
                                    "wall_time": float(e)})  # fmt: skip
    test = None
    if status == "done":
        test = {"accuracy": final, "loss": 1 - final, "f1": final, "ece": 0.05}
    store.finish_run(run_id, status, test=test)


# Test accuracy per seed; None = the run diverged (uncertainty blows up on 2 of 5 seeds).
ACC = {
    "uncertainty": (0.95, None, 0.96, None, 0.94),
    "constant": (0.90, 0.91, 0.89, 0.92, 0.90),
}


def diverging_store(path: Path, problems=("p",)) -> Path:
    with Store(path) as store:
        for problem in problems:
            for schedule, values in ACC.items():
                for seed, value in zip(SEEDS, values, strict=True):
                    status = "diverged" if value is None else "done"
                    add_run(store, problem, schedule, seed, value or 0.0, status)
    return path


def test_diverged_runs_count_as_losses_and_never_reaching_the_target(tmp_path):
    study = load_study(diverging_store(tmp_path))
    summary = summarise(study, target=0.85)
    ps = summary.problems["p"]
    assert ps.chance_accuracy == 0.1  # 1/C for the 10 classes its runs recorded
    assert ps.divergence == {"uncertainty": (2, 5), "constant": (0, 5)}
    times = ps.epochs_to_target["uncertainty"]
    assert math.isinf(times[1]) and math.isinf(times[3]) and times[0] == 4.0
    by_metric = {c.metric.key: c for c in summary.comparisons}
    accuracy = by_metric["test_accuracy"].result
    a = np.array([0.95, 0.1, 0.96, 0.1, 0.94])
    assert accuracy.n == 5  # judged on all five seeds, not on its three survivors
    assert accuracy.mean_a == pytest.approx(a.mean())
    assert accuracy.t_p == pytest.approx(sps.ttest_rel(a, ACC["constant"]).pvalue)
    assert (
        "2 diverged runs (A: 2, B: 0) count at chance accuracy 1/10"
        in (by_metric["test_accuracy"].notes[0])
    )
    assert by_metric["test_loss"].result.n == 3  # diverged runs have no loss: dropped, said so
    for key, label in (("test_loss", "test loss"), ("test_f1", "test macro-F1"),
                       ("test_ece", "test ECE")):  # fmt: skip
        assert by_metric[key].notes == [
            f"drops 2 diverged runs (A: 2, B: 0): a diverged run has no {label}"
        ]
    censored = by_metric["epochs_to_target"].result
    assert censored.n == 5 and censored.n_censored_a == 2
    assert by_metric["epochs_to_target"].notes == [
        "2 diverged runs (A: 2, B: 0) never reached the target"
    ]
    (d,) = summary.divergence
    assert (d.test.rate_a, d.test.rate_b) == (0.4, 0.0)
    assert d.test.p == pytest.approx(sps.fisher_exact([[2, 3], [0, 5]])[1])


def test_report_tables_of_divergence_iqm_improvement_and_score(tmp_path):
    store = diverging_store(tmp_path, problems=("p", "q"))
    out = write_report(store, target=0.85)
    study = load_study(store)
    summary = summarise(study, target=0.85)
    divergence = read_csv(out / "divergence.csv")
    row = next(r for r in divergence if r["problem"] == "p" and r["schedule"] == "uncertainty")
    assert row["diverged / runs"] == "2 / 5" and row["divergence rate"] == "0.40"
    assert float(row["Fisher exact p"]) == pytest.approx(
        sps.fisher_exact([[2, 3], [0, 5]])[1], abs=1e-4
    )
    iqm_rows = {(r["problem"], r["schedule"]): r for r in read_csv(out / "iqm.csv")}
    ps = summary.problems["p"]
    want = iqm_ci(accuracy_by_seed(study, ps, "uncertainty"))
    got = iqm_rows[("p", "uncertainty")]
    assert (float(got["iqm"]), float(got["ci_low"]), float(got["ci_high"])) == pytest.approx(want)
    assert float(got["iqm"]) == pytest.approx(rly_metrics.aggregate_iqm(
        np.array([0.95, 0.1, 0.96, 0.1, 0.94])))  # fmt: skip
    matrix, seeds = across_matrix(study, summary, "uncertainty")
    assert matrix.shape == (5, 2) and seeds == list(SEEDS)
    # normalised per problem: 0 = chance (0.1), 1 = the best arm's mean (constant's 0.904)
    raw_acc = np.array([0.95, 0.1, 0.96, 0.1, 0.94])
    np.testing.assert_allclose(matrix[:, 0], (raw_acc - 0.1) / (0.904 - 0.1))
    across = iqm_rows[("all problems", "uncertainty")]
    assert float(across["iqm"]) == pytest.approx(rly_metrics.aggregate_iqm(matrix))
    poi = {
        (r["problem"], r["x"], r["y"]): r for r in read_csv(out / "probability_of_improvement.csv")
    }
    y = across_matrix(study, summary, "constant")[0]
    for key, x_scores, y_scores in (
        (("p", "uncertainty", "constant"), matrix[:, :1], y[:, :1]),
        (("all problems", "uncertainty", "constant"), matrix, y),
    ):
        got = float(poi[key]["p_improvement"])
        assert got == pytest.approx(rly_metrics.probability_of_improvement(x_scores, y_scores))
    scores = {r["schedule"]: r for r in read_csv(out / "algoperf_score.csv")}
    want_scores = algoperf_score(profile_times(summary)[0])
    assert float(scores["constant"]["algoperf_score"]) == pytest.approx(want_scores["constant"])
    # medians: uncertainty (4, inf, 4, inf, 4) -> 4 epochs, constant 5 -> ratio 1.25
    assert want_scores == pytest.approx({"uncertainty": 1.0, "constant": (4 - 1.25) / 3})
    md = (out / "report.md").read_text()
    assert "win rate" in md and "P(A better)" not in md
    assert "at chance accuracy (1/C)" in md


def test_forced_divergence_of_a_real_run(tmp_path):
    """A digits run at an absurd LR diverges; the report counts it, it does not drop it."""
    from uncertainty_lr.cli import main

    common = ["--problem", "digits_mlp", "--optimizer", "sgd", "--seeds", "0", "1", "2",
              "--epochs", "3", "--train-size", "300", "--batch-size", "32", "--threads", "1",
              "--quiet", "--no-report", "--out", str(tmp_path)]  # fmt: skip
    # lr 10 still trains to a finite (if useless) loss on digits; 1e8 overflows in epoch 1.
    assert main(["run", "--schedule", "uncertainty", "--lr", "1e8", *common]) == 0
    assert main(["run", "--schedule", "constant", "--lr", "0.05", *common]) == 0
    out = write_report(tmp_path)
    rows = {(r["schedule"], r["vs baseline"]): r for r in read_csv(out / "divergence.csv")}
    assert rows[("uncertainty", "constant")]["diverged / runs"] == "3 / 3"
    assert rows[("uncertainty", "constant")]["baseline rate"] == "0.00"
    assert float(rows[("uncertainty", "constant")]["Fisher exact p"]) == pytest.approx(
        sps.fisher_exact([[3, 0], [0, 3]])[1], abs=1e-4
    )
    ab = {r["metric"]: r for r in read_csv(out / "ab_tests.csv")}
    assert ab["test accuracy"]["n"] == "3"
    assert float(ab["test accuracy"]["mean_diff"]) < 0  # every diverged seed is a loss or tie
    assert ab["epochs to target"]["n"] == "3"


def test_a_baseline_that_diverges_is_not_ranked_on_its_survivors(tmp_path):
    finals = {"uncertainty": (0.92,) * 5, "constant": (0.90,) * 5,
              "cosine": (0.95, None, 0.95, None, 0.95)}  # fmt: skip
    with Store(tmp_path) as store:
        for schedule, values in finals.items():
            for seed, value in zip(SEEDS, values, strict=True):
                add_run(store, "p", schedule, seed, value or 0.0,
                        "diverged" if value is None else "done")  # fmt: skip
    out = write_report(tmp_path, target=0.85)
    md = (out / "report.md").read_text()
    # cosine's survivors average 0.95, but with its 2 diverged seeds at chance (0.1) it is 0.61
    assert "Among the 2 baselines, constant has the highest mean test accuracy (0.9000)" in md
    (verdict,) = read_csv(out / "verdict.csv")
    assert verdict["best schedule (mean test acc)"] == "uncertainty (0.9200)"
    assert verdict["its rank"] == "1 of 3"

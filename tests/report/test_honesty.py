"""Honest numbers in the report: diverged runs at chance accuracy, the non-inferiority test,
across-problem aggregates on normalised scores, and what too few seeds or ties may claim.
Every expected number is recomputed here with scipy, rliable or by hand."""

from __future__ import annotations

import re

import numpy as np
import pytest
from scipy import stats as sps
from testkit import read_csv

from uncertainty_lr.experiments.store import Store
from uncertainty_lr.report import write_report
from uncertainty_lr.stats import iqm

rly_metrics = pytest.importorskip("rliable.metrics")


def put(store: Store, problem: str, schedule: str, seed: int, final: float | None, *,
        epochs: int = 4, classes: int | None = 10) -> None:  # fmt: skip
    """One run whose validation accuracy climbs to ``final``; None = it diverged in epoch 2.
    ``classes`` None writes a run as older versions did, without its class count."""
    config = {"problem": problem, "schedule": schedule, "schedule_options": {}, "seed": seed,
              "epochs": epochs, "test_every_epoch": True}  # fmt: skip
    if classes is not None:
        config["num_classes"] = classes
    run_id = Store.run_id(problem, schedule, seed, config)
    store.start_run(run_id, problem=problem, schedule=schedule, seed=seed, config=config)
    last = 2 if final is None else epochs
    for e in range(1, last + 1):
        acc = 0.5 + ((final or 0.6) - 0.5) * e / epochs
        diverged = final is None and e == last
        store.log_epoch(run_id, e, {
            "val_accuracy": None if diverged else acc, "val_loss": None if diverged else 1 - acc,
            "train_loss": float("nan") if diverged else 1 - acc, "lr": 0.1, "wall_time": float(e),
            **({} if final is None or e < epochs else {"test_accuracy": final}),
        })  # fmt: skip
    status = "diverged" if final is None else "done"
    test = (
        None if final is None else {"accuracy": final, "loss": 1 - final, "f1": final, "ece": 0.05}
    )
    store.finish_run(run_id, status, test=test)


def test_two_of_four_diverged_runs_fail_the_anytime_goal_check(tmp_path):
    # Written as older versions wrote runs (no class count): chance comes from the problem
    # registry, 1/10 for digits. Counted at the lowest finished accuracy instead, the two
    # blow-ups read as "within noise" of cosine.
    finals = {"uncertainty": (0.95, None, 0.96, None), "cosine": (0.95, 0.955, 0.96, 0.952)}
    with Store(tmp_path) as store:
        for schedule, values in finals.items():
            for seed, final in enumerate(values):
                put(store, "digits_mlp", schedule, seed, final, classes=None)
    out = write_report(tmp_path, budgets=[4])
    a = np.array([0.95, 0.1, 0.96, 0.1])
    b = np.array(finals["cosine"])
    (goal,) = read_csv(out / "anytime_goal.csv")
    want = sps.ttest_1samp(a - b, -0.005, alternative="greater")
    assert float(goal["lower_bound"]) == pytest.approx(want.confidence_interval(0.95).low)
    assert float(goal["p"]) == pytest.approx(want.pvalue) and goal["non_inferior"] == "no"
    assert float(goal["mean_diff"]) == pytest.approx((a - b).mean())
    summary = {r["schedule"]: r for r in read_csv(out / "anytime_summary.csv")}
    unc = summary["uncertainty"]
    assert (unc["n_4"], unc["diverged_4"]) == ("4", "2")
    assert float(unc["mean_4"]) == pytest.approx(a.mean())
    (row,) = [r for r in read_csv(out / "divergence_4ep.csv") if r["schedule"] == "uncertainty"]
    assert row["diverged / runs"] == "2 / 4" and row["vs baseline"] == "cosine"
    assert float(row["Fisher exact p"]) == pytest.approx(
        sps.fisher_exact([[2, 2], [0, 4]])[1], abs=1e-4
    )
    (verdict,) = read_csv(out / "verdict_4ep.csv")
    assert verdict[next(k for k in verdict if k.startswith("as good as"))].startswith("no: ")
    md = (out / "report.md").read_text()
    assert "Divergence rates (4 epochs)" in md and "2 diverged at chance" in md
    final = {r["schedule"]: r for r in read_csv(out / "final_metrics_4ep.csv")}
    assert float(final["uncertainty"]["test_accuracy_mean"]) == pytest.approx(a.mean())
    assert "test loss, macro-F1, ECE and val entropy drop them (2 diverged" in md


def test_non_inferiority_column_matches_scipy_and_follows_the_margin(tmp_path):
    finals = {"uncertainty": (0.901, 0.903, 0.899, 0.904, 0.902),
              "cosine": (0.900, 0.902, 0.900, 0.903, 0.900)}  # fmt: skip
    with Store(tmp_path) as store:
        for schedule, values in finals.items():
            for seed, final in enumerate(values):
                put(store, "p", schedule, seed, final)
    d = np.subtract(finals["uncertainty"], finals["cosine"])
    for margin in (0.005, 0.0):
        out = write_report(tmp_path, margin=margin, out_dir=tmp_path / f"report_{margin}")
        ab = {r["metric"]: r for r in read_csv(out / "ab_tests.csv")}
        row = ab["test accuracy"]
        want = sps.ttest_1samp(d, -margin, alternative="greater")
        assert float(row["non_inferiority_lower"]) == pytest.approx(
            want.confidence_interval(0.95).low
        )
        assert float(row["non_inferiority_p"]) == pytest.approx(want.pvalue)
        holds = want.confidence_interval(0.95).low > -margin
        assert row["non_inferior"] == ("yes" if holds else "no")
        assert ab["test loss"]["non_inferior"] == "n/a"  # the margin is in accuracy
        (verdict,) = read_csv(out / "verdict.csv")
        column = f"as good as the best baseline (non-inferiority, margin {margin:g})"
        assert verdict[column].startswith("yes: " if holds else "no: ")
    assert row["non_inferior"] == "no"  # margin 0: the bound -0.0004 is not above 0
    with pytest.raises(ValueError, match="margin must be >= 0"):
        write_report(tmp_path, margin=-0.01)


def test_report_margin_flag(tmp_path, capsys):
    from uncertainty_lr.cli import main

    with Store(tmp_path) as store:
        for seed, (a, b) in enumerate(((0.90, 0.91), (0.92, 0.91), (0.93, 0.90))):
            put(store, "p", "uncertainty", seed, a)
            put(store, "p", "cosine", seed, b)
    assert main(["report", str(tmp_path), "--margin", "0.02"]) == 0
    (verdict,) = read_csv(tmp_path / "report" / "verdict.csv")
    assert "as good as the best baseline (non-inferiority, margin 0.02)" in verdict
    assert main(["report", str(tmp_path), "--margin", "-1"]) == 2
    assert "margin must be >= 0 (in the metric's units), got -1" in capsys.readouterr().err


def test_across_problems_ranks_on_normalised_scores_not_pooled_accuracy(tmp_path):
    # Three problems on three scales. Pooled raw accuracies put the uncertainty arm first
    # (its one big win on the middle-scale problem survives the trim); normalised per
    # problem (0 = chance, 1 = best arm) it is second; per problem it ranks 3, 3, 1.
    means = {"easy": ({"uncertainty": 0.970, "a": 0.985, "b": 0.980}, 10),
             "hard": ({"uncertainty": 0.560, "a": 0.600, "b": 0.590}, 2),
             "mid": ({"uncertainty": 0.760, "a": 0.700, "b": 0.705}, 2)}  # fmt: skip
    noise = (-0.001, 0.0, 0.001)
    with Store(tmp_path) as store:
        for problem, (arms, classes) in means.items():
            for arm, mean in arms.items():
                for seed, e in enumerate(noise):
                    put(store, problem, arm, seed, mean + e, classes=classes)
    out = write_report(tmp_path)
    raw_of = {arm: np.array([[means[p][0][arm] + e for p in means] for e in noise])
              for arm in ("uncertainty", "a", "b")}  # fmt: skip
    assert max(raw_of, key=lambda arm: iqm(raw_of[arm])) == "uncertainty"  # the old rank
    norm_of = {}
    for arm, raw in raw_of.items():
        low = np.array([1 / means[p][1] for p in means])
        high = np.array([max(means[p][0].values()) for p in means])
        norm_of[arm] = (raw - low) / (high - low)
    rows = {(r["problem"], r["schedule"]): r for r in read_csv(out / "iqm.csv")}
    for arm, norm in norm_of.items():
        got = float(rows[("all problems", arm)]["iqm"])
        assert got == pytest.approx(rly_metrics.aggregate_iqm(norm))
    order = sorted(norm_of, key=lambda arm: -iqm(norm_of[arm]))
    assert order == ["a", "uncertainty", "b"]
    verdict = {r["problem"]: r for r in read_csv(out / "verdict.csv")}
    assert verdict["all problems"]["its rank"] == "2 of 3 (per problem: 3, 3, 1)"
    poi = {(r["problem"], r["y"]): r for r in read_csv(out / "probability_of_improvement.csv")}
    across = poi[("all problems", "a")]
    assert float(across["p_improvement"]) == pytest.approx(
        rly_metrics.probability_of_improvement(norm_of["uncertainty"], norm_of["a"])
    )
    assert 0 < float(across["permutation_p"]) <= 1


def test_fewer_than_three_seeds_say_nothing_can_be_tested(tmp_path):
    with Store(tmp_path) as store:
        for schedule, values in {"uncertainty": (0.91, 0.93), "cosine": (0.90, 0.90)}.items():
            for seed, final in enumerate(values):
                put(store, "p", schedule, seed, final)
    out = write_report(tmp_path)
    (verdict,) = read_csv(out / "verdict.csv")
    assert verdict["verdict"] == "not tested: 2 paired seeds, and a test needs at least 3"
    column = next(k for k in verdict if k.startswith("as good as"))
    assert verdict[column] == "not tested: 2 paired seeds, and a test needs at least 3"
    md = (out / "report.md").read_text()
    assert "not tested, not tested" not in md
    assert "(not tested: 2 paired seeds, and a test needs at least 3)." in md
    assert "(non-inferiority): not tested, 2 paired seeds, and a test needs at least 3." in md


def test_tied_arms_share_a_rank_and_the_sentence_counts_every_test(tmp_path):
    finals = {"uncertainty": (0.91, 0.92, 0.93), "constant": (0.93, 0.91, 0.92),
              "cosine": (0.85, 0.86, 0.84)}  # fmt: skip
    with Store(tmp_path) as store:
        for schedule, values in finals.items():
            for seed, final in enumerate(values):
                put(store, "p", schedule, seed, final)
    out = write_report(tmp_path)
    (verdict,) = read_csv(out / "verdict.csv")
    assert verdict["its rank"] == "1 of 3 (tied)"  # same mean as constant: no order between them
    md = (out / "report.md").read_text()
    found = re.search(r"Of its (\d+) A/B tests here \(matrix below\), (\d+) significantly "
                      r"better, (\d+) significantly worse, (\d+) with no detectable difference "
                      r"and (\d+) not tested", md)  # fmt: skip
    assert found, md[:3000]
    total, *parts = map(int, found.groups())
    assert total == 10 and sum(parts) == total and parts[3] > 0  # ECE: no variance, untested

"""The anytime comparison end to end on digits: the study TOMLs at tiny budgets (2 and 4
epochs; the store is conftest.py's), then ``report --budgets 2 4``; scores checked against
the store's own numbers."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from uncertainty_lr.cli import main
from uncertainty_lr.experiments.config import load_toml
from uncertainty_lr.experiments.store import Store
from uncertainty_lr.report.budgets import budget_kind
from uncertainty_lr.report.load import load_study
from uncertainty_lr.stats import holm

from .conftest import AWARE

STUDY = Path(__file__).resolve().parents[2] / "docs" / "study"


def _number(cell: str) -> float | None:
    """A p-value cell; the words the report writes where no test ran read as None."""
    try:
        return float(cell)
    except ValueError:
        return None


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_study_tomls_split_the_arms_by_whether_they_know_the_budget():
    free, aware = load_toml(STUDY / "anytime_free.toml"), load_toml(STUDY / "anytime_aware.toml")
    assert free["test_every_epoch"] is True and free["epochs"] == 18
    assert {budget_kind(s.split(":")[0]) for s in free["schedules"]} == {"budget-free"}
    assert {budget_kind(s.split(":")[0]) for s in aware["schedules"]} == {"budget-aware"}
    assert {"prodigy", "schedule_free"} <= set(free["schedules"])
    assert any(s.startswith("uncertainty:mode=anneal") for s in free["schedules"])
    assert {"linear", "wsd", "cosine", "onecycle", "warmup_cosine"} == set(aware["schedules"])
    same = ("problems", "seeds", "train_size", "val_size", "test_size", "max_length")
    assert all(free[k] == aware[k] for k in same)  # paired seeds across the two files


@pytest.fixture
def store(digits_anytime):
    """The shared digits store (conftest.py): budget-free arms at 4 epochs, budget-aware
    arms at 2 and 4."""
    return digits_anytime


def test_report_scores_each_arm_at_each_budget(store):
    assert main(["report", str(store), "--budgets", "2", "4"]) == 0
    report = store / "report"
    for budget in (2, 4):
        for name in ("verdict", "final_metrics", "ab_tests", "algoperf_score"):
            assert (report / f"{name}_{budget}ep.csv").is_file(), (name, budget)
    md = (report / "report.md").read_text(encoding="utf-8")
    assert "Budget: 2 epochs" in md and "Budget: 4 epochs" in md
    assert "Where the uncertainty schedule stands (2 epochs)" in md
    assert "AlgoPerf score (4 epochs)" in md and "own Holm family" in md

    runs = Store(store, create=False).runs()
    epochs = Store(store, create=False).epochs()
    rows = {row["schedule"]: row for row in _csv(report / "anytime_summary.csv")}
    assert rows["constant"]["kind"] == "budget-free" and rows["linear"]["kind"] == "budget-aware"
    for arm in ("constant", "prodigy", "uncertainty"):
        # budget-free at 2 epochs: the test accuracy logged at epoch 2 of the 4-epoch runs
        ids = {r["run_id"] for r in runs if r["schedule"] == arm}
        at2 = [e["test_accuracy"] for e in epochs if e["run_id"] in ids and e["epoch"] == 2]
        assert len(at2) == 3
        assert float(rows[arm]["mean_2"]) == pytest.approx(np.mean(at2), abs=1e-12)
        final = [r["test"]["test_accuracy"] for r in runs if r["run_id"] in ids]
        assert float(rows[arm]["mean_4"]) == pytest.approx(np.mean(final), abs=1e-12)
    for arm in ("cosine", "linear"):
        for budget in (2, 4):  # budget-aware: the run told that budget
            final = [r["test"]["test_accuracy"] for r in runs
                     if r["schedule"] == arm and r["config"]["epochs"] == budget]  # fmt: skip
            assert len(final) == 3
            assert float(rows[arm][f"mean_{budget}"]) == pytest.approx(np.mean(final), abs=1e-12)
    assert rows["cosine"]["mean_2"] != rows["cosine"]["mean_4"]


def test_each_budget_is_its_own_holm_family(store):
    assert main(["report", str(store), "--budgets", "2", "4"]) == 0
    for budget in (2, 4):
        ab = _csv(store / "report" / f"ab_tests_{budget}ep.csv")
        assert {row["baseline"] for row in ab} == {"constant", "prodigy", *AWARE}
        # "no diff" / "zero var": the default arm may not anneal on digits in 4 epochs
        raw = [_number(row["t-test p"]) for row in ab]
        want = holm(raw)
        got = [_number(row["Holm p (t-test)"]) for row in ab]
        assert got == pytest.approx(want)


def test_bad_budgets_exit_2_and_write_nothing(store, capsys):
    def listing():
        return sorted((str(p), p.stat().st_mtime_ns) for p in store.rglob("*"))

    before = listing()
    for bad in (["0"], ["2", "-4"]):
        assert main(["report", str(store), "--budgets", *bad]) == 2
    err = capsys.readouterr().err
    assert "budgets must be positive integers (epochs), got 0" in err
    assert "got -4" in err
    assert listing() == before


def test_goal_table_checks_the_default_against_the_best_budget_aware_arm(store):
    from scipy import stats as sps

    assert main(["report", str(store), "--budgets", "2", "4"]) == 0
    runs = Store(store, create=False).runs()
    rows = _csv(store / "report" / "anytime_goal.csv")
    goal = {row["budget"]: row for row in rows if row["uncertainty"] == "uncertainty"}
    assert set(goal) == {"2", "4"}
    # at 4 epochs every arm's run is its own: the uncertainty and the budget-aware runs
    acc = {}
    for r in runs:
        if r["config"]["epochs"] == 4:
            acc.setdefault(r["schedule"], {})[r["seed"]] = r["test"]["test_accuracy"]
    best = max(AWARE, key=lambda arm: np.mean(list(acc[arm].values())))
    row = goal["4"]
    assert row["best_budget_aware"] == best
    a = [acc["uncertainty"][s] for s in (0, 1, 2)]
    b = [acc[best][s] for s in (0, 1, 2)]
    # the goal check is non-inferiority: the one-sided 95% lower bound above -0.005
    test = sps.ttest_1samp(np.subtract(a, b), -0.005, alternative="greater")
    assert float(row["lower_bound"]) == pytest.approx(test.confidence_interval(0.95).low)
    assert float(row["p"]) == pytest.approx(test.pvalue) and row["margin"] == "0.005"
    assert row["non_inferior"] == ("yes" if test.confidence_interval(0.95).low > -0.005 else "no")
    score = _csv(store / "report" / "anytime_goal_score.csv")
    assert [r["budget (epochs)"] for r in score] == ["2", "2", "4", "4"]  # 2 uncertainty arms


def test_a_report_over_several_folders_equals_the_report_of_one(store, tmp_path, capsys):
    """Budget-aware arms at budget 2 in a folder of their own (with tuning runs, left out):
    ``report A --also B`` scores every arm as the report of the one folder holding them all."""
    from .conftest import BUDGETS, FREE, TINY

    main_dir, extra = tmp_path / "free_and_4", tmp_path / "aware_2"
    free = ["--config", STUDY / "anytime_free.toml", "--schedules", *FREE, "--epochs", max(BUDGETS)]
    aware = ["--config", STUDY / "anytime_aware.toml", "--schedules", *AWARE]
    for args in ([*free, "--out", main_dir], [*aware, "--epochs", 4, "--out", main_dir],
                 [*aware, "--epochs", 2, "--out", extra]):  # fmt: skip
        assert main([str(a) for a in ["run", *args, *TINY]]) == 0
    tune = ["tune", "--problem", "digits_mlp", "--schedules", "cosine", "--seeds", "100",
            "--lrs", "0.01", "0.1", "--epochs", "2", "--train-size", "300", "--val-size", "100",
            "--test-size", "200", "--quiet", "--no-report", "--out", extra]  # fmt: skip
    assert main([str(a) for a in tune]) == 0
    study = load_study(main_dir, by_budget=True, also=[extra])
    assert len(study.runs) == len(Store(store, create=False).runs())
    assert f"12 runs added from {extra} (its 2 tuning runs left out)" in study.notes

    whole, split = tmp_path / "whole", tmp_path / "split"
    assert main(["report", str(store), "--budgets", "2", "4", "--out", str(whole)]) == 0
    assert main(["report", str(main_dir), "--also", str(extra), "--budgets", "2", "4",
                 "--out", str(split)]) == 0  # fmt: skip
    for name in ("anytime_goal.csv", "final_metrics_2ep.csv", "ab_tests_4ep.csv"):
        assert _csv(split / name) == _csv(whole / name), name
    capsys.readouterr()
    assert main(["report", str(main_dir), "--also", str(tmp_path / "none"), "--budgets", "2",
                 "--out", str(tmp_path / "refused")]) == 2  # fmt: skip
    assert str(tmp_path / "none") in capsys.readouterr().err
    assert not (tmp_path / "refused").exists()

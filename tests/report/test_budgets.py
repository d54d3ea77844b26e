"""at_budget: the anytime view of a study, on hand-made runs (no store, no torch)."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from uncertainty_lr.report.budgets import (
    BUDGET_AWARE,
    BUDGET_FREE,
    at_budget,
    budget_kind,
    check_budgets,
    truncate,
)
from uncertainty_lr.report.load import RunData, Study


def run(schedule, epochs, seed=0, status="done", test_every=True, diverged_at=None):
    """A run of ``epochs`` epochs whose test accuracy at epoch e is 0.5 + e / 100."""
    e = np.arange(1, epochs + 1)
    curves = {
        "val_loss": 1.0 / e,
        "val_accuracy": 0.4 + e / 100,
        "wall_time": 10.0 * e,
    }
    if test_every:
        curves.update(test_accuracy=0.5 + e / 100, test_loss=2.0 / e)
    if diverged_at is not None:
        e = e[:diverged_at]
        curves = {k: v[:diverged_at].copy() for k, v in curves.items()}
        curves["val_loss"][-1] = np.nan
        status = "diverged"
    final = 0.5 + epochs / 100 if status == "done" else None
    return RunData(
        run_id=f"{schedule}-{epochs}-{seed}", name="", problem="p", schedule=schedule,
        base_schedule=schedule, arm=schedule, seed=seed, status=status, error=None,
        epochs_done=int(e.size), config={"epochs": epochs, "schedule": schedule}, hardware={},
        version="", git_sha="", wall_time=10.0 * e.size,
        test={"test_accuracy": final, "test_loss": None, "test_f1": None, "test_ece": None},
        test_extra={}, epochs=e, curves=curves,
    )  # fmt: skip


def study(*runs):
    return Study(store_dir=Path("."), runs=list(runs))


def test_registry_says_which_arm_knows_the_budget():
    assert budget_kind("cosine") == budget_kind("wsd") == "budget-aware"
    assert budget_kind("prodigy") == budget_kind("uncertainty") == "budget-free"
    assert budget_kind("not-a-schedule") == "budget-aware"


def test_budget_aware_arms_use_their_run_with_that_budget():
    s = study(run("cosine", 2), run("cosine", 4), run("cosine", 4, seed=1))
    view = at_budget(s, 2)
    assert [(r.run_id, r.config["epochs"]) for r in view.runs] == [("cosine-2-0", 2)]
    assert len(at_budget(s, 4).runs) == 2 and at_budget(s, 3).runs == []


def test_budget_free_arms_are_their_longest_run_cut_at_the_budget():
    s = study(run("constant", 2), run("constant", 6), run("cosine", 2))
    (cos, const) = sorted(at_budget(s, 2).runs, key=lambda r: r.schedule)[::-1]
    assert const.run_id == "constant-6-0"  # the longest run, not the 2-epoch one
    assert const.epochs.tolist() == [1, 2] and const.curves["val_loss"].tolist() == [1.0, 0.5]
    assert const.test["test_accuracy"] == pytest.approx(0.52)  # epoch 2's, not epoch 6's
    assert const.test["test_loss"] == pytest.approx(1.0)
    assert const.config["epochs"] == 2 and const.config["truncated_from"] == 6
    assert (const.status, const.epochs_done, const.wall_time) == ("done", 2, 20.0)
    at_six = at_budget(s, 6).runs
    assert [r.schedule for r in at_six] == ["constant"] and at_six[0].test["test_accuracy"] == 0.56


def test_divergence_counts_only_if_it_happened_within_the_budget():
    late = run("plateau", 6, diverged_at=5)
    assert at_budget(study(late), 4).runs[0].status == "done"
    assert at_budget(study(late), 5).runs[0].status == "diverged"
    early = at_budget(study(run("plateau", 6, diverged_at=2)), 4).runs[0]
    assert early.status == "diverged" and early.epochs.tolist() == [1, 2]


def test_a_budget_free_run_without_per_epoch_test_metrics_is_flagged_and_left_out():
    s = study(run("greedy", 6, test_every=False), run("greedy", 6, seed=1))
    view = at_budget(s, 3)
    assert [r.seed for r in view.runs] == [1]
    assert view.notes == [
        "at 3 epochs, 1 run(s) of greedy left out: p / greedy / seed 0: no test metrics at "
        "epoch 3 (run budget-free arms with test_every_epoch = true)"
    ]
    # at its own budget the run's final test is the one at that epoch: it counts
    assert len(at_budget(s, 6).runs) == 2


def test_too_short_runs_are_left_out_with_a_note():
    view, why = truncate(run("constant", 2), 4)
    assert view is None and why == "p / constant / seed 0: given 2 epochs, fewer than the budget 4"
    assert at_budget(study(run("constant", 2)), 4).notes[0].startswith("at 4 epochs, 1 run(s)")


def test_the_original_run_is_not_changed():
    original = run("constant", 6)
    before = dataclasses.replace(original, curves=dict(original.curves))
    at_budget(study(original), 2)
    assert original.epochs.size == 6 and original.config["epochs"] == 6
    assert original.test == before.test


@pytest.mark.parametrize("bad", [[0], [2, -1], [2.5], [True], []])
def test_bad_budgets_are_refused_in_one_line(bad):
    with pytest.raises(ValueError, match=r"^budgets must"):
        check_budgets(bad)
    assert check_budgets([12, 6, 12]) == [6, 12]


def test_setup_table_says_which_arms_are_told_the_budget():
    from uncertainty_lr.report.tables import setup_table

    table = setup_table(study(run("cosine", 2), run("uncertainty", 2), run("wsd", 2)))
    row = next(r for r in table.rows if r[0].startswith("budget-aware"))
    assert row[1] == "aware: cosine, wsd; free: uncertainty"


def test_early_stopping_before_the_budget_is_the_run_itself_after_it_is_left_out():
    stopped = run("constant", 3)  # stopped early after 3 of its 6 epochs
    stopped = dataclasses.replace(stopped, config={"epochs": 6, "early_stopping": 2})
    view, _ = truncate(stopped, 4)
    assert view.test == stopped.test and view.epochs.tolist() == [1, 2, 3]
    assert view.config["epochs"] == 4
    long = dataclasses.replace(run("constant", 6), config={"epochs": 6, "early_stopping": 2})
    view, why = truncate(long, 4)
    assert view is None and "early stopping tests its best epoch" in why


def test_the_uncertainty_arm_with_an_envelope_is_budget_aware():
    assert budget_kind("uncertainty", {"mode": "anneal"}) == BUDGET_FREE
    assert budget_kind("uncertainty", {"envelope": "linear"}) == BUDGET_AWARE
    assert budget_kind("cosine") == BUDGET_AWARE and budget_kind("no_such_arm") == BUDGET_AWARE

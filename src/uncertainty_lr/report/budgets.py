"""The study as it reads at a budget of B epochs: the anytime comparison (no torch).

A budget-aware arm (cosine, one-cycle, linear, wsd, ...) is told T, so it is run once per
budget and scored at B by its runs with ``epochs == B``. A budget-free arm (constant,
plateau, greedy, schedule_free, prodigy, uncertainty) never reads T, so the first B epochs
of its longest run *are* its B-epoch run (``tests/experiments/test_budget_free.py`` checks
this bit for bit): it is scored at B by that run truncated to epochs 1..B, with the test
metrics the loop logged at epoch B (``test_every_epoch = true``). A truncated run without
them is left out of the view, with a note saying so, rather than scored on a later epoch.

Which arm is which comes from the schedule registry's ``budget`` flag; a schedule name the
registry does not know is treated as budget-aware (only its ``epochs == B`` runs count).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict

import numpy as np

from uncertainty_lr.report.load import TEST_KEYS, RunData, Study
from uncertainty_lr.schedulers.registry import SCHEDULES, needs_budget

BUDGET_AWARE, BUDGET_FREE = "budget-aware", "budget-free"


def budget_kind(schedule: str, options: dict | None = None) -> str:
    """'budget-free' for a registry schedule that, with these options, never reads the
    number of epochs, else 'budget-aware' (also for names or options the registry refuses)."""
    if schedule not in SCHEDULES:
        return BUDGET_AWARE
    try:
        return BUDGET_AWARE if needs_budget(schedule, options) else BUDGET_FREE
    except ValueError:
        return BUDGET_AWARE


def run_kind(run: RunData) -> str:
    """budget_kind of a stored run, read from its schedule and options."""
    return budget_kind(run.base_schedule, run.config.get("schedule_options"))


def run_epochs(run: RunData) -> int | None:
    """The epochs the run was given (config 'epochs'), None when it is not a positive int."""
    epochs = run.config.get("epochs")
    ok = isinstance(epochs, int) and not isinstance(epochs, bool) and epochs > 0
    return epochs if ok else None


def check_budgets(budgets) -> list[int]:
    """Sorted distinct budgets; ValueError naming a value that is not a positive integer."""
    out = []
    for budget in budgets:
        if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
            raise ValueError(f"budgets must be positive integers (epochs), got {budget!r}")
        out.append(budget)
    if not out:
        raise ValueError("budgets must name at least one budget (epochs), got none")
    return sorted(set(out))


def truncate(run: RunData, budget: int) -> tuple[RunData | None, str | None]:
    """``run`` (of a budget-free arm) as if it had been given ``budget`` epochs.

    Returns (run at the budget, None), or (None, why) when it cannot stand in: it was
    given fewer epochs, it is finished at the budget but logged no test metrics there, or
    it ran on past the budget under early stopping (whose test is of its best epoch). A
    run that early stopping ended before the budget is its own budget-B run.
    Curves keep epochs 1..budget; test metrics are the ``test_*`` values at that epoch;
    status is 'done' when epoch ``budget`` was trained with a finite validation loss, else
    the run's own (a run that diverged at or before the budget is diverged at it).
    """
    given = run_epochs(run)
    if given is None or given < budget:
        return None, f"{run.label}: given {given} epochs, fewer than the budget {budget}"
    if given == budget:
        return run, None
    logged = int(run.epochs.max()) if run.epochs.size else 0
    if run.status == "done" and logged < budget:
        # stopped early before the budget: a budget-B run would have stopped the same way
        return dataclasses.replace(run, config={**run.config, "epochs": budget,
                                                "truncated_from": given}), None  # fmt: skip
    if run.config.get("early_stopping"):
        return None, (
            f"{run.label}: early stopping tests its best epoch, which a cut at epoch "
            f"{budget} cannot reproduce (run budget-free arms without early stopping)"
        )
    keep = run.epochs <= budget
    epochs = run.epochs[keep]
    curves = {key: values[keep] for key, values in run.curves.items()}
    at = np.flatnonzero(epochs == budget)
    reached = at.size and np.isfinite(curves.get("val_loss", np.array([np.nan]))[at[0]])
    status = "done" if reached else run.status
    test = dict.fromkeys(TEST_KEYS)
    if status == "done":
        for key in TEST_KEYS:
            value = curves.get(key, np.full(epochs.shape, np.nan))[at[0]]
            test[key] = float(value) if np.isfinite(value) else None
        if test["test_accuracy"] is None:
            return None, (
                f"{run.label}: no test metrics at epoch {budget} (run budget-free arms with "
                "test_every_epoch = true)"
            )
    wall = curves.get("wall_time")
    wall_time = float(wall[at[0]]) if at.size and wall is not None else run.wall_time
    config = {**run.config, "epochs": budget, "truncated_from": given}
    return dataclasses.replace(
        run, status=status, epochs_done=int(epochs.size), config=config, wall_time=wall_time,
        test=test, test_extra={}, epochs=epochs, curves=curves,
    ), None  # fmt: skip


def at_budget(study: Study, budget: int) -> Study:
    """The view "at ``budget`` epochs" of a study loaded with ``load_study(by_budget=True)``.

    Budget-aware arms: their runs with ``epochs == budget``. Budget-free arms: per
    (problem, arm, seed) the run with the most epochs, truncated to the budget. One run per
    (problem, arm, seed) comes out, so the paired statistics of ``summarise`` apply as they
    are; ``notes`` says which runs were left out and why.
    """
    longest: dict[tuple, RunData] = {}
    for run in study.runs:
        key = (run.problem, run.arm, run.seed)
        if run_kind(run) == BUDGET_FREE and (
            key not in longest or (run_epochs(run) or 0) > (run_epochs(longest[key]) or 0)
        ):
            longest[key] = run
    runs: list[RunData] = []
    left_out: dict[str, list[str]] = defaultdict(list)
    for run in study.runs:  # store order, as load_study gives it
        if run_kind(run) == BUDGET_AWARE:
            if run_epochs(run) == budget:
                runs.append(run)
        elif longest[(run.problem, run.arm, run.seed)] is run:
            view, why = truncate(run, budget)
            if view is None:
                left_out[run.arm].append(why)
            else:
                runs.append(view)
    notes = list(study.notes)
    for arm, reasons in left_out.items():
        notes.append(f"at {budget} epochs, {len(reasons)} run(s) of {arm} left out: {reasons[0]}")
    return Study(store_dir=study.store_dir, runs=runs, notes=notes)

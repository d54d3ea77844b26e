"""Test accuracy against the budget, per arm and seed: the numbers of the anytime figure.

A budget-free arm is one curve over epochs from its one (longest) run per seed: at epoch e
it reads as ``budgets.truncate`` makes it read at budget e, the test metrics logged at e
(``test_every_epoch``), so the curve at a report budget is the number in its tables. A
budget-aware arm has a point at each budget it ran, from its runs told that budget. A
diverged run counts at chance accuracy (1/C) from the budget it diverged by, as in every
accuracy number of the report. No plotting here (``budget_plots`` draws these).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from uncertainty_lr.report.bands import mean_band, value_range
from uncertainty_lr.report.budgets import BUDGET_FREE, run_epochs, run_kind, truncate
from uncertainty_lr.report.load import RunData, Study
from uncertainty_lr.report.summary import chance_accuracy


@dataclass
class BudgetSeries:
    """One arm of one problem: test accuracy at each budget it can be read at.

    ``budgets``: shape (K,) epochs, ascending (every epoch 1..E for a budget-free arm, the
    budgets it was run with for a budget-aware one). ``values``: shape (seeds, K), NaN where
    a seed has no run or no test accuracy there. ``mean``, ``low``, ``high``: shape (K,), the
    mean over seeds and its 95 % t-interval clipped to [0, 1] (NaN with fewer than 2 seeds).
    """

    problem: str
    arm: str
    kind: str
    budgets: np.ndarray
    values: np.ndarray
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray

    def at(self, budget: int) -> float | None:
        """The mean at ``budget``, None where the arm has none."""
        hit = np.flatnonzero(self.budgets == budget)
        return (
            None if not hit.size or not np.isfinite(self.mean[hit[0]]) else float(self.mean[hit[0]])
        )


def _accuracy(run: RunData | None, chance: float) -> float:
    """A run as one number: its test accuracy when done, chance when diverged, else NaN."""
    if run is None:
        return np.nan
    if run.status == "diverged":
        return chance
    value = run.test.get("test_accuracy") if run.status == "done" else None
    return np.nan if value is None else float(value)


def _free(runs: list[RunData], seeds: list[int], chance: float) -> tuple[np.ndarray, np.ndarray]:
    """(epochs 1..E, values (seeds, E)) of a budget-free arm from its longest run per seed."""
    longest: dict[int, RunData] = {}
    for run in runs:
        if run.seed not in longest or (run_epochs(run) or 0) > (run_epochs(longest[run.seed]) or 0):
            longest[run.seed] = run
    last = max((run_epochs(run) or 0 for run in longest.values()), default=0)
    budgets = np.arange(1, last + 1)
    values = np.full((len(seeds), budgets.size), np.nan)
    for row, seed in enumerate(seeds):
        run = longest.get(seed)
        for col in range(min(run_epochs(run) or 0, last) if run else 0):
            values[row, col] = _accuracy(truncate(run, col + 1)[0], chance)
    return budgets, values


def _aware(runs: list[RunData], seeds: list[int], chance: float) -> tuple[np.ndarray, np.ndarray]:
    """(budgets it ran, values (seeds, K)) of a budget-aware arm, one run per seed and budget."""
    budgets = np.array(sorted({e for e in map(run_epochs, runs) if e is not None}), dtype=int)
    column = {int(b): i for i, b in enumerate(budgets)}
    row_of = {seed: i for i, seed in enumerate(seeds)}
    values = np.full((len(seeds), budgets.size), np.nan)
    for run in runs:
        epochs = run_epochs(run)
        if epochs is not None:
            values[row_of[run.seed], column[epochs]] = _accuracy(run, chance)
    return budgets, values


def budget_series(study: Study, problem: str) -> list[BudgetSeries]:
    """Every arm of ``problem`` in ``study`` (loaded with ``by_budget=True``), in arm order."""
    chance, _ = chance_accuracy(study, problem)
    seeds = study.seeds(problem)
    out = []
    for arm in study.arms(problem):
        runs = study.runs_of(problem, arm)
        kind = run_kind(runs[0])
        read = _free if kind == BUDGET_FREE else _aware
        budgets, values = read(runs, seeds, chance)
        mean, low, high = mean_band(values, value_range("test_accuracy"))
        out.append(BudgetSeries(problem, arm, kind, budgets, values, mean, low, high))
    return out

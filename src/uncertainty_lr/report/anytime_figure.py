"""The anytime figure of one problem: test accuracy against the budget, every arm.

The report draws it per problem (``budget_figures``); ``write_budget_figure`` draws it
from a store on its own, for a page that embeds the figure (docs/results.md) without the
report around it. With more than ``SHOWN_BASELINES`` baselines the first figure shows the
uncertainty arms, the best baselines at the longest budget compared and the best
budget-aware arm at each budget (the arms the verdict names); a second figure holds the
other baselines, beside the uncertainty arms again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from uncertainty_lr.report.budget_plots import is_uncertainty, plot_accuracy_vs_budget
from uncertainty_lr.report.budget_series import BudgetSeries, budget_series
from uncertainty_lr.report.budgets import BUDGET_FREE, check_budgets
from uncertainty_lr.report.load import Study, load_study
from uncertainty_lr.report.panels import split_arms
from uncertainty_lr.report.plots import arm_styles


def best_aware_by_series(series: Sequence[BudgetSeries], budgets: Iterable[int]) -> set[str]:
    """The budget-aware arm of highest mean test accuracy at each of ``budgets``."""
    best = set()
    for budget in budgets:
        means = {s.arm: s.at(budget) for s in series if s.kind != BUDGET_FREE}
        means = {arm: mean for arm, mean in means.items() if mean is not None}
        if means:
            best.add(max(means, key=means.get))
    return best


def figure_arms(
    series: Sequence[BudgetSeries], budgets: Sequence[int], also: Iterable[str] = ()
) -> tuple[list[str], list[str]]:
    """(shown, rest): the uncertainty arms, the ``SHOWN_BASELINES`` other arms of highest
    mean test accuracy at the longest of ``budgets``, the best budget-aware arm at each
    budget and the arms in ``also``; then every other arm."""
    arms = [s.arm for s in series]
    score = {s.arm: s.at(max(budgets)) for s in series}
    score = {arm: value for arm, value in score.items() if value is not None}
    named = best_aware_by_series(series, budgets) | set(also)
    return split_arms(arms, [a for a in arms if is_uncertainty(a)], score, also=named)


def budget_figures(
    study: Study,
    problem: str,
    budgets: Sequence[int],
    path: Path,
    rest_path: Path | None,
    styles: dict[str, tuple[str, str]],
    also: Iterable[str] = (),
) -> tuple[Path | None, Path | None, list[str]]:
    """Draw the problem's figure to ``path`` and, when arms are left out of it and
    ``rest_path`` is given, the figure of those (with the uncertainty arms) to ``rest_path``.

    Returns (first figure or None when nothing has a test accuracy, second figure or None,
    the arms left out of the first).
    """
    series = budget_series(study, problem)
    shown, rest = figure_arms(series, budgets, also)
    by_arm = {s.arm: s for s in series}
    first = plot_accuracy_vs_budget([by_arm[a] for a in shown], styles, path, budgets,
                                    f"{problem}: test accuracy against the budget")  # fmt: skip
    if not rest or rest_path is None:
        return first, None, rest
    again = [a for a in shown if is_uncertainty(a)]
    second = plot_accuracy_vs_budget([by_arm[a] for a in again + rest], styles, rest_path,
                                     budgets, f"{problem}: the other arms against the budget")  # fmt: skip
    return first, second, rest


def write_budget_figure(
    store_dir: str | Path, problem: str, path: str | Path, budgets: Sequence[int] | None = None
) -> Path:
    """Draw the anytime figure of ``problem`` from the store in ``store_dir`` to ``path``
    (a PNG) and return the path: the report's first figure of that problem, the arms it
    leaves out included only in the report.

    ``budgets``: the budgets compared, marked with dotted lines (default: every budget a
    budget-aware arm ran with, else the longest run). Raises ValueError when the store has
    no run of ``problem``, nothing to draw, or a budget that is not a positive integer.
    """
    study = load_study(store_dir, by_budget=True)
    if problem not in study.problems():
        raise ValueError(
            f"no runs of problem {problem!r}; the store has: {', '.join(study.problems()) or 'none'}"
        )
    if budgets is None:
        series = budget_series(study, problem)
        aware = {int(b) for s in series if s.kind != BUDGET_FREE for b in s.budgets}
        longest = max((int(s.budgets.max()) for s in series if s.budgets.size), default=1)
        budgets = sorted(aware) or [longest]
    drawn = budget_figures(study, problem, check_budgets(budgets), Path(path), None,
                           arm_styles(study.arms()))[0]  # fmt: skip
    if drawn is None:
        raise ValueError(f"no test accuracy to draw for problem {problem!r}")
    return drawn

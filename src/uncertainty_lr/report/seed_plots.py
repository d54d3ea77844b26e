"""Report figures with a column per arm and a dot per seed: final test accuracy and epochs
to target (matplotlib Agg backend; no torch). Colours and markers come from
``plots.arm_styles``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from uncertainty_lr.report.load import Study
from uncertainty_lr.report.plots import save_figure, wrap
from uncertainty_lr.report.summary import ProblemSummary

#: An epoch count -> its height in the epochs-to-target figure.
YMap = Callable[[np.ndarray | float], np.ndarray | float]


def _arm_axis(ax: Axes, arms: list[str]) -> None:
    """Schedule names on the x axis, wrapped, and rotated when there are many."""
    ax.set_xticks(range(len(arms)))
    rotate = len(arms) > 4
    ax.set_xticklabels(
        [wrap(a, 14) for a in arms],
        rotation=30 if rotate else 0,
        ha="right" if rotate else "center",
    )
    ax.set_xlim(-0.6, len(arms) - 0.4)


def _gap_label(ax: Axes, x: float, text: str) -> None:
    """Grey text mid-height at ``x`` where an arm has nothing to draw."""
    ax.text(
        x, 0.5, text, ha="center", va="center", transform=ax.get_xaxis_transform(), color="dimgray"
    )


def _jitter(n: int) -> np.ndarray:
    """Deterministic horizontal offsets so equal values do not hide each other."""
    return np.linspace(-0.15, 0.15, n) if n > 1 else np.zeros(n)


def plot_final_accuracy(
    study: Study, ps: ProblemSummary, styles: dict[str, tuple[str, str]], path: Path
) -> Path:
    """Final test accuracy per arm: a box over finished seeds and every seed as a dot."""
    fig = Figure(figsize=(max(5.5, 1.3 * len(ps.arms) + 2.5), 4.8), layout="constrained")
    ax = fig.subplots()
    for i, arm in enumerate(ps.arms):
        colour, marker = styles[arm]
        runs = study.runs_of(ps.problem, arm, status="done")
        values = np.array(
            [r.test["test_accuracy"] for r in runs if r.test["test_accuracy"] is not None]
        )
        if values.size == 0:
            _gap_label(ax, i, "no test\nmetrics")
            continue
        if values.size >= 3:
            ax.boxplot(
                [values],
                positions=[i],
                widths=0.5,
                showfliers=False,
                medianprops={"color": colour},
                whis=(0, 100),
            )
        ax.scatter(
            i + _jitter(values.size),
            values,
            color=colour,
            marker=marker,
            s=36,
            zorder=3,
            edgecolor="white",
            lw=0.5,
        )
        ax.hlines(values.mean(), i - 0.3, i + 0.3, color="black", lw=1.5, zorder=4)
    _arm_axis(ax, ps.arms)
    ax.set_ylabel("test accuracy (fraction correct)")
    ax.set_title(
        f"{ps.problem}: final test accuracy\n(dot = seed, black line = mean, box = quartiles)"
    )
    ax.grid(axis="y", alpha=0.3)
    return save_figure(fig, path)


def _median_ci(values: np.ndarray, n_boot: int = 2000) -> tuple[float, float, float]:
    """Median and 95 % percentile-bootstrap CI of the median (seeded: the figure is stable)."""
    median = float(np.median(values))
    if values.size < 2:
        return median, median, median
    rng = np.random.default_rng(0)
    boot = np.median(values[rng.integers(0, values.size, (n_boot, values.size))], axis=1)
    low, high = np.quantile(boot, [0.025, 0.975])
    return median, float(low), float(high)


def plot_epochs_to_target(
    ps: ProblemSummary, styles: dict[str, tuple[str, str]], path: Path
) -> Path | None:
    """Epochs to reach the target per arm: seeds as dots, median with 95 % bootstrap CI.

    Runs that never reached it are hollow markers at budget + 1 ("not reached"). Returns
    None (draws nothing) when the problem has no target or budget.
    """
    if ps.target is None or ps.budget is None:
        return None
    show = _stretch_above(ps.budget)
    fig = Figure(figsize=(max(5.5, 1.3 * len(ps.arms) + 2.5), 4.8), layout="constrained")
    ax = fig.subplots()
    any_censored = False
    for i, arm in enumerate(ps.arms):
        times = np.array(list(ps.epochs_to_target.get(arm, {}).values()), dtype=float)
        times = times[~np.isnan(times)]
        if times.size == 0:
            _gap_label(ax, i, "no finished\nruns")
            continue
        any_censored |= _draw_times(ax, i, times, styles[arm], ps.budget, show)
    ax.axhline(ps.budget, color="dimgray", ls=":", lw=1)
    _budget_ticks(ax, ps.budget, float(show(ps.budget + 1)))
    _arm_axis(ax, ps.arms)
    ax.set_ylabel("epochs to reach target")
    ax.set_title(f"{ps.problem}: epochs to validation accuracy >= {ps.target:.4g}")
    ax.grid(axis="y", alpha=0.3)
    handles = [
        Line2D([], [], ls="", marker="o", color="gray", label="seed reached target"),
        Line2D([], [], ls="", marker="D", color="black", label="median, 95% bootstrap CI"),
    ]
    if any_censored:
        handles.insert(
            1,
            Line2D([], [], ls="", marker="o", mfc="none", color="gray", label="seed: not reached"),
        )
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize=9)
    return save_figure(fig, path)


def _stretch_above(budget: float) -> YMap:
    """The y position of an epoch count: values above ``budget`` are stretched linearly.

    Statistics use budget + 1 for "not reached"; the figure draws that row a readable
    distance above the budget line.
    """
    stretch = max(1.0, 0.1 * budget)

    def show(y: np.ndarray | float) -> np.ndarray | float:
        return np.where(np.asarray(y) > budget, budget + (np.asarray(y) - budget) * stretch, y)

    return show


def _draw_times(
    ax: Axes, i: int, times: np.ndarray, style: tuple[str, str], budget: float, show: YMap
) -> bool:
    """One arm's epochs to target at x = ``i``: a dot per seed (hollow: never reached, drawn
    at budget + 1) and the median with its 95 % bootstrap CI. True if a seed never reached."""
    colour, marker = style
    imputed = np.where(np.isinf(times), budget + 1, times)
    shown = show(imputed)
    x = i - 0.08 + _jitter(times.size)
    reached = np.isfinite(times)
    ax.scatter(x[reached], shown[reached], color=colour, marker=marker, s=36, zorder=3)
    if (~reached).any():
        ax.scatter(x[~reached], shown[~reached], facecolor="none", edgecolor=colour,
                   marker=marker, s=44, lw=1.5, zorder=3)  # fmt: skip
    median, low, high = (float(show(v)) for v in _median_ci(imputed))
    ax.errorbar(i + 0.25, median, yerr=[[median - low], [high - median]], fmt="D",
                color="black", ms=6, capsize=4, zorder=4)  # fmt: skip
    return bool((~reached).any())


def _budget_ticks(ax: Axes, budget: float, top: float) -> None:
    """Whole-epoch ticks below the budget, leaving room for the "budget" tick and the
    "not reached" one at ``top``; the y axis ends a little above ``top``."""
    gap = 0.5 * max(1.0, budget / 10)
    ticks = [
        t
        for t in MaxNLocator(nbins=6, integer=True).tick_values(0, budget)
        if 0 <= t < budget - gap
    ]
    ax.set_yticks(
        [*ticks, budget, top],
        [*(f"{t:g}" for t in ticks), f"budget {budget:g}", "not reached"],
    )
    ax.set_ylim(0, top + 0.06 * top)

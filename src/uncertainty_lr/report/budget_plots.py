"""The anytime report's figures: test accuracy against the budget, and the AlgoPerf score
per budget as bars (matplotlib Agg, no pyplot; no statistics: they draw what they are given).

The uncertainty arms (schedule names starting with 'uncertainty') are the subject: they
are drawn thick, opaque and on top; every other arm keeps its colour but is muted (thin,
half transparent, faint band), so the question "where does the uncertainty arm stand?"
is answered at a glance however many arms there are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from uncertainty_lr.report.budget_series import BudgetSeries
from uncertainty_lr.report.budgets import BUDGET_FREE
from uncertainty_lr.report.plots import save_figure, wrap

MUTED_GREY = "#b5b5b5"
#: A thin dark edge on every marker, so the light palette colours (yellow, sky blue) stay
#: visible on white even when muted.
EDGE = {"mec": "#303030", "mew": 0.6}


def is_uncertainty(arm: str) -> bool:
    """Whether ``arm`` is an uncertainty arm, the one a figure makes stand out."""
    return arm.startswith("uncertainty")


def _look(arm: str) -> dict[str, float]:
    """Line width, opacity, band opacity and drawing order: strong for the uncertainty arms."""
    if is_uncertainty(arm):
        return {"lw": 2.8, "alpha": 1.0, "band": 0.22, "z": 10.0, "ms": 7.5}
    return {"lw": 1.5, "alpha": 0.7, "band": 0.07, "z": 3.0, "ms": 6.0}


def _offsets(series: list[BudgetSeries]) -> dict[str, float]:
    """x offset per budget-aware arm, so markers at one budget sit side by side; none at 0
    when a budget-free arm is drawn, whose marker sits on the budget itself."""
    aware = [s for s in series if s.kind != BUDGET_FREE]
    budgets = np.unique(np.concatenate([s.budgets for s in aware] or [[]]))
    gap = float(np.diff(budgets).min()) if budgets.size > 1 else 2.0
    spread, n = min(0.6, 0.25 * gap), len(aware)
    if n < len(series):  # slots 1, -1, 2, -2, ... steps from the budget
        step = spread / (n + 1)
        steps = sorted((i // 2 + 1) * step * (1 if i % 2 else -1) for i in range(n))
    else:
        steps = np.linspace(-spread / 2, spread / 2, n) if n > 1 else np.zeros(n)
    return {s.arm: float(x) for s, x in zip(aware, steps, strict=True)}


def _y_limits(series: list[BudgetSeries], first_budget: int) -> tuple[float, float]:
    """A y range that shows the budgets asked about: from just below the lowest value at or
    after ``first_budget`` to just above the highest, inside [0, 1]. Earlier epochs of a
    curve may start below it (they are the climb, not the comparison)."""
    lows, highs = [], []
    for s in series:
        keep = s.budgets >= first_budget
        for values in (s.mean[keep], s.low[keep], s.high[keep]):
            finite = values[np.isfinite(values)]
            if finite.size:
                lows.append(finite.min())
                highs.append(finite.max())
    if not lows:
        return 0.0, 1.0
    low, high = min(lows), max(highs)
    pad = max(0.01, 0.08 * (high - low))
    return max(0.0, low - pad), min(1.0, high + pad)


def isolated(mean: np.ndarray) -> np.ndarray:
    """Where a curve has a value but neither neighbour does (bool, shape of ``mean``): a band
    cannot show there, so the interval is drawn as an error bar. A budget-free arm run
    without ``test_every_epoch`` has a test accuracy only at its last epoch."""
    finite = np.isfinite(mean)
    before = np.concatenate([[False], finite[:-1]])
    after = np.concatenate([finite[1:], [False]])
    return finite & ~before & ~after


def _yerr(s: BudgetSeries) -> np.ndarray:
    """The 95 % interval as matplotlib's error-bar extents below and above the mean, (2, K)."""
    return np.vstack([s.mean - s.low, s.high - s.mean])


def _group(title: str, handles: list[Line2D]) -> list[Line2D]:
    """Legend entries under a text-only header entry (nothing when there are none)."""
    return [Line2D([], [], ls="", label=title), *handles] if handles else []


def plot_accuracy_vs_budget(
    series: Sequence[BudgetSeries],
    styles: Mapping[str, tuple[str, str]],
    path: Path,
    budgets: Sequence[int],
    title: str,
) -> Path | None:
    """Test accuracy against the budget (epochs) for the arms in ``series``; None if empty.

    Budget-free arm: a line (mean over seeds) with its 95 % band, an error bar where a
    point stands alone (tested at its last epoch only). Budget-aware arm: a marker
    at each budget it ran with its 95 % t-interval as an error bar (none with one seed).
    Dotted verticals mark ``budgets``, the ones the report asks about.
    """
    series = [s for s in series if np.isfinite(s.mean).any()]
    if not series:
        return None
    fig = Figure(figsize=(9.6, 4.6), layout="constrained")
    ax = fig.subplots()
    offsets = _offsets(series)
    free, aware = [], []
    for s in series:
        colour, marker = styles[s.arm]
        look = _look(s.arm)
        n = int(np.isfinite(s.values).any(axis=1).sum())
        if s.kind == BUDGET_FREE:
            marks = [i for i, b in enumerate(s.budgets) if b in budgets]
            ax.plot(s.budgets, s.mean, color=colour, lw=look["lw"], alpha=look["alpha"],
                    marker=marker, markevery=marks or None, ms=look["ms"], zorder=look["z"],
                    **EDGE)  # fmt: skip
            if np.isfinite(s.low).any():
                ax.fill_between(s.budgets, s.low, s.high, color=colour, alpha=look["band"],
                                lw=0, zorder=look["z"] - 1)  # fmt: skip
            alone = isolated(s.mean) & np.isfinite(s.low)
            if alone.any():
                ax.errorbar(s.budgets[alone], s.mean[alone], color=colour, fmt="none", capsize=3,
                            yerr=_yerr(s)[:, alone],
                            elinewidth=look["lw"] * 0.8, alpha=look["alpha"], zorder=look["z"])  # fmt: skip
            handle = Line2D([], [], color=colour, lw=look["lw"], marker=marker, alpha=look["alpha"],
                            **EDGE)  # fmt: skip
            free.append(handle)
        else:
            x = s.budgets + offsets[s.arm]
            yerr = _yerr(s)
            ax.errorbar(x, s.mean, yerr=np.where(np.isfinite(yerr), yerr, 0), fmt=marker, color=colour,
                        ms=look["ms"] + 1, capsize=3, elinewidth=look["lw"] * 0.8,
                        alpha=look["alpha"], zorder=look["z"] + 1, **EDGE)  # fmt: skip
            handle = Line2D([], [], ls="", color=colour, marker=marker, ms=look["ms"] + 1,
                            alpha=look["alpha"], **EDGE)  # fmt: skip
            aware.append(handle)
        handle.set_label(wrap(f"{s.arm} (n={n})", 30))
    for budget in budgets:
        ax.axvline(budget, color="dimgray", ls=":", lw=1, zorder=1)
    first = min(budgets) if budgets else 1
    ax.set_ylim(*_y_limits(series, first))
    last = max(int(s.budgets.max()) for s in series)
    # from the first epoch with a value: no empty span left of arms tested at the end only
    left = max(0.5, min(float(s.budgets[np.isfinite(s.mean)].min()) for s in series) - 1.5)
    ax.set_xlim(left, last + 0.8)
    ax.set_xticks([b for b in sorted({1, *budgets, last}) if b >= left])  # the budgets compared
    ax.set_xlabel("budget (epochs); dotted lines: the budgets compared")
    ax.set_ylabel("test accuracy (fraction correct)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    handles = [*_group("never told the budget:", free), *_group("told the budget:", aware),
               Patch(color="grey", alpha=0.3, label="95% t-interval over seeds")]  # fmt: skip
    fig.legend(handles=handles, loc="outside right center", fontsize=8.5)
    return save_figure(fig, path)


def plot_algoperf_bars(
    scores: Mapping[int, Mapping[str, float]],
    styles: Mapping[str, tuple[str, str]],
    path: Path,
) -> Path | None:
    """AlgoPerf score per arm, one panel per budget (budget -> arm -> score); None if empty.

    Arms are rows sorted by their score at the longest budget (best on top); the uncertainty
    arms in their colour, the others grey; each bar carries its value.
    """
    budgets = [b for b in sorted(scores) if scores[b]]
    if not budgets:
        return None
    last = scores[budgets[-1]]
    arms = sorted({arm for b in budgets for arm in scores[b]},
                  key=lambda arm: (-last.get(arm, -1.0), arm))  # fmt: skip
    height = 1.1 + 0.32 * len(arms)
    fig = Figure(figsize=(2.6 + 2.6 * len(budgets), height), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(budgets), sharey=True))
    rows = np.arange(len(arms))[::-1]
    for ax, budget in zip(axes, budgets, strict=True):
        values = np.array([scores[budget].get(arm, np.nan) for arm in arms])
        colours = [styles[a][0] if is_uncertainty(a) else MUTED_GREY for a in arms]
        ax.barh(rows, np.nan_to_num(values), color=colours, height=0.7)
        for y, value in zip(rows, values, strict=True):
            text = "n/a" if np.isnan(value) else f"{value:.2f}"
            ax.text(min(np.nan_to_num(value), 1.0) + 0.02, y, text, va="center", fontsize=8)
        ax.set_xlim(0, 1.18)
        ax.set_title(f"{budget} epochs")
        ax.set_xlabel("AlgoPerf score (1 = fastest)")
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(rows, [wrap(arm, 30) for arm in arms], fontsize=8.5)
    fig.suptitle("AlgoPerf score per budget (area under the performance profile)")
    return save_figure(fig, path)

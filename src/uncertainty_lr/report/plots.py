"""Report figures as PNG files (matplotlib Agg backend; no torch).

Each function draws one figure from a ``Study`` / ``Summary`` and returns its path. Every
schedule ("arm") keeps one colour and marker in every figure: ``arm_styles`` assigns them
once from the Okabe-Ito palette, which stays distinguishable with colour-blindness, then
tab10 for a 9th arm onwards.
"""

from __future__ import annotations

import io
import re
import textwrap
from pathlib import Path

import matplotlib
import numpy as np

# Figure objects render through the Agg canvas without pyplot, so importing the report
# never switches the backend of a user's notebook and never opens a window.
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from uncertainty_lr.experiments.files import write_file
from uncertainty_lr.report.aggregates import profile_times
from uncertainty_lr.report.bands import mean_band, value_range
from uncertainty_lr.report.load import RunData, Study
from uncertainty_lr.report.summary import ProblemSummary, Summary
from uncertainty_lr.stats import performance_profile

DPI = 110
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "h", "<")
#: (epoch-record key, panel title, y label, log scale?) of the 2x2 curves figure.
CURVE_PANELS = (
    ("val_loss", "Validation loss", "cross-entropy loss (nats)", None),
    ("val_accuracy", "Validation accuracy", "accuracy (fraction correct)", False),
    ("lr", "Learning rate (mean over the epoch's steps)", "learning rate (log scale)", True),
    ("val_entropy", "Uncertainty (validation entropy)",
     "entropy / log C (0 = sure, 1 = unsure)", False),
)  # fmt: skip


def arm_styles(arms: list[str]) -> dict[str, tuple[str, str]]:
    """arm -> (colour, marker), fixed by the order of ``arms`` (all arms of the report)."""
    tab10 = [matplotlib.colors.to_hex(c) for c in matplotlib.colormaps["tab10"].colors]
    palette = list(OKABE_ITO) + [c for c in tab10 if c not in OKABE_ITO]
    # Uncertainty variants get their own dark colours, so the schedule under test never
    # shares a colour with a baseline however many baselines there are.
    own = ("#B2182B", "#762A83", "#8C510A", "#1B7837")
    styles, n_own, n_base = {}, 0, 0
    for i, arm in enumerate(arms):
        if arm.startswith("uncertainty"):
            colour = own[n_own % len(own)]
            n_own += 1
        else:
            colour = palette[n_base % len(palette)]
            n_base += 1
        styles[arm] = (colour, MARKERS[i % len(MARKERS)])
    return styles


def wrap(text: str, width: int = 18) -> str:
    """Break a long schedule name over lines so tick labels and legends stay narrow."""
    return "\n".join(textwrap.wrap(text, width, break_long_words=True)) or text


def file_slug(text: str, taken: set[str]) -> str:
    """A file-name-safe version of a problem name for its figures, unique within ``taken``
    (which it joins)."""
    base = re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._")[:60] or "problem"
    slug, i = base, 2
    while slug in taken:
        slug, i = f"{base}_{i}", i + 1
    taken.add(slug)
    return slug


def save_figure(fig: Figure, path: Path) -> Path:
    """Render ``fig`` (format from the suffix, PNG by default) and write it atomically."""
    image = io.BytesIO()
    fig.savefig(image, dpi=DPI, format=Path(path).suffix.lstrip(".") or "png")
    return write_file(path, image.getvalue())


def _stack(runs: list[RunData], key: str, epochs: np.ndarray, log: bool) -> np.ndarray:
    """Values of ``key`` as (runs, len(epochs)) aligned on epoch number; log10 if ``log``."""
    out = np.full((len(runs), epochs.size), np.nan)
    index = {int(e): i for i, e in enumerate(epochs)}
    for row, run in enumerate(runs):
        values = run.curve(key)
        if log:
            values = np.where(values > 0, values, np.nan)
            values = np.log10(values)
        for epoch, value in zip(run.epochs, values, strict=True):
            out[row, index[int(epoch)]] = value
    return out


def _loss_is_log(study: Study, problem: str) -> bool:
    """Log scale for the loss when it spans more than 30x (e.g. a diverging run)."""
    values = np.concatenate([r.curve("val_loss") for r in study.runs_of(problem)] or [[]])
    values = values[np.isfinite(values) & (values > 0)]
    return bool(values.size) and values.max() / values.min() > 30


def plot_curves(
    study: Study,
    ps: ProblemSummary,
    styles: dict[str, tuple[str, str]],
    path: Path,
    arms: list[str] | None = None,
    title: str = "training curves (mean of finished seeds)",
) -> Path:
    """2x2 figure: validation loss, accuracy, LR (log) and entropy against epoch.

    Per arm of ``arms`` (default: all of ``ps.arms``): the mean over finished seeds with a
    95 % t-band (no band with one seed) clipped to the metric's range (``bands.value_range``:
    accuracy and entropy in [0, 1], loss at or above 0); each diverged / failed / running run
    as a thin dashed line ending in an x where it stopped.
    """
    arms = list(ps.arms if arms is None else arms)
    fig = Figure(figsize=(10, 7.6), layout="constrained")
    axes = fig.subplots(2, 2)
    loss_log = _loss_is_log(study, ps.problem)
    any_band = any_stopped = False
    n_seeds = {arm: len(study.runs_of(ps.problem, arm, status="done")) for arm in arms}
    for ax, (key, title_of_panel, ylabel, log) in zip(axes.flat, CURVE_PANELS, strict=True):
        log = loss_log if log is None else log
        drawn = False
        for rank, arm in enumerate(arms):
            runs = study.runs_of(ps.problem, arm)
            mean_drawn, band = _draw_mean(ax, runs, key, log, styles[arm], rank)
            stopped = _draw_stopped(ax, runs, key, log, styles[arm][0])
            drawn = drawn or mean_drawn or stopped
            any_band, any_stopped = any_band or band, any_stopped or stopped
        if log:
            ax.set_yscale("log")
        if key == "val_entropy":
            ax.set_ylim(bottom=0)
        if not drawn:
            ax.text(0.5, 0.5, "not logged", ha="center", va="center", transform=ax.transAxes)
        ax.set_title(title_of_panel + (" (log scale)" if log and key != "lr" else ""))
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    handles = [
        Line2D([], [], color=styles[a][0], marker=styles[a][1], lw=1.8,
               label=wrap(f"{a} (n={n_seeds[a]})", 30))
        for a in arms
    ]  # fmt: skip
    if any_band:
        handles.append(Patch(color="grey", alpha=0.3, label="95% t-interval over seeds"))
    if any_stopped:
        handles.append(
            Line2D([], [], color="grey", ls="--", marker="x", label="diverged/failed run")
        )
    fig.suptitle(f"{ps.problem}: {title}")
    fig.legend(handles=handles, loc="outside lower center", ncol=min(4, len(handles)), fontsize=9)
    return save_figure(fig, path)


def _draw_mean(
    ax: Axes, runs: list[RunData], key: str, log: bool, style: tuple[str, str], rank: int
) -> tuple[bool, bool]:
    """The mean of ``key`` over the finished ``runs`` of one arm, with its 95 % t-band;
    (whether a mean line was drawn, whether a band was)."""
    colour, marker = style
    done = [r for r in runs if r.status == "done"]
    epochs = np.unique(np.concatenate([r.epochs for r in runs] or [[]])).astype(int)
    if not (done and epochs.size):
        return False, False
    # a log-scale band is computed on log10 values, so it cannot cross 0
    limits = (None, None) if log else value_range(key)
    mean, low, high = mean_band(_stack(done, key, epochs, log), limits)
    if log:
        mean, low, high = 10**mean, 10**low, 10**high
    drawn = band = False
    if np.isfinite(mean).any():
        every = max(1, epochs.size // 8)
        # Earlier arms are drawn wider and lower, so a line hidden under another still
        # shows as a coloured edge where two schedules coincide (equal LRs).
        width = max(1.4, 3.6 - 0.55 * rank)
        ax.plot(epochs, mean, color=colour, marker=marker, markevery=every,
                ms=width + 4, lw=width, zorder=2 + rank)  # fmt: skip
        drawn = True
    if np.isfinite(low).any():
        ax.fill_between(epochs, low, high, color=colour, alpha=0.18, lw=0)
        band = True
    return drawn, band


def _draw_stopped(ax: Axes, runs: list[RunData], key: str, log: bool, colour: str) -> bool:
    """Each diverged / failed / running run of ``runs`` as a thin dashed line ending in an x
    where it stopped; True if any was drawn."""
    drawn = False
    for run in runs:
        if run.status == "done":
            continue
        values = run.curve(key)
        values = np.where(values > 0, values, np.nan) if log else values
        finite = np.flatnonzero(np.isfinite(values))
        if finite.size:
            ax.plot(run.epochs, values, color=colour, lw=1.2, ls="--", zorder=20)
            last = finite[-1]
            ax.plot(run.epochs[last], values[last], "x", color=colour, ms=9, mew=2.5, zorder=21)
            drawn = True
    return drawn


def plot_performance_profile(
    summary: Summary, styles: dict[str, tuple[str, str]], path: Path
) -> tuple[Path | None, list[str]]:
    """AlgoPerf performance profile over problems; (None, why) with fewer than 2 problems."""
    times, problems, notes = profile_times(summary)
    if len(problems) < 2 or not times:
        return None, notes + ["performance profile needs at least 2 problems with a target"]
    matrix = np.array(list(times.values()))
    finite = matrix[np.isfinite(matrix)]
    best = np.min(np.where(np.isfinite(matrix), matrix, np.inf), axis=0)
    ratios = matrix / np.where(np.isfinite(best), best, 1.0)
    tau_max = max(2.0, 1.1 * float(np.max(ratios[np.isfinite(ratios)]))) if finite.size else 2.0
    taus = np.linspace(1.0, tau_max, 400)
    profile = performance_profile(times, taus)
    fig = Figure(figsize=(7, 4.8), layout="constrained")
    ax = fig.subplots()
    styles_ls = ("-", "--", "-.", ":")
    for i, (arm, rho) in enumerate(profile.items()):
        colour, marker = styles[arm]
        # Wider lines underneath and staggered markers keep coinciding profiles visible.
        ax.plot(taus, rho, color=colour, ls=styles_ls[i % 4], lw=3.2 - 0.4 * min(i, 5),
                drawstyle="steps-post", marker=marker, markevery=(17 * i % 80, 80),
                ms=7, label=wrap(arm, 30), zorder=2 + i)  # fmt: skip
    ax.set_xlabel("tau: epochs to target / best schedule's epochs on that problem")
    ax.set_ylabel(f"fraction of problems (of {len(problems)}) solved within tau")
    ax.set_ylim(-0.03, 1.03)
    ax.set_title("Performance profile (median epochs to target over seeds)")
    ax.grid(alpha=0.3)
    fig.legend(loc="outside right center", fontsize=9)
    return save_figure(fig, path), notes

"""Targets and times to target: the AlgoPerf-style target of a problem, and how long each run
took to reach it (epochs, seconds). Plain functions over a ``Study``; no statistics here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np

from uncertainty_lr.report.load import RunData, Study
from uncertainty_lr.stats import default_target, seconds_to_target


def best_val_accuracy(run: RunData) -> float | None:
    """Highest validation accuracy over the run's epochs, None if none was logged."""
    values = run.curve("val_accuracy")
    return float(np.nanmax(values)) if np.isfinite(values).any() else None


def run_budget(run: RunData) -> float:
    """Epochs the run was given: config 'epochs', else the epochs it logged."""
    epochs = run.config.get("epochs")
    if isinstance(epochs, (int, float)) and not isinstance(epochs, bool) and epochs > 0:
        return float(max(epochs, run.epochs.size))
    return float(max(run.epochs.size, run.epochs_done, 1))


def cumulative_seconds(run: RunData) -> np.ndarray:
    """Cumulative wall time (s) at the end of each epoch, shape (E,); NaN if unknown.

    Uses the logged ``wall_time``; without it, the running sum of train + eval time.
    """
    wall = run.curve("wall_time")
    if np.isfinite(wall).all() and wall.size:
        return wall
    parts = np.nan_to_num(run.curve("train_time")) + np.nan_to_num(run.curve("eval_time"))
    if np.isfinite(run.curve("train_time")).all() and wall.size:
        return np.cumsum(parts)
    return np.full(wall.shape, np.nan)


def target_for(
    study: Study,
    problem: str,
    baselines: list[str],
    arms: list[str],
    target: float | Mapping[str, float] | None,
    fraction: float,
) -> tuple[float | None, str]:
    """The problem's target validation accuracy and a sentence saying where it came from."""
    if isinstance(target, Mapping):
        target = target.get(problem)
    if target is not None:
        return float(target), f"given: {float(target):.4g}"
    pool = baselines or arms
    best = {
        arm: [
            np.nan if (v := best_val_accuracy(run)) is None else v
            for run in study.runs_of(problem, arm, status="done")
        ]
        for arm in pool
    }
    try:
        value = default_target(best, pool, fraction)
    except ValueError:
        return None, "not set: no finished run logged a validation accuracy"
    who = "baseline" if baselines else "schedule (there is no baseline)"
    return value, (
        f"{fraction:g} x median best validation accuracy of the best {who} = {value:.4g}"
    )


def times_to_target(
    study: Study, problem: str, arm: str, target: float | None, fn: Callable[[RunData], float]
) -> dict[int, float]:
    """seed -> time to target of finished runs; a diverged run never reached it (inf)."""
    if target is None:
        return {}
    return {
        run.seed: math.inf if run.status == "diverged" else fn(run)
        for run in study.runs_of(problem, arm)
        if run.status in ("done", "diverged")
    }


def seconds_of(run: RunData, target: float) -> float:
    try:
        return seconds_to_target(run.curve("val_accuracy"), cumulative_seconds(run), target)
    except ValueError:  # no usable wall time: unknown, not "never"
        return math.nan

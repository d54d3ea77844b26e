"""Summaries of one sample and of a (runs x tasks) score matrix, rliable style.

Scores of different tasks are only comparable once each task's scale is removed:
``normalise_scores`` maps every task column onto 0 = its low reference (chance) and 1 = its
high one (the best arm), as rliable normalises Atari scores between random and human play.
``competition_ranks`` ranks arms so that equal scores share a rank.

NaN means a missing run (failed, diverged, not yet run). Functions over one sample
(``mean_std``, ``summarise``) drop NaN and ``summarise`` says how many; functions over a
(runs x tasks) matrix (``iqm``, ``iqm_ci``) refuse NaN, because dropping values would
silently change what each task contributes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats as sps

from uncertainty_lr.stats._checks import (
    BOOT_CHUNK_ELEMENTS,
    Values,
    as_float_array,
    check_confidence,
    check_n_boot,
    check_seed,
    finite_scores,
    percentile_interval,
)


def iqm(x: Values) -> float:
    """Interquartile mean of all values of ``x`` (any shape, flattened).

    ``scipy.stats.trim_mean(x, 0.25)``: drop the lowest and highest 25 % (rounded down to
    whole values) and average the rest. Robust to a few outlier runs, less noisy than the
    median (Agarwal et al., 2021, rliable).
    """
    return float(sps.trim_mean(finite_scores(x, "x").ravel(), 0.25))


def iqm_ci(
    scores: Sequence[Sequence[float]] | np.ndarray,
    n_boot: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[float, float | None, float | None]:
    """IQM of ``scores`` with a stratified-bootstrap percentile CI: ``(point, low, high)``.

    ``scores``: shape (runs, tasks), or (runs,) for one task. Each bootstrap resample draws
    ``runs`` rows with replacement independently within every task column (rliable's
    stratified bootstrap), then takes the IQM of the whole resampled matrix. With fewer than
    2 runs there is nothing to resample and ``low``, ``high`` are None. Like any percentile
    bootstrap it is too narrow with a handful of runs per task (rliable meant it for tens);
    the paired A/B comparison uses the t-interval (``paired.t_interval``) instead.
    """
    arr = finite_scores(scores, "scores")
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"scores must have shape (runs, tasks) or (runs,), got {arr.shape}")
    confidence = check_confidence(confidence)
    n_boot, seed = check_n_boot(n_boot), check_seed(seed)
    point = iqm(arr)
    runs, tasks = arr.shape
    if runs < 2:
        return point, None, None
    rng = np.random.default_rng(seed)
    boot = np.empty(n_boot)
    chunk = max(1, BOOT_CHUNK_ELEMENTS // arr.size)
    columns = np.arange(tasks)
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        rows = rng.integers(0, runs, size=(stop - start, runs, tasks))
        resampled = arr[rows, columns]  # (chunk, runs, tasks): column j only draws from task j
        boot[start:stop] = sps.trim_mean(resampled.reshape(stop - start, -1), 0.25, axis=1)
    low, high = percentile_interval(boot, confidence)
    return point, low, high


def _quantile_censored(values: np.ndarray, q: float) -> float:
    """np.quantile's default (linear) rule, but inf wherever the interpolation uses an inf.

    numpy computes inf * 0 = NaN when the weight on an inf neighbour is zero; here a zero
    weight ignores the neighbour and any positive weight on inf gives inf.
    """
    ordered = np.sort(values)
    pos = q * (ordered.size - 1)
    lo, frac = int(np.floor(pos)), pos - np.floor(pos)
    if frac == 0.0:
        return float(ordered[lo])
    low, high = ordered[lo], ordered[lo + 1]
    return math.inf if np.isinf(high) else float(low + (high - low) * frac)


def mean_std(x: Values) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (ddof=1) of ``x`` (flattened, NaN dropped).

    Returns ``(None, None)`` for no values and ``(mean, None)`` for one. Infinite values
    (censored times) are refused: their mean and spread are undefined; use ``summarise`` or
    ``compare_censored``.
    """
    arr = as_float_array(x, "x").ravel()
    arr = arr[~np.isnan(arr)]
    if np.isinf(arr).any():
        raise ValueError("x contains inf; mean and std are undefined, use summarise()")
    if arr.size == 0:
        return None, None
    std = float(np.std(arr, ddof=1)) if arr.size >= 2 else None
    return float(np.mean(arr)), std


def summarise(x: Values) -> dict[str, float | int | None]:
    """Describe one sample (e.g. a metric over seeds), flattened.

    Keys: ``n`` (non-NaN values), ``n_missing`` (NaN), ``n_inf`` (+inf: never reached a
    target), ``mean``, ``std`` (ddof=1), ``sem`` (std / sqrt(n)), ``iqm``, ``median``, ``q25``,
    ``q75``, ``min``, ``max``. A value that is undefined is None: everything for n = 0,
    ``std``/``sem`` for n < 2, and ``mean``/``std``/``sem``/``iqm`` when any value is infinite
    (order statistics stay valid with inf, so those are still given; a quantile that falls
    on or between censored values is inf, as a median survival time is "not reached").
    """
    arr = as_float_array(x, "x").ravel()
    if np.isneginf(arr).any():
        raise ValueError("x contains -inf; only +inf (never reached a target) is allowed")
    missing = np.isnan(arr)
    values = arr[~missing]
    n, n_inf = int(values.size), int(np.isinf(values).sum())
    out: dict[str, float | int | None] = {"n": n, "n_missing": int(missing.sum()), "n_inf": n_inf}
    keys = ("mean", "std", "sem", "iqm", "median", "q25", "q75", "min", "max")
    out.update(dict.fromkeys(keys))
    if n == 0:
        return out
    q25, median, q75 = (_quantile_censored(values, q) for q in (0.25, 0.5, 0.75))
    out.update(median=float(median), q25=float(q25), q75=float(q75))
    out.update(min=float(values.min()), max=float(values.max()))
    if n_inf:
        return out
    out["mean"] = float(np.mean(values))
    out["iqm"] = float(sps.trim_mean(values, 0.25))
    if n >= 2:
        std = float(np.std(values, ddof=1))
        out.update(std=std, sem=std / float(np.sqrt(n)))
    return out


def normalise_scores(
    scores: Sequence[Sequence[float]] | np.ndarray,
    low: Values,
    high: Values,
) -> np.ndarray:
    """``(scores - low[t]) / (high[t] - low[t])`` per task column t, same shape as ``scores``.

    ``scores``: shape (runs, tasks) (or (runs,) for one task; NaN stays NaN); ``low``,
    ``high``: one finite reference per task with ``high > low``, e.g. chance accuracy 1/C and
    the best arm's mean accuracy. A run at ``low`` scores 0, one at ``high`` scores 1; runs
    may fall outside [0, 1].
    """
    arr = as_float_array(scores, "scores")
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"scores must have shape (runs, tasks) or (runs,), got {arr.shape}")
    lo, hi = as_float_array(low, "low").ravel(), as_float_array(high, "high").ravel()
    if lo.size != arr.shape[1] or hi.size != arr.shape[1]:
        raise ValueError(
            f"low and high need one value per task ({arr.shape[1]}), got {lo.size} and {hi.size}"
        )
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi)) and np.all(hi > lo)):
        raise ValueError(f"every task needs finite references with high > low, got {lo} and {hi}")
    return (arr - lo) / (hi - lo)


def competition_ranks(
    values: Values, *, higher_is_better: bool = True, decimals: int = 12
) -> list[int]:
    """Rank of each value: 1 + how many values are strictly better ("1224" ranking).

    Values equal after rounding to ``decimals`` places share a rank (means of k/n accuracies
    that agree up to float noise are a tie, not an order). ``values``: 1-D, finite.
    """
    arr = as_float_array(values, "values").ravel()
    if not np.all(np.isfinite(arr)):
        raise ValueError("values must be finite to be ranked")
    key = np.round(arr, decimals) * (1.0 if higher_is_better else -1.0)
    return [int(np.sum(key > k)) + 1 for k in key]

"""Input checks shared by the statistics functions: one clear ValueError line per bad input.

Scalars go through ``uncertainty_lr.checks`` (numpy's scalars accepted); arrays are checked here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from uncertainty_lr.checks import check_int, check_number

#: A 1-D run of numbers, one per seed (or per run): a list or a numpy array.
Values = Sequence[float] | np.ndarray

#: Bootstrap draws are made in chunks of at most this many indices to bound memory.
BOOT_CHUNK_ELEMENTS = 1 << 20


def as_float_array(x: object, name: str) -> np.ndarray:
    """Return ``x`` as a float64 array of any shape, or raise ValueError naming ``name``."""
    try:
        return np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be an array of numbers, got {type(x).__name__}") from err


def finite_scores(x: object, name: str, *, matrix: bool = False) -> np.ndarray:
    """``x`` as a non-empty float array of finite scores; with ``matrix`` of shape (runs,
    tasks), a 1-D ``x`` being one task. ValueError naming ``name`` otherwise."""
    arr = as_float_array(x, name)
    if matrix:
        arr = arr[:, None] if arr.ndim == 1 else arr
        if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
            raise ValueError(
                f"{name} must have shape (runs, tasks) with runs, tasks > 0, got {arr.shape}"
            )
    elif arr.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf; drop or impute missing runs first")
    return arr


def as_1d(x: object, name: str) -> np.ndarray:
    """Return ``x`` as a 1-D float64 array, or raise ValueError naming ``name``."""
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a 1-D array of numbers, got {type(x).__name__}") from err
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, got shape {arr.shape}")
    return arr


def check_confidence(confidence: float) -> float:
    """Confidence level of a two-sided interval, in (0, 1)."""
    return float(check_number("confidence", confidence, 0.0, 1.0, numpy=True))


def check_n_boot(n_boot: int) -> int:
    """Number of bootstrap resamples, a positive integer."""
    return int(check_int("n_boot", n_boot, numpy=True))


def check_seed(seed: int) -> int:
    """Seed of numpy's default generator, a non-negative integer."""
    return int(check_int("seed", seed, 0, numpy=True))


def check_finite_number(value: float, name: str) -> float:
    """A finite real number (targets, budgets)."""
    return float(check_number(name, value, -math.inf, math.inf, numpy=True))


def percentile_interval(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    """Two-sided percentile interval of bootstrap ``samples`` at level ``confidence``."""
    alpha = 1.0 - confidence
    low, high = np.quantile(samples, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(low), float(high)

"""Mean and 95 % t-interval over seeds per epoch, kept inside the range the metric can take.

A t-interval over 2 or 3 seeds is wide, and unclipped it reaches values the metric cannot
take (a validation accuracy of 1.2, a loss below 0), which a reader takes for a bug. The
band is the interval intersected with the metric's range (``value_range``); the mean is
never changed. No plotting here: figures draw what these functions return.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats as sps

#: Epoch-record keys whose values are fractions in [0, 1]: accuracies, F1, ECE and the
#: normalised uncertainty signals (0 = sure, 1 = unsure).
FRACTION_SUFFIXES = ("accuracy", "f1", "ece", "entropy", "confidence", "margin",
                     "mutual_information", "variance")  # fmt: skip


def value_range(key: str) -> tuple[float | None, float | None]:
    """(lowest, highest) value of the epoch-record ``key``; None = unbounded on that side.

    Fractions (``FRACTION_SUFFIXES``) lie in [0, 1], losses (keys ending in 'loss') at or
    above 0; anything else (the LR, times, a signed signal) is left unbounded.
    """
    if key.endswith(FRACTION_SUFFIXES):
        return 0.0, 1.0
    if key.endswith("loss"):
        return 0.0, None
    return None, None


def mean_band(
    values: np.ndarray, limits: tuple[float | None, float | None] = (None, None)
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-column mean and 95 % t-interval over rows, NaN ignored; shape (columns,) each.

    ``values``: shape (seeds, columns). Columns with fewer than 2 values get a NaN band (the
    mean alone is drawn). ``limits``: (low, high) the band is clipped to (``value_range``).
    """
    count = np.isfinite(values).sum(axis=0)
    # all-NaN columns stay NaN; numpy would warn "mean of empty slice" for each
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(values, axis=0)
        sd = np.nanstd(values, axis=0, ddof=1)
    half = np.full(mean.shape, np.nan)
    ok = count >= 2
    half[ok] = sps.t.ppf(0.975, count[ok] - 1) * sd[ok] / np.sqrt(count[ok])
    low, high = mean - half, mean + half
    bottom, top = limits
    if bottom is not None:
        low, high = np.fmax(low, bottom), np.fmax(high, bottom)
    if top is not None:
        low, high = np.fmin(low, top), np.fmin(high, top)
    # np.fmax / np.fmin return the limit where the band is NaN: keep "no band" as NaN
    low[~ok], high[~ok] = np.nan, np.nan
    return mean, low, high

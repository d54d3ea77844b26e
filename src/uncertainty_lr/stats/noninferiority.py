"""Non-inferiority of A against B on paired seeds: is A at most ``margin`` worse than B?

"A is as good as B" is a claim that needs evidence of its own. An interval of the difference
that happens to include 0 is not that evidence: fewer or noisier seeds make it wider, so it
includes 0 more easily. The non-inferiority test turns the claim around. With the per-seed
differences ``d = a - b`` (higher is better) it asks whether the one-sided lower confidence
bound of ``mean(d)`` lies above ``-margin``::

    lower = mean(d) - t_{confidence, n-1} * std(d, ddof=1) / sqrt(n)
    non-inferior  <=>  lower > -margin

which is the one-sided paired t-test of H0: mean(d) <= -margin against H1: mean(d) > -margin
at level ``1 - confidence`` (``scipy.stats.ttest_1samp(d, -margin, alternative="greater")``,
whose ``confidence_interval(confidence).low`` is ``lower``). Noisier or fewer seeds now make
the claim harder, not easier.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from uncertainty_lr.stats._checks import Values, as_1d, check_confidence, check_finite_number

#: Default margin in accuracy (0.005 = half a percentage point): a schedule that loses less
#: than this to the baseline counts as "as good as" it.
DEFAULT_MARGIN = 0.005
#: Fewest paired seeds a non-inferiority claim is tested on (as the two-sided paired t-test).
MIN_PAIRS = 3


@dataclass(frozen=True)
class NonInferiority:
    """Result of ``non_inferiority``: is mean(a - b) above ``-margin``?

    ``lower`` is the one-sided ``confidence`` lower bound of mean(a - b), ``p`` the one-sided
    p-value of H0: mean(a - b) <= -margin. Both are None when the test could not be made
    (fewer than ``MIN_PAIRS`` pairs, zero variance), and ``notes`` says why. ``n_dropped``:
    pairs left out because either side was NaN.
    """

    n: int
    margin: float
    confidence: float
    mean_diff: float | None
    lower: float | None
    p: float | None
    notes: tuple[str, ...]
    n_dropped: int = 0

    @property
    def holds(self) -> bool | None:
        """True when the lower bound is above -margin; None when not tested."""
        return None if self.lower is None else self.lower > -self.margin


def check_margin(margin: object) -> float:
    """A non-inferiority margin: a finite number >= 0 in the metric's units."""
    value = check_finite_number(margin, "margin")
    if value < 0:
        raise ValueError(f"margin must be >= 0 (in the metric's units), got {value:g}")
    return value


def non_inferiority(
    a: Values,
    b: Values,
    margin: float = DEFAULT_MARGIN,
    *,
    confidence: float = 0.95,
) -> NonInferiority:
    """Test whether A is non-inferior to B by ``margin``, paired by seed (higher is better).

    ``a[k]``, ``b[k]``: the metric of seed k (1-D, equal length; NaN drops the pair, noted).
    For a metric where lower is better, pass ``(-a, -b)``. ``margin`` >= 0 in the metric's
    units (default ``DEFAULT_MARGIN`` accuracy); ``confidence`` of the one-sided bound
    (default 0.95, so the test has level 0.05).
    """
    a_arr, b_arr = as_1d(a, "a"), as_1d(b, "b")
    if a_arr.size != b_arr.size:
        raise ValueError(
            f"a and b must have the same length (paired by seed), got {a_arr.size} and {b_arr.size}"
        )
    if np.isinf(a_arr).any() or np.isinf(b_arr).any():
        raise ValueError("a and b must be finite or NaN (a missing run), got inf")
    margin = check_margin(margin)
    confidence = check_confidence(confidence)
    keep = ~(np.isnan(a_arr) | np.isnan(b_arr))
    d = a_arr[keep] - b_arr[keep]
    n, dropped = int(d.size), int(keep.size - keep.sum())
    notes = [f"dropped {dropped} of {keep.size} pairs with NaN"] if dropped else []
    mean = float(np.mean(d)) if n else None
    if n < MIN_PAIRS:
        notes.append(f"non-inferiority test needs at least {MIN_PAIRS} paired seeds, have {n}")
        return NonInferiority(n, margin, confidence, mean, None, None, tuple(notes), dropped)
    sd = float(np.std(d, ddof=1))
    if sd == 0.0:
        # A bound of width zero would claim a certainty that a handful of seeds cannot give.
        notes.append("non-inferiority test not computed: the differences have zero variance")
        return NonInferiority(n, margin, confidence, mean, None, None, tuple(notes), dropped)
    se = sd / math.sqrt(n)
    lower = mean - float(sps.t.ppf(confidence, n - 1)) * se
    p = float(sps.t.sf((mean + margin) / se, n - 1))
    return NonInferiority(n, margin, confidence, mean, lower, p, tuple(notes), dropped)

"""Paired comparison of schedule A (the uncertainty schedule) against a baseline B, by seed.

Seed k means the same data split, init and batch order for both schedules, so the unit of
analysis is the per-seed difference ``d = a - b``. Every statistic here can be checked by hand
on a few numbers; when one cannot be computed (too few seeds, zero variance, ...) its field is
``None`` and ``notes`` says why, so a report never prints a number that means nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from uncertainty_lr.checks import check_number
from uncertainty_lr.stats._checks import (
    Values,
    as_1d,
    check_confidence,
    check_finite_number,
)

# Below this many non-zero differences the exact two-sided Wilcoxon p is at least
# 2 / 2**5 = 0.0625, so "not significant" says nothing about the schedules.
WILCOXON_MIN_PAIRS_FOR_5_PERCENT = 6
# scipy's wilcoxon(method="auto") enumerates all 2**n sign flips up to this n when there are
# ties or zeros; above it, it falls back to the normal approximation.
_WILCOXON_MAX_ENUMERATED = 13


@dataclass(frozen=True)
class PairedComparison:
    """Result of comparing A against B over ``n`` paired seeds.

    Differences are always ``a - b`` (``mean_diff``, the t-interval ``ci_low`` / ``ci_high``,
    ``t_stat``, ``cohens_dz``), whatever the direction of the metric; ``higher_is_better`` only
    decides what ``prob_improvement`` counts as "A better". Fields that could not be computed
    are ``None`` and explained in ``notes``. ``n_censored_a`` / ``n_censored_b`` / ``budget``
    are set only by ``compare_censored`` (time-to-target comparisons), ``None`` otherwise.
    """

    n: int
    mean_a: float | None
    mean_b: float | None
    mean_diff: float | None
    ci_low: float | None
    ci_high: float | None
    t_stat: float | None
    t_p: float | None
    w_stat: float | None
    w_p: float | None
    cohens_dz: float | None
    prob_improvement: float | None
    notes: tuple[str, ...]
    higher_is_better: bool = True
    confidence: float = 0.95
    n_dropped: int = 0
    n_censored_a: int | None = None
    n_censored_b: int | None = None
    budget: float | None = None


def t_interval(d: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """Paired t-interval of ``mean(d)``: ``mean(d) -/+ t_{n-1} * std(d, ddof=1) / sqrt(n)``.

    ``d``: 1-D differences with at least 2 values and non-zero variance; ``t_{n-1}`` is the
    ``(1 + confidence) / 2`` quantile of Student's t with ``n - 1`` degrees of freedom (as
    ``scipy.stats.ttest_rel(a, b).confidence_interval(confidence)``). Exact for normal
    differences at any n, so it holds its level with 3-10 seeds where a percentile bootstrap
    of the mean does not (about 75 % coverage at n = 3); at ``confidence = 0.95`` it excludes 0
    exactly when the two-sided paired t-test gives p < 0.05.
    """
    n = d.size
    half = float(sps.t.ppf(0.5 + confidence / 2.0, n - 1)) * float(np.std(d, ddof=1)) / math.sqrt(n)
    mean = float(np.mean(d))
    return mean - half, mean + half


def _interval(d: np.ndarray, confidence: float, notes: list[str]):
    """The reported interval of mean(d); ``(None, None)`` with a note when it is undefined."""
    # A zero-width interval would claim certainty that a handful of seeds cannot give.
    if _undefined(d, 2, "t-interval", notes):
        return None, None
    return t_interval(d, confidence)


def _undefined(d: np.ndarray, at_least: int, what: str, notes: list[str]) -> bool:
    """Whether ``what`` (a t-test or t-interval) is undefined on the differences ``d``:
    fewer than ``at_least`` pairs, or no variance; says why in ``notes``."""
    if d.size < at_least:
        notes.append(f"{what} needs at least {at_least} paired seeds, have {d.size}")
        return True
    if np.all(d == d[0]):
        why = "all paired differences are zero" if d[0] == 0 else "differences have zero variance"
        notes.append(f"{what} not computed: {why}")
        return True
    return False


def _paired_inputs(a: object, b: object) -> tuple[np.ndarray, np.ndarray]:
    a_arr, b_arr = as_1d(a, "a"), as_1d(b, "b")
    if a_arr.size != b_arr.size:
        raise ValueError(
            f"a and b must have the same length (paired by seed), got {a_arr.size} and {b_arr.size}"
        )
    if a_arr.size == 0:
        raise ValueError("a and b must not be empty, got 0 pairs")
    return a_arr, b_arr


def _drop_nan_pairs(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, int, list[str]]:
    """Drop every pair where either side is NaN (a missing or failed run); say how many."""
    keep = ~(np.isnan(a) | np.isnan(b))
    dropped = int(a.size - keep.sum())
    notes = []
    if dropped:
        notes.append(f"dropped {dropped} of {a.size} pairs with NaN (missing or failed runs)")
    return a[keep], b[keep], dropped, notes


def _wilcoxon(d: np.ndarray, notes: list[str]) -> tuple[float | None, float | None]:
    """Two-sided Wilcoxon signed-rank test on differences ``d`` (zeros dropped, scipy's default)."""
    nonzero = d[d != 0]
    if nonzero.size == 0:
        notes.append("Wilcoxon test not computed: all paired differences are zero")
        return None, None
    if nonzero.size < WILCOXON_MIN_PAIRS_FOR_5_PERCENT:
        notes.append(
            f"Wilcoxon test has {nonzero.size} non-zero differences; with fewer than "
            f"{WILCOXON_MIN_PAIRS_FOR_5_PERCENT} no two-sided p below 0.05 is possible"
        )
    has_ties = np.unique(np.abs(nonzero)).size < nonzero.size
    if (has_ties or nonzero.size < d.size) and d.size > _WILCOXON_MAX_ENUMERATED:
        notes.append("Wilcoxon p uses the normal approximation (ties or zero differences, n > 13)")
    # method="auto": exact without ties/zeros, exact sign-flip enumeration with them (n <= 13).
    res = sps.wilcoxon(d, alternative="two-sided", method="auto")
    return float(res.statistic), float(res.pvalue)


def _ttest(a: np.ndarray, b: np.ndarray, d: np.ndarray, notes: list[str]):
    """Two-sided paired t-test; ``None`` when it is undefined or meaningless."""
    if _undefined(d, 3, "t-test", notes):
        return None, None
    res = sps.ttest_rel(a, b, alternative="two-sided")
    return float(res.statistic), float(res.pvalue)


def _cohens_dz(d: np.ndarray, notes: list[str]) -> float | None:
    """Standardised mean difference of paired data: mean(d) / std(d, ddof=1)."""
    if d.size < 2:
        notes.append(f"Cohen's d_z needs at least 2 paired seeds, have {d.size}")
        return None
    sd = float(np.std(d, ddof=1))
    if sd == 0.0:
        notes.append("Cohen's d_z not computed: differences have zero variance")
        return None
    return float(np.mean(d)) / sd


def _prob_improvement(a: np.ndarray, b: np.ndarray, higher_is_better: bool) -> float:
    """Fraction of pairs where A beats B; a tie counts 1/2."""
    better = a > b if higher_is_better else a < b
    return float(np.mean(better + 0.5 * (a == b)))


def _compare_clean(
    a: np.ndarray,
    b: np.ndarray,
    n_dropped: int,
    notes: list[str],
    *,
    higher_is_better: bool,
    confidence: float,
    **extra: float | int | None,
) -> PairedComparison:
    """All statistics on NaN-free, finite pairs ``a``, ``b`` (``_drop_nan_pairs``'s output)."""
    n = int(a.size)

    def result(*stats: float | None) -> PairedComparison:  # the 11 after n, in field order
        return PairedComparison(n, *stats, notes=tuple(notes), higher_is_better=higher_is_better,
                                confidence=confidence, n_dropped=n_dropped, **extra)  # fmt: skip

    if n == 0:
        notes.append("no complete pairs left: nothing could be computed")
        return result(*([None] * 11))
    d = a - b
    t_stat, t_p = _ttest(a, b, d, notes)
    ci_low, ci_high = _interval(d, confidence, notes)
    w_stat, w_p = _wilcoxon(d, notes)
    means = (float(np.mean(a)), float(np.mean(b)), float(np.mean(d)))
    return result(*means, ci_low, ci_high, t_stat, t_p, w_stat, w_p, _cohens_dz(d, notes),
                  _prob_improvement(a, b, higher_is_better))  # fmt: skip


def compare_paired(
    a: Values,
    b: Values,
    *,
    higher_is_better: bool = True,
    confidence: float = 0.95,
) -> PairedComparison:
    """Compare schedule A against baseline B on one metric, paired by seed.

    ``a[k]`` and ``b[k]`` are the metric of seed k (1-D, equal length). A pair with NaN on
    either side is dropped (noted). Infinite values are refused: for time-to-target with runs
    that never reached the target use ``compare_censored``. ``ci_low``, ``ci_high`` are the paired
    t-interval of mean(a - b) at level ``confidence`` (``t_interval``), the interval the t-test
    implies; it needs 2 seeds and non-zero variance of the differences.
    """
    a_arr, b_arr = _paired_inputs(a, b)
    for name, arr in (("a", a_arr), ("b", b_arr)):
        if np.isinf(arr).any():
            raise ValueError(
                f"{name} contains inf; use compare_censored for times that never reached a target"
            )
    confidence = check_confidence(confidence)
    return _compare_clean(
        *_drop_nan_pairs(a_arr, b_arr),
        higher_is_better=bool(higher_is_better),
        confidence=confidence,
    )


def compare_censored(
    a: Values,
    b: Values,
    budget: float,
    *,
    confidence: float = 0.95,
) -> PairedComparison:
    """Compare time-to-target of A against B (lower is better) when some runs never got there.

    ``a[k]``, ``b[k]``: epochs (or seconds) seed k needed to reach the target, ``math.inf``
    when it never did within ``budget`` (the epochs or seconds every run was given); NaN marks
    a missing run and drops the pair. Finite times must lie in [0, budget].

    Convention: a censored time is replaced by ``budget + 1``, a conservative lower bound
    (the run needed more than the budget). So every censored run ranks behind every run that
    reached the target, and the sign of each difference is right unless both runs of a pair
    are censored, which become a tie (a zero difference, dropped by Wilcoxon, counted 1/2 by
    ``prob_improvement``). Magnitudes are not right: means, the t-interval, d_z and the t-test
    use the imputed values and are noted as bounds / unreliable whenever anything is censored.
    """
    a_arr, b_arr = _paired_inputs(a, b)
    budget = check_finite_number(budget, "budget")
    if budget <= 0:
        raise ValueError(f"budget must be > 0, got {budget}")
    for name, arr in (("a", a_arr), ("b", b_arr)):
        known = arr[~np.isnan(arr) & ~np.isposinf(arr)]
        if known.size and (known.min() < 0 or known.max() > budget):
            bad = known.min() if known.min() < 0 else known.max()
            raise ValueError(
                f"{name} contains {bad:g}; times must be in [0, budget={budget:g}] or inf"
            )
    confidence = check_confidence(confidence)
    a_arr, b_arr, n_dropped, notes = _drop_nan_pairs(a_arr, b_arr)
    cens_a, cens_b = np.isposinf(a_arr), np.isposinf(b_arr)
    n_cens_a, n_cens_b = int(cens_a.sum()), int(cens_b.sum())
    if n_cens_a or n_cens_b:
        n = a_arr.size
        notes.append(
            f"{n_cens_a} of {n} A runs and {n_cens_b} of {n} B runs never reached the target; "
            f"their times are set to budget + 1 = {budget + 1:g}, a lower bound, so means, "
            "the t-interval and d_z use imputed times and are not estimates of the true ones"
        )
        if (cens_a & cens_b).any():
            notes.append(
                f"pairs censored on both sides count as ties: {int((cens_a & cens_b).sum())}"
            )
        notes.append("t-test is unreliable with censored times (computed on the imputed values)")
    imputed = budget + 1.0
    a_arr, b_arr = np.where(cens_a, imputed, a_arr), np.where(cens_b, imputed, b_arr)
    return _compare_clean(a_arr, b_arr, n_dropped, notes, higher_is_better=False,
                          confidence=confidence, n_censored_a=n_cens_a, n_censored_b=n_cens_b,
                          budget=budget)  # fmt: skip


def holm(pvalues: Sequence[float | None]) -> list[float | None]:
    """Holm-Bonferroni adjusted p-values, in the input order.

    With the m non-None p-values sorted ascending, p_(1) <= ... <= p_(m), the adjusted value
    is max over j <= i of min(1, (m - j + 1) * p_(j)): monotone in p and capped at 1 (as
    statsmodels' ``multipletests(method="holm")``). ``None`` entries (tests that could not be
    computed) are skipped, do not count towards m, and stay ``None``.
    """
    values = list(pvalues)
    present = []
    for i, p in enumerate(values):
        if p is None:
            continue
        check_number("each p-value", p, 0.0, 1.0, "[]", numpy=True, why=" or None")
        present.append(i)
    m = len(present)
    adjusted: list[float | None] = [None] * len(values)
    running = 0.0
    for rank, i in enumerate(sorted(present, key=lambda k: values[k])):
        running = max(running, min(1.0, (m - rank) * float(values[i])))
        adjusted[i] = running
    return adjusted


def holm_confidence(p: float | None, holm_p: float | None, alpha: float = 0.05) -> float | None:
    """Confidence level of the two-sided t-interval that agrees with a Holm-adjusted test.

    The two-sided t-interval at level ``1 - g`` excludes 0 exactly when the t-test's ``p`` is
    below ``g``. With ``g = alpha * p / holm_p`` that is exactly when ``holm_p < alpha``, so the
    interval at ``1 - alpha * p / holm_p`` says what the Holm verdict says (for a Bonferroni
    step, ``holm_p = m * p``, it is the familiar ``1 - alpha / m``). It is the interval that
    belongs to the verdict, not a simultaneous confidence set. None when either p is None or
    ``p`` is 0 (an underflowed p: no interval of finite width matches it).
    """
    if p is None or holm_p is None or p <= 0.0:
        return None
    check_confidence(1.0 - alpha)
    if not 0.0 <= p <= holm_p <= 1.0:
        raise ValueError(f"need 0 <= p <= holm_p <= 1, got p={p!r}, holm_p={holm_p!r}")
    return 1.0 - alpha * p / holm_p

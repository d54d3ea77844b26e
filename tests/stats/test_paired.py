"""compare_paired, compare_censored, holm and holm_confidence against scipy and hand-worked
numbers."""

import math
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats as sps

from uncertainty_lr.stats import (
    compare_censored,
    compare_paired,
    holm,
    holm_confidence,
    t_interval,
)

INF = math.inf

# d = a - b = [2, 1, -3, 4, 5, 7, 6]: distinct |d|, no zeros, so the Wilcoxon test is exact.
B = np.array([10.0, 14, 10, 16, 9, 12, 8])
A = B + np.array([2.0, 1, -3, 4, 5, 7, 6])


def test_import_does_not_pull_in_torch():
    code = "import sys, uncertainty_lr.stats; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_means_ttest_and_wilcoxon_match_scipy_and_hand_numbers():
    r = compare_paired(A, B)
    assert r.n == 7 and r.n_dropped == 0 and r.notes == ()
    assert r.mean_a == pytest.approx(A.mean()) and r.mean_b == pytest.approx(B.mean())
    assert r.mean_diff == pytest.approx(22 / 7)
    t = sps.ttest_rel(A, B)
    assert (r.t_stat, r.t_p) == pytest.approx((t.statistic, t.pvalue))
    w = sps.wilcoxon(A - B)
    assert (r.w_stat, r.w_p) == pytest.approx((w.statistic, w.pvalue))
    # By hand: only d = -3 is negative, rank 3, so W = 3. Sign patterns of ranks 1..7 with
    # negative-rank sum <= 3: {}, {1}, {2}, {3}, {1, 2} -> two-sided p = 2 * 5 / 2**7.
    assert r.w_stat == 3.0
    assert r.w_p == pytest.approx(10 / 128)


def test_cohens_dz_by_hand():
    r = compare_paired(A, B)
    # sum d = 22, sum d^2 = 140, n = 7: var = (140 - 22**2 / 7) / 6 = 496 / 42.
    dz = (22 / 7) / math.sqrt(496 / 42)
    assert r.cohens_dz == pytest.approx(dz)
    assert r.t_stat == pytest.approx(dz * math.sqrt(7))  # paired t = d_z * sqrt(n)


def test_differences_are_a_minus_b_whatever_the_direction():
    up = compare_paired(A, B, higher_is_better=True)
    down = compare_paired(A, B, higher_is_better=False)
    assert up.mean_diff == down.mean_diff > 0
    assert (up.ci_low, up.ci_high, up.cohens_dz) == (down.ci_low, down.ci_high, down.cohens_dz)
    assert up.prob_improvement == pytest.approx(6 / 7)
    assert down.prob_improvement == pytest.approx(1 / 7)


def test_prob_improvement_counts_ties_as_half():
    a = [1.0, 2, 3, 4, 5]
    b = [0.0, 2, 5, 4, 1]  # A higher on pairs 0 and 4, lower on 2, tied on 1 and 3
    assert compare_paired(a, b).prob_improvement == pytest.approx((2 + 0.5 * 2) / 5)
    lower = compare_paired(a, b, higher_is_better=False).prob_improvement
    assert lower == pytest.approx((1 + 0.5 * 2) / 5)


def test_interval_is_the_paired_t_interval_of_scipy():
    r = compare_paired(A, B)
    expected = sps.ttest_rel(A, B).confidence_interval(0.95)
    assert (r.ci_low, r.ci_high) == pytest.approx((expected.low, expected.high))
    d = A - B  # by hand: mean 22/7, sd sqrt(496/42), t_{6, 0.975} = 2.446912
    half = 2.446912 * math.sqrt(496 / 42) / math.sqrt(7)
    assert (r.ci_low, r.ci_high) == pytest.approx((22 / 7 - half, 22 / 7 + half), abs=1e-5)
    sem = sps.sem(d)
    low, high = sps.t.interval(0.90, d.size - 1, loc=d.mean(), scale=sem)
    assert t_interval(d, 0.90) == pytest.approx((low, high))
    wide = compare_paired(A, B, confidence=0.99)
    assert wide.ci_low < r.ci_low < r.mean_diff < r.ci_high < wide.ci_high


def test_interval_of_three_close_seeds_includes_zero_as_the_t_test_says():
    # A percentile bootstrap of these differences gives [0.004, 0.031], excluding 0 although
    # the paired t-test p is 0.256.
    d = np.array([0.004, 0.006, 0.031])
    r = compare_paired(d, np.zeros(3))
    expected = sps.ttest_1samp(d, 0.0).confidence_interval(0.95)
    assert (r.ci_low, r.ci_high) == pytest.approx((expected.low, expected.high))
    assert r.ci_low < 0 < r.ci_high
    assert r.t_p == pytest.approx(0.256, abs=5e-4)


def test_interval_excludes_zero_exactly_when_t_test_p_below_005():
    rng = np.random.default_rng(7)
    for n in (3, 4, 6, 10):
        for _ in range(50):
            d = rng.normal(0.5, 1.0, size=n)
            r = compare_paired(d, np.zeros(n))
            assert (r.ci_low > 0 or r.ci_high < 0) == (r.t_p < 0.05)


@pytest.mark.parametrize("n", [3, 5, 10])
def test_interval_covers_the_true_mean_95_percent_of_the_time(n):
    # 2,000 seeded normal samples with true mean 0: a 95 % interval must cover 0 in
    # 93-97 % of them (the percentile bootstrap covered about 75 % at n = 3, 85 % at n = 5).
    rng = np.random.default_rng(2024 + n)
    draws = rng.normal(0.0, 0.01, size=(2000, n))
    covered = 0
    for d in draws:
        r = compare_paired(d, np.zeros(n))
        covered += r.ci_low <= 0.0 <= r.ci_high
    assert 0.93 <= covered / len(draws) <= 0.97


def test_too_few_pairs_for_ttest_and_interval():
    r = compare_paired([0.9, 0.8], [0.85, 0.82])
    assert r.t_stat is None and r.t_p is None
    assert "t-test needs at least 3 paired seeds, have 2" in r.notes
    assert r.cohens_dz is not None
    # Two seeds give a valid (wide) t-interval with 1 degree of freedom.
    expected = sps.ttest_rel([0.9, 0.8], [0.85, 0.82]).confidence_interval(0.95)
    assert (r.ci_low, r.ci_high) == pytest.approx((expected.low, expected.high))
    one = compare_paired([0.9], [0.8])
    assert one.ci_low is None and one.ci_high is None and one.cohens_dz is None
    assert "t-interval needs at least 2 paired seeds, have 1" in one.notes
    assert one.mean_diff == pytest.approx(0.1) and one.prob_improvement == 1.0


def test_wilcoxon_small_sample_note():
    five = compare_paired([1.0, 2, 3, 4, 5], [0.0] * 5)
    assert five.w_p == pytest.approx(2 / 32)  # the smallest exact two-sided p for n = 5
    assert any("no two-sided p below 0.05 is possible" in note for note in five.notes)
    six = compare_paired([1.0, 2, 3, 4, 5, 6], [0.0] * 6)
    assert six.w_p == pytest.approx(2 / 64)
    assert not any("below 0.05" in note for note in six.notes)


def test_all_differences_zero_gives_none_not_nan():
    r = compare_paired([0.9, 0.8, 0.7, 0.6], [0.9, 0.8, 0.7, 0.6])
    assert r.t_p is None and r.w_p is None and r.cohens_dz is None and r.ci_low is None
    assert "t-interval not computed: all paired differences are zero" in r.notes
    assert r.mean_diff == 0.0 and r.prob_improvement == 0.5
    assert "t-test not computed: all paired differences are zero" in r.notes
    assert "Wilcoxon test not computed: all paired differences are zero" in r.notes


def test_constant_nonzero_difference_has_no_t_or_dz():
    r = compare_paired([2.0, 3, 4, 5], [1.0, 2, 3, 4])
    assert r.t_p is None and r.cohens_dz is None
    assert "t-test not computed: differences have zero variance" in r.notes
    assert "Cohen's d_z not computed: differences have zero variance" in r.notes
    assert r.w_p == pytest.approx(2 / 16)  # all four signs positive
    assert (r.ci_low, r.ci_high) == (None, None)  # not a zero-width "certain" interval
    assert "t-interval not computed: differences have zero variance" in r.notes


def test_nan_pairs_are_dropped_with_a_note():
    nan = math.nan
    r = compare_paired([1.0, nan, 3, 4, 6], [0.0, 1, nan, 2, 3])
    assert r.n == 3 and r.n_dropped == 2
    assert "dropped 2 of 5 pairs with NaN (missing or failed runs)" in r.notes
    assert r.mean_a == pytest.approx(11 / 3) and r.mean_diff == pytest.approx(2.0)
    empty = compare_paired([nan, 1.0], [2.0, nan])
    assert empty.n == 0 and empty.mean_a is None and empty.prob_improvement is None
    assert any("no complete pairs" in note for note in empty.notes)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"a": [1.0, 2], "b": [1.0]}, "same length"),
        ({"a": [], "b": []}, "must not be empty"),
        ({"a": [[1.0]], "b": [[1.0]]}, "1-D"),
        ({"a": [1.0, INF], "b": [1.0, 2]}, "compare_censored"),
        (
            {"a": [1.0], "b": [1.0], "confidence": 1.5},
            r"confidence must be a number in \(0, 1\), got 1.5",
        ),
    ],
)
def test_compare_paired_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        compare_paired(**kwargs)


def test_censored_comparison_convention():
    a = [3.0, INF, 5, INF, 4, 2]
    b = [4.0, 6, INF, INF, 7, 5]
    r = compare_censored(a, b, budget=10)
    assert (r.n_censored_a, r.n_censored_b, r.budget) == (2, 2, 10.0)
    assert r.higher_is_better is False
    # Imputed with budget + 1 = 11: a = [3, 11, 5, 11, 4, 2], b = [4, 6, 11, 11, 7, 5].
    a_imp = np.array([3.0, 11, 5, 11, 4, 2])
    b_imp = np.array([4.0, 6, 11, 11, 7, 5])
    assert r.mean_a == pytest.approx(6.0) and r.mean_b == pytest.approx(44 / 6)
    # Lower is better: A wins pairs 0, 2, 4, 5; pair 3 (both censored) is a tie.
    assert r.prob_improvement == pytest.approx(4.5 / 6)
    w = sps.wilcoxon(a_imp - b_imp)
    assert (r.w_stat, r.w_p) == pytest.approx((w.statistic, w.pvalue))
    t = sps.ttest_rel(a_imp, b_imp)
    assert r.t_p == pytest.approx(t.pvalue)
    assert any("t-test is unreliable with censored times" in note for note in r.notes)
    assert any("budget + 1 = 11" in note for note in r.notes)
    assert "pairs censored on both sides count as ties: 1" in r.notes


def test_censored_without_censoring_has_no_censoring_notes():
    r = compare_censored([3.0, 4, 5, 2, 6, 3], [4.0, 6, 8, 3, 9, 7], budget=10)
    assert (r.n_censored_a, r.n_censored_b) == (0, 0)
    assert r.notes == ()
    plain = compare_paired([3.0, 4, 5, 2, 6, 3], [4.0, 6, 8, 3, 9, 7], higher_is_better=False)
    assert (r.t_p, r.w_p, r.prob_improvement) == (plain.t_p, plain.w_p, plain.prob_improvement)


def test_censored_drops_nan_pairs_before_counting():
    r = compare_censored([INF, math.nan, 3.0], [2.0, INF, 4.0], budget=5)
    assert r.n == 2 and r.n_dropped == 1
    assert (r.n_censored_a, r.n_censored_b) == (1, 0)


@pytest.mark.parametrize(
    ("a", "budget", "message"),
    [
        ([3.0, 12.0], 10, r"a contains 12; times must be in \[0, budget=10\] or inf"),
        ([-1.0, 2.0], 10, "a contains -1"),
        ([-INF, 2.0], 10, "a contains -inf"),
        ([1.0, 2.0], 0, "budget must be > 0"),
        ([1.0, 2.0], INF, "budget must be a finite number"),
    ],
)
def test_compare_censored_rejects_bad_input(a, budget, message):
    with pytest.raises(ValueError, match=message):
        compare_censored(a, [1.0, 2.0], budget=budget)


def test_holm_hand_worked():
    # m = 4, sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> running
    # max 0.06, as statsmodels.stats.multitest.multipletests(p, method="holm") gives.
    got = holm([0.01, 0.04, 0.03, 0.005])
    assert got == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_holm_skips_none_caps_at_one_and_ties_are_equal():
    got = holm([0.01, None, 0.04, 0.03, 0.005])
    assert got[1] is None
    assert [got[i] for i in (0, 2, 3, 4)] == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.6, 0.2]) == pytest.approx([1.0, 1.0, 0.6])  # 0.5 * 2 = 1.0 is capped
    assert holm([0.01, 0.01]) == pytest.approx([0.02, 0.02])
    assert holm([]) == [] and holm([None]) == [None]
    assert holm(np.array([0.2])) == pytest.approx([0.2])


@pytest.mark.parametrize("bad", [1.5, -0.1, math.nan, "0.1"])
def test_holm_rejects_bad_pvalues(bad):
    with pytest.raises(ValueError, match="each p-value must be"):
        holm([0.01, bad])


def test_wilcoxon_notes_normal_approximation_for_large_tied_samples():
    d = np.array([1.0, 1, -1, 2, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0])  # ties, a zero, n = 15
    r = compare_paired(d, np.zeros_like(d))
    w = sps.wilcoxon(d)
    assert (r.w_stat, r.w_p) == pytest.approx((w.statistic, w.pvalue))
    assert any("normal approximation" in note for note in r.notes)
    assert not any("normal approximation" in note for note in compare_paired(A, B).notes)


def test_holm_interval_excludes_zero_exactly_when_holm_p_is_below_005():
    # The interval beside a Holm verdict is at level 1 - 0.05 x p / holm_p: it says "better"
    # or "worse" exactly when the verdict does, where the 95 % interval can disagree.
    rng = np.random.default_rng(11)
    samples = [rng.normal(0.4, 1.0, size=n) for n in (3, 4, 5, 6, 8) for _ in range(8)]
    ps = [sps.ttest_1samp(d, 0.0).pvalue for d in samples]
    adjusted = holm(ps)
    disagree = 0
    for d, p, p_holm in zip(samples, ps, adjusted, strict=True):
        level = holm_confidence(p, p_holm)
        low, high = t_interval(d, level)
        assert (low > 0 or high < 0) == (p_holm < 0.05)
        want = sps.ttest_1samp(d, 0.0).confidence_interval(level)
        assert (low, high) == pytest.approx((want.low, want.high), rel=1e-9)
        plain_low, plain_high = t_interval(d, 0.95)
        disagree += (plain_low > 0 or plain_high < 0) != (p_holm < 0.05)
    assert disagree > 0  # the unadjusted interval does disagree with Holm somewhere here


def test_holm_confidence_by_hand_and_its_edges():
    # the first Holm step multiplies p by m: the interval of a Bonferroni step, 1 - 0.05 / m
    assert holm_confidence(0.001, 0.004) == pytest.approx(1 - 0.05 / 4)
    assert holm_confidence(0.3, 1.0) == pytest.approx(0.985)
    assert holm_confidence(None, 0.2) is None and holm_confidence(0.0, 0.0) is None
    with pytest.raises(ValueError, match="p <= holm_p"):
        holm_confidence(0.2, 0.1)

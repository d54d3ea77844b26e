"""non_inferiority: the one-sided paired-t lower bound against a margin, checked against scipy
and by hand; it holds its level, and fewer or noisier seeds make the claim harder."""

import math

import numpy as np
import pytest
from scipy import stats as sps

from uncertainty_lr.stats import DEFAULT_MARGIN, compare_paired, non_inferiority


def test_bound_and_p_are_scipys_one_sided_paired_t_test():
    a = np.array([0.912, 0.905, 0.921, 0.899, 0.915])
    b = np.array([0.910, 0.911, 0.915, 0.902, 0.913])
    r = non_inferiority(a, b, margin=0.005)
    d = a - b
    want = sps.ttest_1samp(d, -0.005, alternative="greater")
    assert r.p == pytest.approx(want.pvalue, rel=1e-12)
    assert r.lower == pytest.approx(want.confidence_interval(0.95).low, rel=1e-12)
    # the same test, phrased as scipy's paired test of a + margin against b
    shifted = sps.ttest_rel(a + 0.005, b, alternative="greater")
    assert r.p == pytest.approx(shifted.pvalue, rel=1e-9)
    assert r.mean_diff == pytest.approx(d.mean()) and r.n == 5 and r.margin == 0.005
    assert r.holds is (r.lower > -0.005) and r.holds is (r.p < 0.05)


def test_by_hand_three_seeds():
    # d = (+0.01, -0.01, 0): mean 0, sd 0.01, se 0.01 / sqrt 3, t_{0.95, 2} = 2.919986
    r = non_inferiority([0.91, 0.89, 0.90], [0.90, 0.90, 0.90], margin=0.005)
    assert r.lower == pytest.approx(-2.919986 * 0.01 / math.sqrt(3), abs=1e-7)
    assert r.holds is False  # -0.0169 is below -0.005: not shown to be as good
    close = non_inferiority([0.901, 0.902, 0.900, 0.901, 0.902], [0.900] * 5, margin=0.005)
    assert close.lower > 0 > -0.005 and close.holds is True


def test_noise_makes_the_claim_harder_where_an_interval_containing_zero_made_it_easier():
    # A is 0.002 worse on average with noisy seeds: the two-sided interval includes 0
    # ("no detectable difference"), the non-inferiority bound is far below -margin.
    a = np.array([0.93, 0.86, 0.92, 0.87])
    b = np.array([0.90, 0.90, 0.90, 0.90])
    two_sided = compare_paired(a, b)
    assert two_sided.ci_low < 0 < two_sided.ci_high
    assert non_inferiority(a, b).holds is False
    assert DEFAULT_MARGIN == 0.005


def test_the_test_holds_its_level_at_the_margin():
    # true mean difference exactly -margin: a level-0.05 test claims non-inferiority 5 %
    rng = np.random.default_rng(0)
    sims = 2000
    for n in (3, 5, 8):
        d = -0.005 + 0.01 * rng.standard_normal((sims, n))
        claims = sum(bool(non_inferiority(row, np.zeros(n)).holds) for row in d)
        assert abs(claims / sims - 0.05) < 0.015, (n, claims / sims)


def test_too_few_seeds_zero_variance_and_nan_pairs_say_why():
    two = non_inferiority([0.9, 0.91], [0.9, 0.9])
    assert two.lower is None and two.holds is None
    assert "at least 3 paired seeds, have 2" in two.notes[0]
    flat = non_inferiority([0.91, 0.91, 0.91], [0.9, 0.9, 0.9])
    assert flat.lower is None and "zero variance" in flat.notes[0]
    nan = non_inferiority([0.9, np.nan, 0.91, 0.92, 0.9], [0.9, 0.9, np.nan, 0.9, 0.91])
    assert nan.n == 3 and nan.n_dropped == 2 and "dropped 2 of 5 pairs" in nan.notes[0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"margin": -0.01}, "margin must be >= 0"),
        ({"margin": float("nan")}, "margin must be a finite number"),
        ({"confidence": 1.5}, "confidence must be a number in"),
    ],
)
def test_bad_input_is_one_line(kwargs, message):
    with pytest.raises(ValueError, match=message):
        non_inferiority([0.9, 0.9, 0.9], [0.8, 0.85, 0.9], **kwargs)
    with pytest.raises(ValueError, match="same length"):
        non_inferiority([0.9, 0.9], [0.9])

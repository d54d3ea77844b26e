"""iqm, iqm_ci (stratified bootstrap), mean_std, summarise, competition_ranks and
normalise_scores on hand-checkable numbers."""

import math

import numpy as np
import pytest
from scipy import stats as sps

from uncertainty_lr.stats import (
    competition_ranks,
    iqm,
    iqm_ci,
    mean_std,
    normalise_scores,
    summarise,
)


def test_iqm_matches_trim_mean_and_hand_value():
    # 1..8: drop 1, 2 and 7, 8 -> mean(3, 4, 5, 6) = 4.5
    assert iqm(np.arange(1.0, 9.0)) == pytest.approx(4.5)
    scores = np.array([[1.0, 2, 3], [2, 3, 4], [5, 6, 100]])
    assert iqm(scores) == pytest.approx(sps.trim_mean(scores.ravel(), 0.25))
    # 9 values, 2 cut at each end: mean(2, 3, 3, 4, 5) = 3.4; the outlier 100 does not matter
    assert iqm(scores) == pytest.approx(3.4)


@pytest.mark.parametrize(
    ("x", "message"), [([], "must not be empty"), ([1.0, math.nan], "NaN or inf")]
)
def test_iqm_rejects_empty_and_nan(x, message):
    with pytest.raises(ValueError, match=message):
        iqm(x)


SCORES = np.array(
    [
        [0.90, 0.70, 0.55],
        [0.92, 0.74, 0.60],
        [0.88, 0.69, 0.52],
        [0.95, 0.80, 0.58],
        [0.91, 0.72, 0.50],
    ]
)


def test_iqm_ci_contains_point_and_is_reproducible():
    point, low, high = iqm_ci(SCORES, n_boot=1000, seed=1)
    assert point == pytest.approx(iqm(SCORES))
    assert low < point < high
    assert iqm_ci(SCORES, n_boot=1000, seed=1) == (point, low, high)
    assert iqm_ci(SCORES, n_boot=1000, seed=2) != (point, low, high)


def test_iqm_ci_equals_slow_reference():
    rng = np.random.default_rng(5)
    runs, tasks = SCORES.shape
    boot = []
    for _ in range(300):
        rows = rng.integers(0, runs, size=(runs, tasks))
        resampled = np.column_stack([SCORES[rows[:, j], j] for j in range(tasks)])
        boot.append(sps.trim_mean(resampled.ravel(), 0.25))
    expected = np.quantile(boot, [0.025, 0.975])
    _, low, high = iqm_ci(SCORES, n_boot=300, seed=5)
    assert (low, high) == pytest.approx(tuple(expected))


def test_iqm_ci_is_stratified_by_task():
    # Each task is constant over runs, so resampling runs within a task changes nothing;
    # a bootstrap that mixed tasks would vary the share of 0s and 1s.
    scores = np.array([[0.0, 1.0]] * 4)
    assert iqm_ci(scores, n_boot=200, seed=0) == (0.5, 0.5, 0.5)


def test_iqm_ci_one_task_and_one_run():
    point, low, high = iqm_ci([1.0, 2.0, 3.0, 4.0], n_boot=200)
    assert point == pytest.approx(2.5) and low <= point <= high
    assert iqm_ci([[0.3, 0.6]]) == (pytest.approx(0.45), None, None)


def test_iqm_ci_rejects_bad_input():
    with pytest.raises(ValueError, match=r"shape \(runs, tasks\)"):
        iqm_ci(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match=r"confidence must be a number in \(0, 1\), got 0"):
        iqm_ci(SCORES, confidence=0)


def test_mean_std():
    mean, std = mean_std([1.0, 2, 3, 4])
    assert mean == pytest.approx(2.5) and std == pytest.approx(math.sqrt(5 / 3))  # ddof=1
    assert mean_std([5.0]) == (5.0, None)
    assert mean_std([]) == (None, None)
    assert mean_std([1.0, math.nan, 3.0]) == (pytest.approx(2.0), pytest.approx(math.sqrt(2)))
    with pytest.raises(ValueError, match="x contains inf"):
        mean_std([1.0, math.inf])


def test_summarise_with_missing_values():
    s = summarise([1.0, 2, 3, 4, math.nan])
    assert (s["n"], s["n_missing"], s["n_inf"]) == (4, 1, 0)
    assert s["mean"] == pytest.approx(2.5) and s["median"] == pytest.approx(2.5)
    assert s["std"] == pytest.approx(math.sqrt(5 / 3))
    assert s["sem"] == pytest.approx(math.sqrt(5 / 3) / 2)
    assert s["iqm"] == pytest.approx(2.5)  # 4 values, one cut at each end: mean(2, 3)
    assert (s["q25"], s["q75"], s["min"], s["max"]) == pytest.approx((1.75, 3.25, 1.0, 4.0))


def test_summarise_with_censored_values_keeps_only_order_statistics():
    s = summarise([1.0, 2.0, math.inf])
    assert s["n_inf"] == 1 and s["median"] == 2.0 and s["max"] == math.inf
    assert s["mean"] is None and s["std"] is None and s["sem"] is None and s["iqm"] is None
    assert s["q25"] == 1.5 and s["q75"] == math.inf  # q75 interpolates between 2 and inf
    half = summarise([1.0, 3.0, math.inf, math.inf])
    assert half["median"] == math.inf and half["q25"] == pytest.approx(2.5)  # 1 + 0.75 * (3 - 1)
    with pytest.raises(ValueError, match="x contains -inf"):
        summarise([1.0, -math.inf])


def test_summarise_quantiles_match_numpy_without_inf():
    x = np.array([3.0, 1.0, 4.0, 1.5, 9.0, 2.6])
    s = summarise(x)
    expected = np.quantile(x, [0.25, 0.5, 0.75])
    assert (s["q25"], s["median"], s["q75"]) == pytest.approx(tuple(expected))


def test_summarise_tiny_samples():
    one = summarise([7.0])
    assert one["mean"] == 7.0 and one["std"] is None and one["sem"] is None
    empty = summarise([math.nan])
    assert empty["n"] == 0 and empty["n_missing"] == 1
    assert all(empty[k] is None for k in ("mean", "median", "min", "max", "iqm"))


def test_competition_ranks_share_a_rank_on_ties():
    assert competition_ranks([0.9, 0.95, 0.9, 0.8]) == [2, 1, 2, 4]
    assert competition_ranks([0.1 + 0.2, 0.3, 0.2]) == [1, 1, 3]  # equal up to float noise
    assert competition_ranks([3.0, 1.0, 2.0], higher_is_better=False) == [3, 1, 2]
    with pytest.raises(ValueError, match="finite"):
        competition_ranks([0.9, float("nan")])


def test_normalise_scores_between_chance_and_the_best_arm():
    scores = np.array([[0.55, 0.98], [0.5, 0.1]])
    got = normalise_scores(scores, low=[0.5, 0.1], high=[0.6, 0.9])
    np.testing.assert_allclose(got, [[0.5, 1.1], [0.0, 0.0]])
    np.testing.assert_allclose(normalise_scores([0.3, 0.5], [0.1], [0.5]), [[0.5], [1.0]])
    with pytest.raises(ValueError, match="high > low"):
        normalise_scores(scores, low=[0.5, 0.9], high=[0.6, 0.9])
    with pytest.raises(ValueError, match="one value per task"):
        normalise_scores(scores, low=[0.5], high=[0.6])

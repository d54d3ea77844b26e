"""Time to target, the AlgoPerf-style default target and performance profiles, by hand."""

import math

import numpy as np
import pytest

from uncertainty_lr.stats import (
    DEFAULT_TARGET_FRACTION,
    default_target,
    epochs_to_target,
    performance_profile,
    performance_ratios,
    seconds_to_target,
)

INF = math.inf
CURVE = [0.5, 0.7, 0.9, 0.95]


def test_epochs_to_target_is_one_based_and_inclusive():
    assert epochs_to_target(CURVE, 0.9) == 3.0  # reaching the target exactly counts
    assert epochs_to_target(CURVE, 0.4) == 1.0
    assert epochs_to_target(CURVE, 0.91) == 4.0


def test_epochs_to_target_never_reached_is_inf():
    assert epochs_to_target(CURVE, 0.99) == INF
    assert epochs_to_target([], 0.5) == INF
    assert epochs_to_target([math.nan, math.nan], 0.1) == INF  # diverged run
    assert epochs_to_target([math.nan, 0.95], 0.9) == 2.0


def test_seconds_to_target():
    seconds = [10.0, 21.0, 33.0, 44.0]
    assert seconds_to_target(CURVE, seconds, 0.9) == 33.0
    assert seconds_to_target(CURVE, seconds, 0.99) == INF


@pytest.mark.parametrize(
    ("curve", "seconds", "target", "message"),
    [
        ([0.5, 0.6], [1.0], 0.5, "same length"),
        ([0.5, 0.6], [2.0, 1.0], 0.5, "non-decreasing"),
        ([0.5, 0.6], [-1.0, 1.0], 0.5, "finite and >= 0"),
        ([0.5, 0.6], [1.0, INF], 0.5, "finite and >= 0"),
        ([0.5, 0.6], [1.0, 2.0], math.nan, "target must be a finite number"),
    ],
)
def test_seconds_to_target_rejects_bad_input(curve, seconds, target, message):
    with pytest.raises(ValueError, match=message):
        seconds_to_target(curve, seconds, target)


def test_epochs_to_target_rejects_2d_curve():
    with pytest.raises(ValueError, match="curve must be a 1-D array"):
        epochs_to_target([[0.1, 0.2]], 0.5)


def test_default_target_uses_best_baseline_median():
    best = {
        "cosine": [0.90, 0.92, 0.91],  # median 0.91
        "step": [0.93, 0.80, 0.94],  # median 0.93: the best baseline
        "uncertainty": [0.99, 0.99, 0.99],  # not a baseline: never sets the target
    }
    assert DEFAULT_TARGET_FRACTION == 0.99
    assert default_target(best, ["cosine", "step"]) == pytest.approx(0.99 * 0.93)
    assert default_target(best, ["cosine"], fraction=0.5) == pytest.approx(0.455)


def test_default_target_ignores_nan_seeds():
    best = {"cosine": [0.90, math.nan, 0.92], "step": [math.nan, math.nan]}
    assert default_target(best, ["cosine", "step"], fraction=1.0) == pytest.approx(0.91)


@pytest.mark.parametrize(
    ("baselines", "fraction", "message"),
    [
        (["adam"], 0.99, "baseline 'adam' not in best_val_acc_by_schedule"),
        ([], 0.99, "baselines must be a non-empty list"),
        ("cosine", 0.99, "baselines must be a non-empty list"),
        (["cosine"], 0.0, r"fraction must be a number in \(0, 1\], got 0.0"),
        (["cosine"], 1.2, r"fraction must be a number in \(0, 1\]"),
        (["empty"], 0.99, "no baseline"),
    ],
)
def test_default_target_rejects_bad_input(baselines, fraction, message):
    best = {"cosine": [0.9], "empty": [math.nan]}
    with pytest.raises(ValueError, match=message):
        default_target(best, baselines, fraction)


# Two schedules x three problems. Best per problem: 10, 10, 30.
TIMES = {"uncertainty": [10.0, 20.0, INF], "cosine": [20.0, 10.0, 30.0]}


def test_performance_ratios_by_hand():
    ratios = performance_ratios(TIMES)
    assert list(ratios) == ["uncertainty", "cosine"]
    np.testing.assert_array_equal(ratios["uncertainty"], [1.0, 2.0, INF])
    np.testing.assert_array_equal(ratios["cosine"], [2.0, 1.0, 1.0])


def test_performance_profile_by_hand():
    profile = performance_profile(TIMES, [1.0, 1.5, 2.0, 1000.0])
    np.testing.assert_allclose(profile["uncertainty"], [1 / 3, 1 / 3, 2 / 3, 2 / 3])
    np.testing.assert_allclose(profile["cosine"], [2 / 3, 2 / 3, 1.0, 1.0])


def test_problem_nobody_solved_counts_for_nobody():
    times = {"a": [5.0, INF], "b": [10.0, INF]}
    np.testing.assert_array_equal(performance_ratios(times)["b"], [2.0, INF])
    profile = performance_profile(times, [1.0, 2.0, 1e300])
    np.testing.assert_allclose(profile["a"], [0.5, 0.5, 0.5])
    np.testing.assert_allclose(profile["b"], [0.0, 0.5, 0.5])


@pytest.mark.parametrize(
    ("times", "message"),
    [
        ({}, "at least one schedule"),
        ({"a": [1.0, 2.0], "b": [1.0]}, "same length"),
        ({"a": [1.0, math.nan]}, "use inf for a problem"),
        ({"a": [0.0, 1.0]}, "times must be > 0 or inf, got 0"),
        ({"a": [-INF, 1.0]}, "times must be > 0 or inf"),
    ],
)
def test_performance_profile_rejects_bad_times(times, message):
    with pytest.raises(ValueError, match=message):
        performance_profile(times, [1.0])


@pytest.mark.parametrize("tau", [math.nan, INF])
def test_performance_profile_rejects_non_finite_tau(tau):
    with pytest.raises(ValueError, match="taus must be finite"):
        performance_profile(TIMES, [1.0, tau])


def test_algoperf_score_is_the_normalised_area_under_the_profile():
    from uncertainty_lr.stats import algoperf_score

    times = {"a": [10.0, 20.0, math.inf], "b": [20.0, 10.0, 30.0], "c": [50.0, 60.0, 30.0]}
    scores = algoperf_score(times)
    # ratios a: 1, 2, inf -> (3 + 2 + 0) / 3 / 3; b: 2, 1, 1 -> (2 + 3 + 3) / 9;
    # c: 5, 6, 1 -> (0 + 0 + 3) / 9
    assert scores == pytest.approx({"a": 5 / 9, "b": 8 / 9, "c": 3 / 9})
    taus = np.linspace(1.0, 4.0, 300001)
    for name, rho in performance_profile(times, taus).items():
        area = float(np.sum((rho[1:] + rho[:-1]) / 2 * np.diff(taus))) / 3.0
        assert scores[name] == pytest.approx(area, abs=1e-4)
    assert algoperf_score({"only": [3.0]}) == {"only": 1.0}
    with pytest.raises(ValueError, match="tau_max must be > 1, got 1"):
        algoperf_score(times, tau_max=1.0)

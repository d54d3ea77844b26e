"""probability_of_improvement (+ CI), iqm / iqm_ci and divergence_test, checked against
rliable and scipy on hand-made numbers."""

import numpy as np
import pytest
from scipy import stats as sps

from uncertainty_lr.stats import (
    divergence_test,
    improvement_permutation_test,
    iqm,
    iqm_ci,
    probability_of_improvement,
    probability_of_improvement_ci,
)

rly_metrics = pytest.importorskip("rliable.metrics")


def rliable_library():
    """rliable.library (its bootstrap) imports arch, which fails to import next to some
    pandas versions; the slow references below check the same thing without it."""
    try:
        from rliable import library
    except Exception as error:  # noqa: BLE001 - any import failure of arch means skip
        pytest.skip(f"rliable.library does not import here: {type(error).__name__}: {error}")
    return library


# 5 runs x 3 tasks for X, 4 runs x 3 tasks for Y (different run counts on purpose).
X = np.array(
    [[0.91, 0.60, 0.30], [0.93, 0.62, 0.35], [0.90, 0.58, 0.31], [0.95, 0.64, 0.29],
     [0.92, 0.61, 0.33]]
)  # fmt: skip
Y = np.array([[0.90, 0.61, 0.30], [0.91, 0.59, 0.36], [0.89, 0.60, 0.28], [0.92, 0.57, 0.30]])


def test_probability_of_improvement_by_hand():
    # one task: X = (1, 2), Y = (2, 0): pairs 1>2 no, 1>0 yes, 2=2 half, 2>0 yes -> 2.5 / 4
    assert probability_of_improvement([1.0, 2.0], [2.0, 0.0]) == pytest.approx(0.625)
    assert probability_of_improvement([[1.0, 5.0]], [[1.0, 4.0]]) == pytest.approx(0.75)


def test_probability_of_improvement_matches_rliable():
    ours = probability_of_improvement(X, Y)
    assert ours == pytest.approx(rly_metrics.probability_of_improvement(X, Y))
    assert probability_of_improvement(Y, X) == pytest.approx(1 - ours)
    same = probability_of_improvement(X, X)
    assert same == pytest.approx(rly_metrics.probability_of_improvement(X, X)) == 0.5


def test_probability_of_improvement_ci_equals_slow_reference():
    # rliable's StratifiedIndependentBootstrap, one resample at a time: X's runs and Y's runs
    # are redrawn independently, each within every task column.
    # Same draws as the fast version (all of X's indices, then all of Y's, in one chunk).
    n_boot, rng = 300, np.random.default_rng(5)
    rows_x = rng.integers(0, X.shape[0], size=(n_boot, *X.shape))
    rows_y = rng.integers(0, Y.shape[0], size=(n_boot, *Y.shape))
    boot = []
    for i in range(n_boot):
        rx = np.take_along_axis(X, rows_x[i], axis=0)
        ry = np.take_along_axis(Y, rows_y[i], axis=0)
        boot.append(rly_metrics.probability_of_improvement(rx, ry))
    want = np.quantile(boot, [0.025, 0.975])
    point, low, high = probability_of_improvement_ci(X, Y, n_boot=n_boot, seed=5)
    assert point == pytest.approx(rly_metrics.probability_of_improvement(X, Y))
    assert (low, high) == pytest.approx(tuple(want))


def test_probability_of_improvement_ci_matches_rliable_bootstrap():
    rly_library = rliable_library()
    point, low, high = probability_of_improvement_ci(X, Y, n_boot=20000, seed=1)
    pe, ie = rly_library.get_interval_estimates(
        {"xy": [X, Y]},
        lambda x, y: np.array([rly_metrics.probability_of_improvement(x, y)]),
        reps=20000,
        random_state=np.random.RandomState(1),
    )
    assert point == pytest.approx(float(pe["xy"][0]))
    # Different random streams: the percentile bounds agree to bootstrap noise.
    assert low == pytest.approx(float(ie["xy"][0, 0]), abs=0.02)
    assert high == pytest.approx(float(ie["xy"][1, 0]), abs=0.02)
    assert low < point < high
    assert probability_of_improvement_ci(X, Y, n_boot=500, seed=3) == (
        probability_of_improvement_ci(X, Y, n_boot=500, seed=3)
    )


def test_iqm_and_its_ci_match_rliable():
    assert iqm(X) == pytest.approx(rly_metrics.aggregate_iqm(X))
    rly_library = rliable_library()
    point, low, high = iqm_ci(X, n_boot=20000, seed=2)
    pe, ie = rly_library.get_interval_estimates(
        {"x": X},
        lambda s: np.array([rly_metrics.aggregate_iqm(s)]),
        reps=20000,
        random_state=np.random.RandomState(2),
    )
    assert point == pytest.approx(float(pe["x"][0]))
    assert low == pytest.approx(float(ie["x"][0, 0]), abs=0.01)
    assert high == pytest.approx(float(ie["x"][1, 0]), abs=0.01)


def test_probability_of_improvement_ci_one_run_and_bad_input():
    assert probability_of_improvement_ci([[0.9, 0.5]], Y[:, :2])[1:] == (None, None)
    with pytest.raises(ValueError, match="same number of tasks"):
        probability_of_improvement(X, Y[:, :2])
    with pytest.raises(ValueError, match="NaN or inf"):
        probability_of_improvement([0.9, np.nan], [0.8, 0.7])
    with pytest.raises(ValueError, match=r"shape \(runs, tasks\)"):
        probability_of_improvement([], [0.8])


def test_divergence_test_matches_fisher_exact():
    result = divergence_test(4, 5, 0, 5)
    assert (result.rate_a, result.rate_b) == (0.8, 0.0)
    assert result.p == pytest.approx(sps.fisher_exact([[4, 1], [0, 5]])[1])
    # 4 diverged of 10: P(all 4 in A) = C(5,4) / C(10,4) = 5 / 210, both tails -> 10 / 210
    assert result.p == pytest.approx(10 / 210)
    assert divergence_test(0, 3, 0, 3).p == 1.0
    empty = divergence_test(0, 0, 1, 3)
    assert empty.rate_a is None and empty.p is None and empty.rate_b == pytest.approx(1 / 3)


@pytest.mark.parametrize(
    ("args", "message"),
    [((3, 2, 0, 2), r"diverged_a \(3\) must not exceed runs_a \(2\)"),
     ((-1, 2, 0, 2), "diverged_a must be a non-negative integer, got -1"),
     ((0, 2, 0.5, 2), "diverged_b must be a non-negative integer, got 0.5")],
)  # fmt: skip
def test_divergence_test_rejects_bad_counts(args, message):
    with pytest.raises(ValueError, match=message):
        divergence_test(*args)


def _slow_permutation_p(x: np.ndarray, y: np.ndarray) -> float:
    """Every relabelling of every task, one at a time (the definition, nothing vectorised)."""
    import itertools

    nx, tasks = x.shape
    pooled = np.concatenate([x, y])
    splits = []
    for t in range(tasks):
        column, options = pooled[:, t], []
        for chosen in itertools.combinations(range(len(column)), nx):
            rest = [i for i in range(len(column)) if i not in chosen]
            options.append(probability_of_improvement(column[list(chosen)], column[rest]))
        splits.append(options)
    observed = abs(probability_of_improvement(x, y) - 0.5)
    values = [abs(np.mean(combo) - 0.5) for combo in itertools.product(*splits)]
    return float(np.mean([v >= observed - 1e-12 for v in values]))


def test_permutation_test_enumerates_every_relabelling():
    x = np.array([[0.91, 0.60], [0.93, 0.66], [0.90, 0.58]])
    y = np.array([[0.90, 0.61], [0.89, 0.57], [0.88, 0.62]])
    point, p = improvement_permutation_test(x, y)
    assert point == pytest.approx(probability_of_improvement(x, y))
    assert p == pytest.approx(_slow_permutation_p(x, y), abs=1e-12)
    # three tasks, each separated perfectly in X's favour: only that relabelling and its
    # mirror image are as extreme, 2 of 20^3
    sep = np.array([[1.0, 2.0, 3.0]] * 3) + np.arange(3)[:, None] * 0.01
    assert improvement_permutation_test(sep + 1, sep) == (1.0, 2 / 8000)


def test_permutation_test_holds_its_level_where_the_bootstrap_interval_does_not():
    # 3 runs x 3 tasks with no difference: a level-0.05 test calls one 5 % of the time at most
    rng = np.random.default_rng(3)
    sims, called, bootstrap_called = 300, 0, 0
    for _ in range(sims):
        x, y = rng.normal(size=(3, 3)), rng.normal(size=(3, 3))
        called += improvement_permutation_test(x, y)[1] < 0.05
        _, low, high = probability_of_improvement_ci(x, y, n_boot=1000)
        bootstrap_called += low > 0.5 or high < 0.5
    assert called / sims <= 0.06
    assert bootstrap_called / sims > 0.08  # why the verdict does not read the interval


def test_permutation_test_samples_when_relabellings_are_many():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(8, 1)), rng.normal(size=(8, 1)) + 0.8  # C(16, 8) = 12,870
    point, p = improvement_permutation_test(x, y, n_permutations=5000, seed=2)
    assert point == pytest.approx(probability_of_improvement(x, y))
    assert p == improvement_permutation_test(x, y, n_permutations=5000, seed=2)[1]
    assert p == pytest.approx(_slow_permutation_p(x, y), abs=0.02)
    assert (p * 5001) == pytest.approx(round(p * 5001))  # (1 + hits) / (1 + draws)

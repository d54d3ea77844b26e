"""rliable's probability of improvement P(X > Y), its permutation test, and the divergence test.

``probability_of_improvement`` compares *unpaired* runs (every run of X against every run of
Y, per task, then averaged over tasks), the way rliable (Agarwal et al., 2021) defines it;
the paired "win rate" of ``compare_paired`` counts only seed-matched pairs. Its stratified
percentile bootstrap interval is too narrow with a few runs per task (at 3 runs x 3 tasks it
excludes 0.5 about 10 % of the time when X and Y are the same), so whether X and Y differ is
decided by ``improvement_permutation_test``, which holds its level at any run count.
``divergence_test`` compares how often two schedules diverge with Fisher's exact test.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from uncertainty_lr.checks import check_int
from uncertainty_lr.stats._checks import (
    BOOT_CHUNK_ELEMENTS,
    check_confidence,
    check_n_boot,
    check_seed,
    finite_scores,
    percentile_interval,
)


def _pair_inputs(x: object, y: object) -> tuple[np.ndarray, np.ndarray]:
    sx = finite_scores(x, "scores_x", matrix=True)
    sy = finite_scores(y, "scores_y", matrix=True)
    if sx.shape[1] != sy.shape[1]:
        raise ValueError(
            f"scores_x and scores_y must have the same number of tasks (columns), "
            f"got {sx.shape[1]} and {sy.shape[1]}"
        )
    return sx, sy


def _poi(sx: np.ndarray, sy: np.ndarray) -> np.ndarray:
    """P(X > Y) per resample: sx (B, runs_x, tasks), sy (B, runs_y, tasks) -> (B,)."""
    greater = (sx[:, :, None, :] > sy[:, None, :, :]).mean(axis=(1, 2))
    ties = (sx[:, :, None, :] == sy[:, None, :, :]).mean(axis=(1, 2))
    return (greater + 0.5 * ties).mean(axis=1)


def probability_of_improvement(
    scores_x: Sequence[Sequence[float]] | np.ndarray,
    scores_y: Sequence[Sequence[float]] | np.ndarray,
) -> float:
    """P(X > Y) averaged over tasks (rliable's ``probability_of_improvement``).

    ``scores_x``: shape (runs_x, tasks), ``scores_y``: shape (runs_y, tasks) (or 1-D for one
    task), higher is better; run counts may differ. Per task it is the fraction of the
    runs_x x runs_y pairs in which X scores higher, a tie counting 1/2 (the Mann-Whitney U
    statistic over runs_x * runs_y), then the mean over tasks. 0.5 = no edge either way.
    """
    sx, sy = _pair_inputs(scores_x, scores_y)
    return float(_poi(sx[None], sy[None])[0])


def probability_of_improvement_ci(
    scores_x: Sequence[Sequence[float]] | np.ndarray,
    scores_y: Sequence[Sequence[float]] | np.ndarray,
    n_boot: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[float, float | None, float | None]:
    """``(P(X > Y), low, high)`` with a stratified-bootstrap percentile interval.

    Each resample draws the runs of X and of Y with replacement, independently and within
    every task (rliable's ``StratifiedIndependentBootstrap``). With fewer than 2 runs on
    either side there is nothing to resample and ``low``, ``high`` are None.
    """
    sx, sy = _pair_inputs(scores_x, scores_y)
    confidence = check_confidence(confidence)
    n_boot, seed = check_n_boot(n_boot), check_seed(seed)
    point = float(_poi(sx[None], sy[None])[0])
    (nx, tasks), ny = sx.shape, sy.shape[0]
    if nx < 2 or ny < 2:
        return point, None, None
    rng = np.random.default_rng(seed)
    boot = np.empty(n_boot)
    chunk = max(1, BOOT_CHUNK_ELEMENTS // (nx * ny * tasks))
    columns = np.arange(tasks)
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        rows_x = rng.integers(0, nx, size=(stop - start, nx, tasks))
        rows_y = rng.integers(0, ny, size=(stop - start, ny, tasks))
        boot[start:stop] = _poi(sx[rows_x, columns], sy[rows_y, columns])
    low, high = percentile_interval(boot, confidence)
    return point, low, high


#: Permutations of ``improvement_permutation_test``: every relabelling when there are at most
#: this many, else this many random ones.
N_PERMUTATIONS = 10_000


def _labellings(column: np.ndarray, nx: int) -> tuple[np.ndarray, np.ndarray]:
    """Every split of one task's pooled runs into nx 'X' runs and the rest 'Y':
    (X scores, shape (splits, nx)), (Y scores, shape (splits, n - nx))."""
    n = column.size
    xs = np.array(list(itertools.combinations(range(n), nx)), dtype=int)
    mask = np.ones((xs.shape[0], n), dtype=bool)
    np.put_along_axis(mask, xs, False, axis=1)
    ys = np.nonzero(mask)[1].reshape(xs.shape[0], n - nx)
    return column[xs], column[ys]


def improvement_permutation_test(
    scores_x: Sequence[Sequence[float]] | np.ndarray,
    scores_y: Sequence[Sequence[float]] | np.ndarray,
    n_permutations: int = N_PERMUTATIONS,
    seed: int = 0,
) -> tuple[float, float]:
    """``(P(X > Y), two-sided p)`` of the null "X and Y are exchangeable within every task".

    ``scores_x`` (runs_x, tasks), ``scores_y`` (runs_y, tasks) as in
    ``probability_of_improvement``. Under the null any relabelling of a task's pooled runs into
    runs_x 'X' and runs_y 'Y' runs is as likely as the observed one; p is the fraction of
    relabellings (independently per task) whose P(X > Y) is at least as far from 0.5 as the
    observed. All prod_t C(runs_x + runs_y, runs_x) relabellings are enumerated when there are
    at most ``n_permutations`` (8,000 at 3 runs x 3 tasks: exact); otherwise ``n_permutations``
    random ones are drawn and p = (1 + hits) / (1 + n_permutations), which keeps the level.
    """
    sx, sy = _pair_inputs(scores_x, scores_y)
    n_permutations, seed = check_n_boot(n_permutations), check_seed(seed)
    point = float(_poi(sx[None], sy[None])[0])
    (nx, tasks), ny = sx.shape, sy.shape[0]
    pooled = np.concatenate([sx, sy])  # (runs_x + runs_y, tasks)
    # A relabelling as extreme as the observed one, up to float noise in the mean over tasks.
    observed = abs(point - 0.5) - 1e-12
    if math.comb(nx + ny, nx) ** tasks <= n_permutations:
        total = np.zeros(1)
        for t in range(tasks):
            x, y = _labellings(pooled[:, t], nx)
            per_task = _poi(x[:, :, None], y[:, :, None])  # (splits,)
            total = (total[:, None] + per_task[None, :]).ravel()
        return point, float(np.mean(np.abs(total / tasks - 0.5) >= observed))
    rng = np.random.default_rng(seed)
    hits = 0
    chunk = max(1, BOOT_CHUNK_ELEMENTS // pooled.size)
    for start in range(0, n_permutations, chunk):
        size = min(n_permutations, start + chunk) - start
        keys = rng.random((size, nx + ny, tasks))
        order = np.argsort(keys, axis=1)  # an independent permutation of each task's runs
        shuffled = np.take_along_axis(np.broadcast_to(pooled, keys.shape), order, axis=1)
        stats = _poi(shuffled[:, :nx], shuffled[:, nx:])
        hits += int(np.sum(np.abs(stats - 0.5) >= observed))
    return point, (1 + hits) / (1 + n_permutations)


@dataclass(frozen=True)
class DivergenceTest:
    """Divergence counts of two schedules and Fisher's exact test of their rates.

    ``rate_a`` = ``diverged_a / runs_a`` (None without runs); ``p`` is the two-sided Fisher
    exact p of the 2x2 table [[diverged_a, runs_a - diverged_a], [diverged_b, ...]], None
    when either side has no run.
    """

    diverged_a: int
    runs_a: int
    diverged_b: int
    runs_b: int
    rate_a: float | None
    rate_b: float | None
    p: float | None


def _count(value: object, name: str) -> int:
    return int(check_int(name, value, 0, numpy=True))


def divergence_test(diverged_a: int, runs_a: int, diverged_b: int, runs_b: int) -> DivergenceTest:
    """Compare the divergence rates of A (``diverged_a`` of ``runs_a`` runs) and B.

    ``runs_*`` counts the runs that either finished or diverged (failed and running runs say
    nothing about divergence). Two-sided ``scipy.stats.fisher_exact``: exact for any counts,
    so it stays valid with 3 to 10 seeds where a chi-square test would not.
    """
    da, na = _count(diverged_a, "diverged_a"), _count(runs_a, "runs_a")
    db, nb = _count(diverged_b, "diverged_b"), _count(runs_b, "runs_b")
    for d, n, side in ((da, na, "a"), (db, nb, "b")):
        if d > n:
            raise ValueError(f"diverged_{side} ({d}) must not exceed runs_{side} ({n})")
    rate_a = da / na if na else None
    rate_b = db / nb if nb else None
    p = None
    if na and nb:
        p = float(sps.fisher_exact([[da, na - da], [db, nb - db]], alternative="two-sided")[1])
    return DivergenceTest(da, na, db, nb, rate_a, rate_b, p)

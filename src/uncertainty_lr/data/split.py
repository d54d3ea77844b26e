"""Seeded, stratified carving of splits and subsets.

Every function takes labels as a 1-D integer array and returns row indices in
ascending order (so a subset keeps the source order; training loops shuffle anyway).
Randomness comes only from the `numpy.random.Generator` passed in, so a seed fixes
the result exactly.
"""

from __future__ import annotations

import numpy as np

from uncertainty_lr.checks import check_int

# Independent random streams per carving step: the validation rows for seed k do not
# change when a train_size is added, because each step draws from its own stream.
STREAM_TEST = 1
STREAM_VAL = 2
STREAM_TRAIN_SUBSET = 3
STREAM_VAL_SUBSET = 4
STREAM_TEST_SUBSET = 5

# Datasets without a test split (the embedded digits set among them) get this fixed
# held-out fraction, carved with seed 0 whatever the run seed, so every run of a study
# is scored on the same rows.
FIXED_TEST_FRACTION = 0.2
FIXED_TEST_SEED = 0


def make_rng(seed: int, stream: int) -> np.random.Generator:
    """A generator for one carving step: same (seed, stream) -> same draws."""
    return np.random.default_rng([seed, stream])


def stratified_counts(class_counts: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """How many of `k` rows to take from each class so proportions match the source.

    Uses exact integer arithmetic (largest remainder): each class gets floor or ceil of
    its exact share class_count * k / total, so every count is within 1 of exact and the
    counts sum to k. Ties between equal remainders are broken by a seeded shuffle so no
    class is favoured systematically.
    """
    counts = np.asarray(class_counts, dtype=np.int64)
    total = int(counts.sum())
    if not 0 <= k <= total:
        raise ValueError(f"k must be in [0, {total}], got {k}")
    if total == 0:
        return np.zeros_like(counts)
    base = counts * k // total
    remainder = counts * k % total
    missing = k - int(base.sum())
    tie_break = rng.permutation(len(counts))
    # lexsort sorts by the last key first: largest remainder, then the random tie-break.
    order = np.lexsort((tie_break, -remainder))
    base[order[:missing]] += 1
    return base


def stratified_split(
    labels: np.ndarray, k: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Split rows into (k chosen, the rest), keeping class proportions.

    Args:
        labels: int array (N,).
        k: rows to choose, 0 <= k <= N.
        rng: the source of randomness (see `make_rng`).

    Returns:
        (chosen, rest): int64 index arrays, each sorted, disjoint, together 0..N-1.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {labels.shape}")
    classes, inverse = np.unique(labels, return_inverse=True)
    per_class = stratified_counts(np.bincount(inverse, minlength=len(classes)), k, rng)
    # Group row indices by class with one stable sort instead of a scan per class.
    by_class = np.argsort(inverse, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(inverse, minlength=len(classes)))])
    chosen = []
    for c in range(len(classes)):
        rows = by_class[bounds[c] : bounds[c + 1]]
        chosen.append(rows[rng.permutation(len(rows))[: per_class[c]]])
    chosen_idx = np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=np.int64)
    mask = np.ones(len(labels), dtype=bool)
    mask[chosen_idx] = False
    return chosen_idx.astype(np.int64), np.flatnonzero(mask).astype(np.int64)


def fraction_count(n: int, fraction: float, what: str) -> int:
    """Rows for `fraction` of `n`, at least 1 and leaving at least 1 behind."""
    if n < 2:
        raise ValueError(f"cannot carve a {what} split from {n} row(s); need at least 2")
    return min(max(1, round(n * fraction)), n - 1)


def check_size(value: int | None, name: str, available: int, where: str) -> None:
    """Raise ValueError unless value is None or an integer (numpy's too) in [1, available]."""
    check_int(name, value, 1, available, optional=True, numpy=True, why=f" ({where})")

"""Stratified, seeded carving: sizes, proportions, partitions and determinism."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from uncertainty_lr.data.split import (
    check_size,
    fraction_count,
    make_rng,
    stratified_counts,
    stratified_split,
)


def test_counts_follow_largest_remainder_by_hand():
    # 10 of 20 rows from classes of 10, 6, 4: exact shares 5, 3, 2.
    assert stratified_counts(np.array([10, 6, 4]), 10, make_rng(0, 0)).tolist() == [5, 3, 2]
    # 3 of 9 rows from classes of 5, 4: exact 1.67, 1.33 -> the larger remainder gets 2.
    assert stratified_counts(np.array([5, 4]), 3, make_rng(0, 0)).tolist() == [2, 1]


def test_counts_rejects_k_out_of_range():
    with pytest.raises(ValueError, match=r"k must be in \[0, 5\], got 6"):
        stratified_counts(np.array([2, 3]), 6, make_rng(0, 0))


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(
    labels=st.lists(st.integers(0, 4), min_size=1, max_size=200),
    share=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**31),
)
def test_split_is_a_stratified_partition(labels, share, seed):
    labels = np.array(labels)
    k = int(round(share * len(labels)))
    chosen, rest = stratified_split(labels, k, make_rng(seed, 7))
    assert len(chosen) == k
    assert np.array_equal(np.sort(np.concatenate([chosen, rest])), np.arange(len(labels)))
    assert np.all(np.diff(chosen) > 0) and np.all(np.diff(rest) > 0)
    for c in np.unique(labels):
        exact = k * np.sum(labels == c) / len(labels)
        assert abs(np.sum(labels[chosen] == c) - exact) < 1


def test_split_is_deterministic_per_seed_and_varies_across_seeds():
    labels = np.repeat(np.arange(3), 50)
    a, _ = stratified_split(labels, 30, make_rng(1, 2))
    b, _ = stratified_split(labels, 30, make_rng(1, 2))
    c, _ = stratified_split(labels, 30, make_rng(2, 2))
    d, _ = stratified_split(labels, 30, make_rng(1, 3))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert not np.array_equal(a, d)


def test_split_rejects_2d_labels():
    with pytest.raises(ValueError, match="labels must be 1-D"):
        stratified_split(np.zeros((2, 2), dtype=int), 1, make_rng(0, 0))


def test_fraction_count_keeps_one_row_each_side():
    assert fraction_count(100, 0.1, "validation") == 10
    assert fraction_count(5, 0.01, "validation") == 1
    assert fraction_count(5, 0.99, "validation") == 4
    with pytest.raises(ValueError, match="cannot carve a validation split from 1 row"):
        fraction_count(1, 0.5, "validation")


@pytest.mark.parametrize("value", [0, -3, 11, 2.5, True, "5"])
def test_check_size_rejects_bad_sizes(value):
    with pytest.raises(ValueError, match="train_size must be"):
        check_size(value, "train_size", 10, "rows available in train")


def test_check_size_accepts_none_and_in_range():
    check_size(None, "train_size", 10, "x")
    check_size(10, "train_size", 10, "x")
    check_size(np.int64(1), "train_size", 10, "x")

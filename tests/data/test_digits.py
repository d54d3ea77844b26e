"""The embedded digits set and the seed-dependent carving (`load.carve`)."""

from collections import Counter

import numpy as np
import pytest
import torch

from uncertainty_lr.data import load_data
from uncertainty_lr.data.digits import load_digits_arrays
from uncertainty_lr.data.load import carve


@pytest.fixture(scope="module")
def digits():
    return load_data("digits", seed=0)


def rows_of(x, y):
    """Multiset of (image bytes, label): identifies rows even if two images are equal."""
    return Counter((xi.numpy().tobytes(), int(yi)) for xi, yi in zip(x, y, strict=True))


def test_digits_shapes_dtypes_and_classes(digits):
    assert digits.name == "digits" and digits.kind == "image"
    assert digits.x_train.dtype == torch.uint8 and digits.y_train.dtype == torch.int64
    assert digits.x_train.shape[1:] == (1, 8, 8)
    assert digits.num_classes == 10 and digits.class_names == [str(i) for i in range(10)]
    # 1797 rows: fixed 20 % test (359), then 10 % of the rest as validation (144).
    assert digits.sizes() == {"train": 1294, "val": 144, "test": 359}
    assert int(digits.x_train.max()) == 255 and len(digits.mean) == 1
    assert digits.vocab_size == 0 and digits.source == "sklearn.datasets.load_digits"


def test_digits_splits_partition_the_full_set(digits):
    images, labels, _ = load_digits_arrays()
    full = rows_of(torch.from_numpy(images), torch.from_numpy(labels))
    parts = (
        rows_of(digits.x_train, digits.y_train)
        + rows_of(digits.x_val, digits.y_val)
        + rows_of(digits.x_test, digits.y_test)
    )
    assert parts == full


def test_digits_splits_are_stratified(digits):
    _, labels, _ = load_digits_arrays()
    full = np.bincount(labels, minlength=10)
    test = np.bincount(digits.y_test.numpy(), minlength=10)
    assert np.all(np.abs(test - 359 * full / full.sum()) < 1)
    train_val = full - test
    val = np.bincount(digits.y_val.numpy(), minlength=10)
    assert np.all(np.abs(val - 144 * train_val / train_val.sum()) < 1)


def test_digits_seed_changes_val_but_not_test(digits):
    again = load_data("digits", seed=0)
    other = load_data("digits", seed=1)
    assert torch.equal(again.x_val, digits.x_val) and torch.equal(again.y_train, digits.y_train)
    assert again.fingerprint == digits.fingerprint
    assert torch.equal(other.x_test, digits.x_test)
    assert not torch.equal(other.x_val, digits.x_val)
    assert other.fingerprint != digits.fingerprint


def test_digits_train_size_subset_is_stratified_and_keeps_val(digits):
    small = load_data("digits", seed=0, train_size=100, test_size=50)
    assert small.sizes() == {"train": 100, "val": 144, "test": 50}
    assert torch.equal(small.x_val, digits.x_val)  # adding a subset does not move validation
    counts = np.bincount(small.y_train.numpy(), minlength=10)
    parent = np.bincount(digits.y_train.numpy(), minlength=10)
    assert np.all(np.abs(counts - 100 * parent / parent.sum()) < 1)
    assert not rows_of(small.x_train, small.y_train) - rows_of(digits.x_train, digits.y_train)


def test_digits_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"val_fraction must be a number in \(0, 1\), got 1.5"):
        load_data("digits", val_fraction=1.5)
    with pytest.raises(ValueError, match="seed must be a non-negative integer, got -1"):
        load_data("digits", seed=-1)
    with pytest.raises(ValueError, match=r"train_size must be an integer in \[1, 1294\]"):
        load_data("digits", train_size=5000)
    with pytest.raises(ValueError, match="do not apply to the embedded 'digits'"):
        load_data("digits", label_column="y")
    with pytest.raises(ValueError, match="source must be"):
        load_data("")


def id_payload(n_train, n_test=None, n_val=None):
    """A decoded payload whose image bytes are the row ids, to track rows through carving."""

    def part(n, offset, classes):
        ids = torch.arange(offset, offset + n)
        x = torch.stack([ids // 256, ids % 256], dim=1).to(torch.uint8).view(n, 1, 1, 2)
        return {"x": x, "y": torch.arange(n) % classes}

    splits = {"train": part(n_train, 0, 3)}
    if n_test:
        splits["test"] = part(n_test, 10_000, 3)
    if n_val:
        splits["val"] = part(n_val, 20_000, 3)
    return {"name": "ids", "kind": "image", "source": "mem", "class_names": ["a", "b", "c"],
            "vocab_size": 0, "pad_id": 0, "splits": splits, "content_hash": "h"}  # fmt: skip


def ids(x):
    return set((x[:, 0, 0, 0].long() * 256 + x[:, 0, 0, 1].long()).tolist())


def test_carve_uses_existing_splits_and_subsamples_them():
    bundle = carve(id_payload(90, n_test=30, n_val=21), seed=3, val_fraction=0.5,
                   train_size=None, val_size=6, test_size=9)  # fmt: skip
    assert ids(bundle.x_train) == set(range(90))  # val_fraction ignored: a val split exists
    assert ids(bundle.x_val) <= set(range(20_000, 20_021)) and len(bundle.y_val) == 6
    assert ids(bundle.x_test) <= set(range(10_000, 10_030)) and len(bundle.y_test) == 9
    assert np.bincount(bundle.y_test.numpy()).tolist() == [3, 3, 3]


def test_carve_without_val_splits_train_disjointly():
    bundle = carve(id_payload(100, n_test=10), seed=0, val_fraction=0.25,
                   train_size=None, val_size=None, test_size=None)  # fmt: skip
    train, val = ids(bundle.x_train), ids(bundle.x_val)
    assert len(val) == 25 and not train & val and train | val == set(range(100))


def test_digits_come_back_from_the_cache_without_scikit_learn(tmp_path):
    fresh = load_data("digits", seed=3, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("digits-*.pt"))) == 1
    code = (
        "import sys; from uncertainty_lr.data import load_data; "
        f"b = load_data('digits', seed=3, cache_dir={str(tmp_path)!r}); "
        "print('sklearn' in sys.modules, b.fingerprint, b.sizes()['train'])"
    )
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", fresh.fingerprint, str(fresh.sizes()["train"])]


def test_digits_load_when_the_cache_cannot_be_written(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder would go")
    bundle = load_data("digits", seed=0, cache_dir=blocker / "cache")
    assert bundle.sizes() == {"train": 1294, "val": 144, "test": 359}

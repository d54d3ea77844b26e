"""All three real datasets from ../shared/datasets, decoded in full (about a minute, cold)."""

import datasets
import numpy as np
import pytest
import torch

from uncertainty_lr.data import load_data, resolve_source

# name, train rows before carving, test rows, input shape per row, classes
REAL = [
    ("mnist", 60_000, 10_000, (1, 28, 28), 10),
    ("cifar10", 50_000, 10_000, (3, 32, 32), 10),
    ("imdb", 25_000, 25_000, (128,), 2),
]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "n_train", "n_test", "shape", "classes"), REAL)
def test_real_dataset(
    shared_datasets, tmp_path, monkeypatch, name, n_train, n_test, shape, classes
):
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf"))
    source = resolve_source(name, data_dir=shared_datasets)
    bundle = load_data(
        source, seed=3, train_size=2000, max_length=128, vocab_size=4000, cache_dir=tmp_path / "c"
    )
    n_val = round(0.1 * n_train)
    assert bundle.sizes() == {"train": 2000, "val": n_val, "test": n_test}
    assert bundle.x_train.shape[1:] == shape and bundle.num_classes == classes
    expected_dtype = torch.int64 if name == "imdb" else torch.uint8
    assert bundle.x_train.dtype == bundle.x_test.dtype == expected_dtype
    # Stratified subset of a (near-)balanced train split: every class close to 2000 / C.
    counts = np.bincount(bundle.y_train.numpy(), minlength=classes)
    assert np.all(np.abs(counts - 2000 / classes) <= 0.15 * 2000 / classes), counts
    # All train rows not used for validation are available to train_size.
    with pytest.raises(
        ValueError, match=rf"train_size must be an integer in \[1, {n_train - n_val}\]"
    ):
        load_data(
            source, train_size=n_train, max_length=128, vocab_size=4000, cache_dir=tmp_path / "c"
        )
    if name == "imdb":
        assert bundle.vocab_size == 4000 and bundle.pad_id == 0 and bundle.mean == ()
        assert np.bincount(bundle.y_test.numpy()).tolist() == [12_500, 12_500]
    else:
        assert all(0.1 < m < 0.6 for m in bundle.mean) and all(0.2 < s < 0.4 for s in bundle.std)

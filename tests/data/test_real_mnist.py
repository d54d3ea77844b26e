"""The real MNIST folder (../shared/datasets/mnist), decoded in full once (~5 s)."""

import datasets
import numpy as np
import torch

from uncertainty_lr.data import load_data, resolve_source


def test_real_mnist_small_train_size(shared_datasets, tmp_path, monkeypatch):
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf"))
    source = resolve_source("mnist", data_dir=shared_datasets)
    bundle = load_data(source, seed=0, train_size=1000, test_size=500, cache_dir=tmp_path / "c")
    assert bundle.sizes() == {"train": 1000, "val": 6000, "test": 500}
    assert bundle.x_train.shape == (1000, 1, 28, 28) and bundle.x_train.dtype == torch.uint8
    assert bundle.num_classes == 10 and bundle.class_names[0] == "0"
    # Close to the well-known MNIST statistics, though measured on this 1000-image subset.
    assert abs(bundle.mean[0] - 0.1307) < 0.01 and abs(bundle.std[0] - 0.3081) < 0.01
    counts = np.bincount(bundle.y_train.numpy(), minlength=10)
    assert counts.min() >= 85 and counts.max() <= 115  # stratified: MNIST classes are 9-11 %

"""Shared test set-up: one torch thread, so tests are deterministic and do not fight over cores."""

from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)

SHARED_DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


@pytest.fixture
def shared_datasets() -> Path:
    """The real MNIST / CIFAR-10 / IMDB folders in the hub layout (../shared/datasets)."""
    if not SHARED_DATASETS.is_dir():
        pytest.skip(f"real datasets not found at {SHARED_DATASETS}")
    return SHARED_DATASETS

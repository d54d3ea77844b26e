"""The embedded default dataset: scikit-learn's 8x8 handwritten digits (no files needed)."""

from __future__ import annotations

import numpy as np

DIGITS_SOURCE = "sklearn.datasets.load_digits"


def load_digits_arrays() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """All 1,797 digits as (uint8 images (N, 1, 8, 8), int64 labels (N,), class names).

    scikit-learn stores pixels as 0..16; they are rescaled to 0..255 (rounded) so the
    images look like every other uint8 image set to the rest of the package. The set
    has no splits: `load_data` carves the test split itself.
    """
    from sklearn.datasets import load_digits  # lazy: only needed for this dataset

    raw = load_digits()
    images = np.round(raw.images * (255.0 / 16.0)).astype(np.uint8)[:, None, :, :]
    labels = raw.target.astype(np.int64)
    return images, labels, [str(i) for i in range(10)]

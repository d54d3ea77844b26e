"""Datasets as in-memory tensors: hub id or local folder -> DataBundle.

    from uncertainty_lr.data import load_data, resolve_source
    bundle = load_data(resolve_source("mnist", data_dir="../shared/datasets"), train_size=5000)
    # the same as load_data(..., DataSettings(train_size=5000)); see DataSettings
    x = bundle.normalise(bundle.x_train[:128])   # float32 (128, 1, 28, 28)

"digits" needs no files (scikit-learn's 8x8 digits). Decoded splits are cached on disk;
all carving (validation, subsets) is stratified and seeded.
"""

from uncertainty_lr.data.bundle import DataBundle, channel_stats
from uncertainty_lr.data.cache import default_cache_dir
from uncertainty_lr.data.hub import KNOWN_DATASETS, resolve_source
from uncertainty_lr.data.load import load_data
from uncertainty_lr.data.settings import DataSettings
from uncertainty_lr.data.split import stratified_split

__all__ = [
    "KNOWN_DATASETS",
    "DataBundle",
    "DataSettings",
    "channel_stats",
    "default_cache_dir",
    "load_data",
    "resolve_source",
    "stratified_split",
]

"""Local folders in the hub layout, written by the tests: detection, overrides, errors, cache."""

from pathlib import Path

import datasets
import numpy as np
import pytest
import torch
from PIL import Image

import uncertainty_lr.data.decode as decode_module
import uncertainty_lr.data.hub as hub
from uncertainty_lr.data import load_data

pytestmark = pytest.mark.usefixtures("isolated_caches")

NAMES = datasets.ClassLabel(names=["cat", "dog", "eel"])


def images(n, offset=0, size=(5, 6), mode="L"):
    """n images of size (H, W); pixel (0, 0) holds the row id so rows can be traced."""
    out = []
    for i in range(n):
        array = np.full((*size, 3) if mode == "RGB" else size, (7 * i) % 256, dtype=np.uint8)
        array[0, 0] = offset + i
        out.append(Image.fromarray(array, mode=mode))
    return out


def image_split(n, offset=0, labels=None, **kw):
    labels = [i % 3 for i in range(n)] if labels is None else labels
    feats = datasets.Features({"image": datasets.Image(), "label": NAMES})
    return datasets.Dataset.from_dict(
        {"image": images(n, offset, **kw), "label": labels}, features=feats
    )


def write_folder(root: Path, splits: dict) -> Path:
    """Each split to data/{split}-00000-of-00001.parquet, as on the hub."""
    (root / "data").mkdir(parents=True, exist_ok=True)
    for name, ds in splits.items():
        ds.to_parquet(root / "data" / f"{name}-00000-of-00001.parquet")
    return root


def test_standard_folder_loads_and_carves_validation(tmp_path):
    folder = write_folder(
        tmp_path / "toy", {"train": image_split(60), "test": image_split(12, 100)}
    )
    bundle = load_data(folder, seed=2, val_fraction=0.2, cache_dir=tmp_path / "c")
    assert (
        bundle.name == "toy" and bundle.kind == "image" and bundle.source == str(folder.resolve())
    )
    assert bundle.sizes() == {"train": 48, "val": 12, "test": 12}
    assert bundle.x_train.shape[1:] == (1, 5, 6) and bundle.x_train.dtype == torch.uint8
    assert bundle.class_names == ["cat", "dog", "eel"] and bundle.num_classes == 3
    assert np.bincount(bundle.y_val.numpy()).tolist() == [4, 4, 4]
    train_ids = set(bundle.x_train[:, 0, 0, 0].tolist())
    val_ids = set(bundle.x_val[:, 0, 0, 0].tolist())
    assert not train_ids & val_ids and train_ids | val_ids == set(range(60))
    assert set(bundle.x_test[:, 0, 0, 0].tolist()) == set(range(100, 112))
    # Row i holds label i % 3: the images really travelled with their labels.
    assert torch.equal(bundle.y_train, bundle.x_train[:, 0, 0, 0].long() % 3)
    assert bundle.std[0] > 0


def test_rgb_images_keep_three_channels(tmp_path):
    folder = write_folder(
        tmp_path / "rgb", {"train": image_split(20, mode="RGB"), "test": image_split(6, mode="RGB")}
    )
    bundle = load_data(folder, cache_dir=tmp_path / "c")
    assert bundle.x_train.shape[1:] == (3, 5, 6) and len(bundle.mean) == 3


def odd_folder(root: Path) -> Path:
    """Odd split names, two Image columns and integer labels with an odd name."""
    feats = datasets.Features(
        {"pic": datasets.Image(), "thumb": datasets.Image(), "klass": datasets.Value("int64")}
    )

    def part(n, offset):
        return datasets.Dataset.from_dict(
            {
                "pic": images(n, offset),
                "thumb": images(n, offset, size=(2, 2)),
                "klass": [i % 3 for i in range(n)],
            },
            features=feats,
        )

    return write_folder(root, {"learn": part(30, 0), "check": part(9, 50), "holdout": part(6, 80)})


def test_odd_names_need_overrides(tmp_path):
    folder = odd_folder(tmp_path / "odd")
    with pytest.raises(
        ValueError,
        match="no 'train' split in data folder .*odd; available splits: .*; pass train_split=",
    ):
        load_data(folder, cache_dir=tmp_path / "c")
    with pytest.raises(
        ValueError, match=r"several Image columns .*\(pic, thumb\); pass image_column="
    ):
        load_data(
            folder,
            train_split="learn",
            val_split="check",
            test_split="holdout",
            cache_dir=tmp_path / "c",
        )
    with pytest.raises(ValueError, match="no label column .*pass label_column="):
        load_data(folder, image_column="pic", train_split="learn", val_split="check",
                  test_split="holdout", cache_dir=tmp_path / "c")  # fmt: skip
    bundle = load_data(folder, image_column="pic", label_column="klass", train_split="learn",
                       val_split="check", test_split="holdout", cache_dir=tmp_path / "c")  # fmt: skip
    assert bundle.sizes() == {"train": 30, "val": 9, "test": 6}
    assert set(bundle.x_val[:, 0, 0, 0].tolist()) == set(range(50, 59))
    assert bundle.class_names == ["0", "1", "2"]
    with pytest.raises(
        ValueError, match="val_split 'validation' not found .*available splits: .*learn"
    ):
        load_data(folder, train_split="learn", val_split="validation", cache_dir=tmp_path / "c")


def test_string_labels_rejected(tmp_path):
    ds = datasets.Dataset.from_dict({"image": images(4), "label": ["a", "b", "a", "b"]},
                                    features=datasets.Features({"image": datasets.Image(), "label": datasets.Value("string")}))  # fmt: skip
    folder = write_folder(tmp_path / "strs", {"train": ds, "test": ds})
    with pytest.raises(ValueError, match="labels must be a ClassLabel or integers; column 'label'"):
        load_data(folder, cache_dir=tmp_path / "c")


def test_missing_folder_and_corrupt_files(tmp_path):
    with pytest.raises(ValueError, match="data folder not found: .*nope"):
        load_data(tmp_path / "nope", cache_dir=tmp_path / "c")
    with pytest.raises(ValueError, match="data folder not found: ./no-such-folder"):
        load_data("./no-such-folder", cache_dir=tmp_path / "c")
    bad = tmp_path / "bad" / "data"
    bad.mkdir(parents=True)
    (bad / "train-00000-of-00001.parquet").write_bytes(b"not parquet" * 50)
    with pytest.raises(
        ValueError,
        match=r"could not load data folder .*bad: file data/train-00000-of-00001.parquet: ArrowInvalid",
    ) as info:
        load_data(tmp_path / "bad", cache_dir=tmp_path / "c")
    assert "\n" not in str(info.value)
    (tmp_path / "file.parquet").write_bytes(b"x")
    with pytest.raises(ValueError, match="source must be a folder in the hub layout, got the file"):
        load_data(tmp_path / "file.parquet", cache_dir=tmp_path / "c")
    junk = datasets.Dataset.from_dict(
        {"image": [{"bytes": b"junk", "path": None}] * 3, "label": [0, 1, 2]},
        features=datasets.Features({"image": datasets.Image(), "label": NAMES}),
    )
    folder = write_folder(tmp_path / "junk", {"train": junk, "test": junk})
    with pytest.raises(
        ValueError, match="could not decode image at row 0 of split 'train' of data folder .*junk: "
    ):
        load_data(folder, cache_dir=tmp_path / "c")


def test_empty_split_and_unlabelled_rows_rejected(tmp_path, monkeypatch):
    folder = write_folder(
        tmp_path / "empty", {"train": image_split(9), "test": image_split(3).select([])}
    )
    with pytest.raises(ValueError, match="split 'test' of data folder .*empty is empty"):
        load_data(folder, cache_dir=tmp_path / "c")
    # load_dataset refuses empty parquet splits itself; a DatasetDict that does hold one
    # (as some hub loaders return) must hit our own check.
    empty = datasets.DatasetDict({"train": image_split(9), "test": image_split(3).select([])})
    (tmp_path / "mem").mkdir()
    with monkeypatch.context() as patch:
        patch.setattr(hub, "open_dataset", lambda source, show: empty)
        with pytest.raises(ValueError, match="split 'test' of data folder .*mem is empty"):
            load_data(tmp_path / "mem", cache_dir=tmp_path / "c")
    folder = write_folder(
        tmp_path / "unlab", {"train": image_split(9), "test": image_split(3, labels=[-1, -1, -1])}
    )
    with pytest.raises(ValueError, match=r"labels in split 'test' .* must be in 0..2, found -1"):
        load_data(folder, cache_dir=tmp_path / "c")


def test_mixed_sizes_rejected_and_mixed_modes_unified(tmp_path):
    mixed = datasets.concatenate_datasets([image_split(6), image_split(2, size=(4, 4))])
    folder = write_folder(tmp_path / "sizes", {"train": mixed, "test": image_split(3)})
    with pytest.raises(
        ValueError, match="differ in size: 6x5 at row 0, 4x4 at row 6; resize them first"
    ):
        load_data(folder, cache_dir=tmp_path / "c")
    folder = write_folder(
        tmp_path / "modes", {"train": image_split(12), "test": image_split(3, mode="RGB")}
    )
    bundle = load_data(folder, cache_dir=tmp_path / "c")
    assert bundle.x_train.shape[1] == bundle.x_test.shape[1] == 3
    assert torch.equal(bundle.x_train[:, 0], bundle.x_train[:, 2])  # grey repeated


def test_tokenizer_rejected_for_images(tmp_path):
    folder = write_folder(tmp_path / "toy", {"train": image_split(9), "test": image_split(3)})
    with pytest.raises(ValueError, match="tokenizer applies to text datasets only"):
        load_data(folder, tokenizer="bert-base-uncased", cache_dir=tmp_path / "c")


def test_second_call_reads_the_cache(tmp_path, monkeypatch):
    folder = write_folder(tmp_path / "toy", {"train": image_split(30), "test": image_split(6, 100)})
    calls = []
    real = decode_module.decode_splits

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(decode_module, "decode_splits", counting)
    cache_dir = tmp_path / "c"
    first = load_data(folder, seed=1, cache_dir=cache_dir)
    second = load_data(folder, seed=1, cache_dir=cache_dir)
    assert len(calls) == 1
    assert torch.equal(first.x_train, second.x_train) and first.fingerprint == second.fingerprint
    load_data(folder, seed=5, train_size=10, cache_dir=cache_dir)  # carving is not cached
    assert len(calls) == 1
    assert len(list(cache_dir.glob("toy-*.pt"))) == 1 and not list(cache_dir.glob("*.tmp"))

    load_data(folder, train_split="test", test_split="train", cache_dir=cache_dir)
    assert len(calls) == 2  # other split choice, other key

    cache_files = sorted(cache_dir.glob("toy-*.pt"))
    for path in cache_files:
        path.write_bytes(b"truncated")
    again = load_data(folder, seed=1, cache_dir=cache_dir)  # damaged file: decoded again
    assert len(calls) == 3 and torch.equal(again.x_train, first.x_train)

    write_folder(folder, {"train": image_split(33), "test": image_split(6, 100)})
    changed = load_data(folder, seed=1, cache_dir=cache_dir)  # new data files: new key
    assert len(calls) == 4 and changed.sizes()["train"] + changed.sizes()["val"] == 33


def test_default_cache_dir_from_env(tmp_path):
    folder = write_folder(tmp_path / "toy", {"train": image_split(9), "test": image_split(3)})
    load_data(folder)
    assert len(list((tmp_path / "default-cache").glob("toy-*.pt"))) == 1


def test_progress_bars_state_restored(tmp_path):
    folder = write_folder(tmp_path / "toy", {"train": image_split(9), "test": image_split(3)})
    datasets.enable_progress_bars()
    try:
        load_data(folder, cache_dir=tmp_path / "c")
        assert datasets.is_progress_bar_enabled()
    finally:
        datasets.disable_progress_bars()


def test_max_sizes_are_upper_bounds_and_exact_sizes_must_fit(tmp_path):
    folder = write_folder(
        tmp_path / "small", {"train": image_split(60), "test": image_split(12, 100)}
    )
    cache = tmp_path / "c"
    # Bounds above what the splits hold: every row, exactly as with no size at all.
    whole = load_data(folder, seed=1, cache_dir=cache)
    big = load_data(folder, seed=1, max_train_size=10_000, max_val_size=999,
                    max_test_size=5_000, cache_dir=cache)  # fmt: skip
    assert big.sizes() == whole.sizes() == {"train": 54, "val": 6, "test": 12}
    assert big.fingerprint == whole.fingerprint
    # A bound below a split's rows takes the same stratified subset an exact size takes.
    bounded = load_data(folder, seed=1, max_test_size=6, max_train_size=30, cache_dir=cache)
    exact = load_data(folder, seed=1, test_size=6, train_size=30, cache_dir=cache)
    assert bounded.sizes() == {"train": 30, "val": 6, "test": 6}
    assert bounded.fingerprint == exact.fingerprint
    with pytest.raises(ValueError, match=r"test_size must be an integer in \[1, 12\] \(rows available in test\), got 5000"):  # fmt: skip
        load_data(folder, test_size=5_000, cache_dir=cache)
    with pytest.raises(ValueError, match="give test_size or max_test_size, not both; got 6 and 9"):
        load_data(folder, test_size=6, max_test_size=9, cache_dir=cache)
    with pytest.raises(ValueError, match="max_train_size must be a positive integer, got 0"):  # fmt: skip
        load_data(folder, max_train_size=0, cache_dir=cache)

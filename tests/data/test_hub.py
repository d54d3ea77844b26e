"""Source resolution and split / column choice, on plain names and Features (no files)."""

import os

import datasets
import pytest

from uncertainty_lr.data import KNOWN_DATASETS, resolve_source
from uncertainty_lr.data.hub import choose_columns, choose_splits, dataset_name, looks_like_path


def test_resolve_source(tmp_path):
    (tmp_path / "mnist").mkdir()
    assert resolve_source("mnist") == "ylecun/mnist" == KNOWN_DATASETS["mnist"]
    assert resolve_source("cifar10") == "uoft-cs/cifar10"
    assert resolve_source("imdb") == "stanfordnlp/imdb"
    assert resolve_source("digits", data_dir=tmp_path) == "digits"
    assert resolve_source("mnist", data_dir=tmp_path) == str(tmp_path / "mnist")
    assert resolve_source("someone/else") == "someone/else"
    with pytest.raises(ValueError, match="data folder not found: .*imdb"):
        resolve_source("imdb", data_dir=tmp_path)


def test_looks_like_path_and_name(tmp_path):
    assert not looks_like_path("ylecun/mnist")
    assert not looks_like_path("mnist")
    assert looks_like_path(str(tmp_path))
    assert looks_like_path("./mnist") and looks_like_path("~/mnist") and looks_like_path("/x/y")
    assert looks_like_path(os.path.join("a", "b", "c"))
    assert dataset_name("ylecun/mnist") == "mnist"
    assert dataset_name(str(tmp_path / "CIFAR10") + "/") == "cifar10"


def test_choose_splits_defaults_and_overrides():
    assert choose_splits(["train", "test"], None, None, None, "d") == {
        "train": "train", "val": None, "test": "test"}  # fmt: skip
    assert choose_splits(["train", "dev", "test"], None, None, None, "d")["val"] == "dev"
    assert choose_splits(["train"], None, None, None, "d")["test"] is None  # carved later
    picked = choose_splits(["learn", "check", "holdout"], "learn", "check", "holdout", "d")
    assert picked == {"train": "learn", "val": "check", "test": "holdout"}


def test_choose_splits_errors():
    with pytest.raises(
        ValueError,
        match="no 'train' split in d; available splits: learn, holdout; pass train_split=",
    ):
        choose_splits(["learn", "holdout"], None, None, None, "d")
    with pytest.raises(
        ValueError, match="test_split 'nope' not found in d; available splits: train, test"
    ):
        choose_splits(["train", "test"], None, None, "nope", "d")
    with pytest.raises(ValueError, match="no 'test' split in d; .*pass test_split="):
        choose_splits(["learn", "holdout"], "learn", None, None, "d")
    with pytest.raises(ValueError, match="must differ"):
        choose_splits(["train", "test"], None, "train", None, "d")


IMAGE = datasets.Image()
NAMES = datasets.ClassLabel(names=["a", "b"])


def features(**kw):
    return datasets.Features(kw)


def test_choose_columns_guesses():
    assert choose_columns(features(img=IMAGE, name=datasets.Value("string"), label=NAMES),
                          None, None, None, "d") == ("image", "img", "label")  # fmt: skip
    assert choose_columns(features(review=datasets.Value("string"), target=datasets.Value("int64")),
                          None, None, None, "d") == ("text", "review", "target")  # fmt: skip


def test_choose_columns_ambiguity_asks_for_the_flag():
    two_images = features(a=IMAGE, b=IMAGE, y=NAMES)
    with pytest.raises(
        ValueError, match=r"several Image columns in d \(a, b\); pass image_column="
    ):
        choose_columns(two_images, None, None, None, "d")
    assert choose_columns(two_images, "b", None, None, "d") == ("image", "b", "y")
    with pytest.raises(
        ValueError, match=r"several ClassLabel columns in d \(y, z\); pass label_column="
    ):
        choose_columns(features(a=IMAGE, y=NAMES, z=NAMES), None, None, None, "d")
    with pytest.raises(
        ValueError, match="no label column in d .*columns: a \\(image\\), k \\(integer\\)"
    ):
        choose_columns(features(a=IMAGE, k=datasets.Value("int64")), None, None, None, "d")
    with pytest.raises(ValueError, match="no Image or string column in d"):
        choose_columns(features(k=datasets.Value("float32"), y=NAMES), None, None, None, "d")


def test_choose_columns_rejects_string_labels_and_bad_flags():
    with pytest.raises(
        ValueError, match="labels must be a ClassLabel or integers; column 'label' in d"
    ):
        choose_columns(features(a=IMAGE, label=datasets.Value("string")), None, None, None, "d")
    with pytest.raises(ValueError, match="labels must be a ClassLabel or integers; column 'kind'"):
        choose_columns(features(a=IMAGE, kind=datasets.Value("string")), None, None, "kind", "d")
    with pytest.raises(ValueError, match="image_column 'y' is ClassLabel"):
        choose_columns(features(a=IMAGE, y=NAMES), "y", None, None, "d")
    with pytest.raises(ValueError, match="label_column 'zz' not found in d; columns: a"):
        choose_columns(features(a=IMAGE, y=NAMES), None, None, "zz", "d")
    with pytest.raises(ValueError, match="not both"):
        choose_columns(features(a=IMAGE, t=datasets.Value("string"), y=NAMES), "a", "t", None, "d")

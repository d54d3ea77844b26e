"""Open a hub id or a local folder with `datasets`, and pick its splits and columns.

A hub id ("ylecun/mnist") and a local folder in the hub layout go through the same
`datasets.load_dataset(source)` call, so code written offline runs online unchanged.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Container, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from uncertainty_lr.checks import check_type

if TYPE_CHECKING:
    import datasets

# `datasets` (about half a second to import) is imported where it is used, so the
# embedded digits set and a worker handed its data never pay for it.

KNOWN_DATASETS = {
    "digits": "digits",
    "mnist": "ylecun/mnist",
    "cifar10": "uoft-cs/cifar10",
    "imdb": "stanfordnlp/imdb",
}

VAL_SPLIT_NAMES = ("validation", "valid", "val", "dev")
LABEL_COLUMN_NAMES = ("label", "labels", "target")
INTEGER_DTYPES = {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"}
STRING_DTYPES = {"string", "large_string"}


def resolve_source(name: str, data_dir: str | os.PathLike | None = None) -> str:
    """Short name -> what `load_data` takes.

    "digits" -> "digits" (embedded). "mnist" / "cifar10" / "imdb" -> data_dir/name when
    data_dir is given (which must exist), else the hub id. Any other name is returned
    unchanged (a hub id or a folder path).
    """
    if name not in KNOWN_DATASETS or name == "digits":
        return name
    if data_dir is None:
        return KNOWN_DATASETS[name]
    folder = Path(data_dir).expanduser() / name
    if not folder.is_dir():
        raise ValueError(f"data folder not found: {folder}")
    return str(folder)


def looks_like_path(source: str) -> bool:
    """True when `source` names a local folder rather than a hub id.

    A hub id is "name" or "owner/name"; anything that exists on disk, starts with
    "/", ".", "~", or has more than one separator is treated as a path.
    """
    if os.path.exists(os.path.expanduser(source)):
        return True
    if source.startswith(("/", ".", "~")) or (os.altsep and os.altsep in source):
        return True
    return source.count(os.sep) > 1 or source.endswith(os.sep)


def dataset_name(source: str) -> str:
    """A short lowercase name: last part of the hub id or folder ("ylecun/mnist" -> "mnist")."""
    return Path(source.rstrip("/\\")).name.lower() or "dataset"


@contextlib.contextmanager
def progress_bars(enabled: bool) -> Iterator[None]:
    """Turn `datasets` progress bars on or off for the duration, then restore them."""
    import datasets

    was_enabled = datasets.is_progress_bar_enabled()
    if enabled:
        datasets.enable_progress_bars()
    else:
        datasets.disable_progress_bars()
    try:
        yield
    finally:
        if was_enabled:
            datasets.enable_progress_bars()
        else:
            datasets.disable_progress_bars()


@contextlib.contextmanager
def quiet_datasets_log() -> Iterator[None]:
    """Mute `datasets`' own error log for the duration: a failure reaches the user once, as
    our one-line ValueError, not also as a logged line before it (e.g. a corrupt parquet)."""
    import datasets

    level = datasets.logging.get_verbosity()
    datasets.logging.set_verbosity(datasets.logging.CRITICAL)
    try:
        yield
    finally:
        datasets.logging.set_verbosity(level)


def open_dataset(source: str, show_progress: bool = False) -> datasets.DatasetDict:
    """`datasets.load_dataset(source)` with one-line ValueErrors for the usual failures."""
    import datasets

    is_path = looks_like_path(source)
    target = os.path.expanduser(source) if is_path else source
    if is_path and not os.path.exists(target):
        raise ValueError(f"data folder not found: {source}")
    if is_path and not os.path.isdir(target):
        raise ValueError(f"source must be a folder in the hub layout, got the file {source}")
    where = f"data folder {target}" if is_path else f"hub dataset {source!r}"
    try:
        with progress_bars(show_progress), quiet_datasets_log():
            loaded = datasets.load_dataset(target)
    except Exception as err:  # datasets raises many types (ArrowInvalid, OSError, ...)
        empty = re.search(r'Instruction "([^"]+)" corresponds to no data', str(err))
        if empty:
            raise ValueError(f"split {empty.group(1)!r} of {where} is empty") from err
        broken = unreadable_parquet(target) if is_path else None
        if broken:  # `datasets` says only "An error occurred while generating the dataset"
            raise ValueError(f"could not load {where}: {broken}") from err
        hint = "" if is_path else " (no local folder has that name either)"
        raise ValueError(f"could not load {where}{hint}: {one_line(err)}") from err
    return check_type(where, loaded, datasets.DatasetDict, "a DatasetDict of splits")


def unreadable_parquet(folder: str) -> str | None:
    """'file data/x.parquet: ArrowInvalid: ...' for the first parquet file under ``folder``
    that pyarrow cannot read through (every row group), or None when all of them read."""
    import pyarrow.parquet as pq

    for path in sorted(Path(folder).rglob("*.parquet")):
        try:
            with pq.ParquetFile(path) as parquet:
                for group in range(parquet.num_row_groups):
                    parquet.read_row_group(group)
        except Exception as err:  # noqa: BLE001 - pyarrow raises ArrowInvalid, OSError, ...
            return f"file {path.relative_to(folder)}: {one_line(err)}"
    return None


def one_line(err: BaseException) -> str:
    """`Type: message` on a single line."""
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def _check_found(
    named: dict[str, str | None], present: Container[str], where: str, listing: str
) -> None:
    """Raise ValueError for the first given name (flag -> name) that is not in ``present``;
    the message ends with ``listing`` (what there is)."""
    for flag, value in named.items():
        if value is not None and value not in present:
            raise ValueError(f"{flag} {value!r} not found in {where}; {listing}")


def choose_splits(
    available: list[str],
    train_split: str | None,
    val_split: str | None,
    test_split: str | None,
    where: str,
) -> dict[str, str | None]:
    """Map roles train/val/test to split names; None means "carve it".

    Defaults: train = "train"; val = first of validation/valid/val/dev; test = "test".
    When there is no test split and no override, the test split is carved from train
    unless some split would be left unused (then the caller must say which is which).
    """
    listing = ", ".join(available)
    named = {"train_split": train_split, "val_split": val_split, "test_split": test_split}
    _check_found(named, available, where, f"available splits: {listing}")
    train = train_split or "train"
    if train not in available:
        raise ValueError(
            f"no 'train' split in {where}; available splits: {listing}; pass train_split="
        )
    val = val_split or next((n for n in VAL_SPLIT_NAMES if n in available), None)
    test = test_split or ("test" if "test" in available else None)
    chosen = [s for s in (train, val, test) if s is not None]
    if len(set(chosen)) != len(chosen):
        raise ValueError(
            f"train, val and test splits must differ, got {train!r}, {val!r}, {test!r}"
        )
    unused = [s for s in available if s not in chosen]
    if test is None and unused:
        raise ValueError(
            f"no 'test' split in {where}; available splits: {listing}; "
            f"pass test_split= (and val_split= if one of {unused} is validation)"
        )
    return {"train": train, "val": val, "test": test}


def feature_kind(feature: object) -> str:
    """'image', 'text', 'classlabel', 'integer' or 'other' for one `datasets` feature."""
    import datasets

    if isinstance(feature, datasets.Image):
        return "image"
    if isinstance(feature, datasets.ClassLabel):
        return "classlabel"
    if isinstance(feature, datasets.Value):
        if feature.dtype in STRING_DTYPES:
            return "text"
        if feature.dtype in INTEGER_DTYPES:
            return "integer"
    return "other"


def choose_columns(
    features: datasets.Features,
    image_column: str | None,
    text_column: str | None,
    label_column: str | None,
    where: str,
) -> tuple[str, str, str]:
    """Pick (kind, input column, label column) from the features; flags override guesses.

    Input: the one `Image` column (kind "image"), else the one string column (kind
    "text"). Labels: the one `ClassLabel` column, else an integer column named
    label/labels/target.
    """
    kinds = {name: feature_kind(f) for name, f in features.items()}
    columns = ", ".join(f"{n} ({k})" for n, k in kinds.items())
    named = {"image_column": image_column, "text_column": text_column, "label_column": label_column}
    _check_found(named, kinds, where, f"columns: {columns}")
    if image_column is not None and text_column is not None:
        raise ValueError("pass image_column or text_column, not both")

    if image_column is not None:
        if kinds[image_column] != "image":
            raise ValueError(
                f"image_column {image_column!r} is {features[image_column]}, not an Image feature"
            )
        kind, column = "image", image_column
    elif text_column is not None:
        if kinds[text_column] != "text":
            raise ValueError(
                f"text_column {text_column!r} is {features[text_column]}, not a string Value"
            )
        kind, column = "text", text_column
    else:
        kind, column = guess_input(kinds, columns, where)

    label = label_column if label_column is not None else guess_label(kinds, columns, where)
    if kinds[label] not in ("classlabel", "integer"):
        raise ValueError(
            f"labels must be a ClassLabel or integers; column {label!r} in {where} is "
            f"{features[label]} (cast it with ClassLabel, or pass label_column=)"
        )
    if label == column:
        raise ValueError(f"the input and label columns must differ, both are {label!r}")
    return kind, column, label


def guess_input(kinds: dict[str, str], columns: str, where: str) -> tuple[str, str]:
    images = [n for n, k in kinds.items() if k == "image"]
    texts = [n for n, k in kinds.items() if k == "text"]
    if len(images) == 1:
        return "image", images[0]
    if len(images) > 1:
        raise ValueError(
            f"several Image columns in {where} ({', '.join(images)}); pass image_column="
        )
    if len(texts) == 1:
        return "text", texts[0]
    if len(texts) > 1:
        raise ValueError(
            f"several string columns in {where} ({', '.join(texts)}); pass text_column="
        )
    raise ValueError(
        f"no Image or string column in {where}; columns: {columns}; pass image_column= or text_column="
    )


def guess_label(kinds: dict[str, str], columns: str, where: str) -> str:
    class_labels = [n for n, k in kinds.items() if k == "classlabel"]
    if len(class_labels) == 1:
        return class_labels[0]
    if len(class_labels) > 1:
        raise ValueError(
            f"several ClassLabel columns in {where} ({', '.join(class_labels)}); pass label_column="
        )
    named = [n for n in LABEL_COLUMN_NAMES if n in kinds]
    if len(named) > 1:
        raise ValueError(
            f"several label-like columns in {where} ({', '.join(named)}); pass label_column="
        )
    if named:
        # Returned even when it holds strings, so the caller reports the string labels.
        return named[0]
    raise ValueError(
        f"no label column in {where} (need a ClassLabel, or integers named "
        f"label/labels/target); columns: {columns}; pass label_column="
    )

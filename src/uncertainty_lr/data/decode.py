"""Decode the chosen splits of a DatasetDict into tensors (the cached, seed-free stage).

The result is a plain "payload" dict, the unit the cache stores:
    {"name", "kind", "source", "class_names", "vocab_size", "pad_id", "content_hash",
     "splits": {"train": {"x", "y"}, "val": {...}?, "test": {...}?}}
Roles with no split in the dataset ("val", often "test") are simply absent; they are
carved later, per seed, by `load_data`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import datasets
import numpy as np
import pyarrow.compute as pc  # pyarrow ships with datasets
import torch

from uncertainty_lr.data import cache, images, text
from uncertainty_lr.data.settings import DataSettings


@dataclass(frozen=True)
class DatasetLayout:
    """What was chosen of an opened dataset: ``roles`` (train / val / test -> split name,
    None: carve it), ``kind`` ("image" or "text"), the input ``column`` and the ``label``
    column; its short ``name``, its ``source`` (hub id, or the resolved folder path when
    ``is_path``) and ``where`` ("data folder ..." / "hub dataset ...", for messages)."""

    roles: dict[str, str | None]
    kind: str
    column: str
    label: str
    name: str
    source: str
    where: str
    is_path: bool = False


def decode_splits(
    dd: datasets.DatasetDict,
    layout: DatasetLayout,
    settings: DataSettings,
    tokenizer_path: Path,
    show_progress: bool,
) -> dict:
    """Decode inputs and labels of every role in ``layout.roles`` that names a split.

    Images -> uint8 (N, C, H, W); text -> int64 (N, max_length) ids from a BPE tokenizer
    of ``settings.vocab_size`` trained on the dataset's own train split (saved to
    ``tokenizer_path``), or from the pretrained ``settings.tokenizer``. Labels -> int64 (N,).
    """
    roles, kind, column, label, where = (layout.roles, layout.kind, layout.column,
                                         layout.label, layout.where)  # fmt: skip
    max_length, vocab_size, tokenizer = settings.max_length, settings.vocab_size, settings.tokenizer
    present = {role: split for role, split in roles.items() if split is not None}
    class_names = label_names(dd[present["train"]].features[label], dd, present, label, where)
    splits: dict[str, dict[str, torch.Tensor]] = {}
    for role, split in present.items():
        splits[role] = {
            "y": torch.from_numpy(read_labels(dd[split], label, len(class_names), split, where))
        }

    vocab, pad_id = 0, 0
    if kind == "image":
        for role, split in present.items():
            array = images.decode_image_column(
                dd[split], column, f"split {split!r} of {where}", show_progress
            )
            splits[role]["x"] = torch.from_numpy(array)
        unify_image_shapes(splits, where)
    else:
        texts = {role: read_texts(dd[split], column) for role, split in present.items()}
        for role, split in present.items():
            if not any(t.strip() for t in texts[role]):
                raise ValueError(
                    f"text column {column!r} of split {split!r} of {where} is empty in all "
                    f"{len(texts[role])} rows; pass text_column= to pick another column"
                )
        if tokenizer is None:
            tok = text.train_tokenizer(texts["train"], vocab_size, show_progress)
            for role in present:
                splits[role]["x"] = torch.from_numpy(
                    text.encode_texts(tok, texts[role], max_length, show_progress)
                )
            cache.atomic_write(tokenizer_path, tok.save)
            vocab, pad_id = tok.get_vocab_size(), text.PAD_ID
        else:
            tok, pad_id, vocab = text.load_pretrained(tokenizer)
            for role in present:
                ids = text.encode_pretrained(tok, texts[role], max_length, show_progress)
                splits[role]["x"] = torch.from_numpy(ids)

    ordered = [splits[r][k] for r in ("train", "val", "test") if r in splits for k in ("x", "y")]
    return {
        "name": layout.name,
        "kind": kind,
        "source": layout.source,
        "class_names": class_names,
        "vocab_size": int(vocab),
        "pad_id": int(pad_id),
        "splits": splits,
        "content_hash": cache.content_hash(ordered) + cache.make_key(class_names)[:8],
    }


def label_names(
    feature, dd: datasets.DatasetDict, present: dict[str, str], label: str, where: str
) -> list[str]:
    """Class names from a ClassLabel, else "0".."K-1" for integer labels.

    Integer labels must number the classes 0..K-1 with training rows for each: K is the
    first number the training split lacks, and a label of any split at K or above (one
    stray 1000 among ten digits, say) is refused rather than made a class of its own.
    """
    if isinstance(feature, datasets.ClassLabel):
        return list(feature.names)
    train = present["train"]
    seen = set(pc.unique(dd[train].with_format("arrow")[label].drop_null()).to_pylist())
    count = 0
    while count in seen:
        count += 1
    if count == 0:
        raise ValueError(f"integer label column {label!r} has no label 0 in split {train!r} of {where}; integer labels must number the classes from 0")  # fmt: skip
    for split in present.values():
        column = dd[split].with_format("arrow")[label]
        above = pc.filter(column, pc.greater_equal(column, count))
        if len(above):
            raise ValueError(
                f"label {pc.min(above).as_py()} in split {split!r} of {where} is outside "
                f"0..{count - 1}: integer labels must number the classes 0..K-1 with training "
                f"rows for each, and split {train!r} has none for {count}"
            )
    return [str(i) for i in range(count)]


def check_training_rows(payload: dict, train_split: str, where: str) -> None:
    """ValueError naming the classes with no row in the training split (ClassLabel names
    that no training row uses): a class the model is never shown cannot be learnt."""
    names = payload["class_names"]
    counts = torch.bincount(payload["splits"]["train"]["y"], minlength=len(names))
    empty = [i for i in range(len(names)) if counts[i] == 0]
    if empty:
        listed = ", ".join(f"{i} ({names[i]!r})" for i in empty[:5]) + (", ..." if len(empty) > 5 else "")  # fmt: skip
        raise ValueError(
            f"{len(empty)} of {len(names)} classes of {where} have no rows in the training "
            f"split {train_split!r}: {listed}; every class 0..{len(names) - 1} needs training "
            "rows (pick another train_split or drop the class from the labels)"
        )


def read_labels(
    ds: datasets.Dataset, label: str, num_classes: int, split: str, where: str
) -> np.ndarray:
    """Labels of one split as int64 (N,), all in 0..num_classes-1."""
    column = ds.with_format("arrow")[label]
    if len(column) == 0:
        raise ValueError(f"split {split!r} of {where} is empty")
    if column.null_count:
        raise ValueError(
            f"split {split!r} of {where} has {column.null_count} missing labels in {label!r}"
        )
    y = column.to_numpy().astype(np.int64)
    low, high = int(y.min()), int(y.max())
    if low < 0 or high >= num_classes:
        raise ValueError(
            f"labels in split {split!r} of {where} must be in 0..{num_classes - 1}, "
            f"found {low if low < 0 else high} (unlabelled rows use -1; drop them or pick another split)"
        )
    return y


def read_texts(ds: datasets.Dataset, column: str) -> list[str]:
    """The strings of one split; missing entries become ""."""
    return ["" if t is None else t for t in ds.with_format("arrow")[column].to_pylist()]


def unify_image_shapes(splits: dict[str, dict[str, torch.Tensor]], where: str) -> None:
    """All splits must share H, W; grey splits are repeated to 3 channels if others are colour."""
    shapes = {role: tuple(s["x"].shape[1:]) for role, s in splits.items()}
    sizes = {shape[1:] for shape in shapes.values()}
    if len(sizes) > 1:
        listing = ", ".join(f"{role} {shape[2]}x{shape[1]}" for role, shape in shapes.items())
        raise ValueError(f"image sizes differ between splits of {where}: {listing}")
    channels = max(shape[0] for shape in shapes.values())
    for s in splits.values():
        if s["x"].shape[1] != channels:
            s["x"] = s["x"].expand(-1, channels, -1, -1).contiguous()

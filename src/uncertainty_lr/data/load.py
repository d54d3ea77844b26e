"""`load_data`: a dataset name, hub id or folder -> a seeded, split DataBundle."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from uncertainty_lr.checks import check_int, check_text
from uncertainty_lr.data import cache, hub, split
from uncertainty_lr.data.bundle import DataBundle, channel_stats
from uncertainty_lr.data.digits import DIGITS_SOURCE, load_digits_arrays
from uncertainty_lr.data.settings import DataSettings


def load_data(
    source: str | os.PathLike,
    settings: DataSettings | None = None,
    *,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = False,
    **fields: Any,
) -> DataBundle:
    """Load a dataset into memory as a DataBundle of train / val / test tensors.

    Args:
        source: "digits" (scikit-learn's 8x8 digits, embedded), a hub id ("ylecun/mnist")
            or a local folder in the hub layout; both go through `datasets.load_dataset`.
        settings: seed, sizes, columns, splits and text settings (`DataSettings`; default:
            every default of it).
        cache_dir: where decoded splits are kept (default $UNCERTAINTY_LR_CACHE or
            ~/.cache/uncertainty_lr); a second call with the same data and settings
            reads them back instead of decoding again.
        progress: show progress bars (only when stderr is a terminal).
        **fields: `DataSettings` fields by name (``seed=1, train_size=500``), over
            ``settings``: ``load_data(source, seed=1)`` is ``load_data(source,
            DataSettings(seed=1))``.
    """
    source = os.fspath(source) if isinstance(source, os.PathLike) else source
    check_text("source", source, why=" ('digits', a hub id or a folder path)")
    settings = dataclasses.replace(settings or DataSettings(), **fields)
    show = bool(progress) and sys.stderr.isatty()
    if source == "digits" and settings.names_columns_or_splits():
        raise ValueError(
            "column, split and tokenizer options do not apply to the embedded 'digits' dataset"
        )
    folder = Path(cache_dir).expanduser() if cache_dir is not None else cache.default_cache_dir()
    if source == "digits":
        payload = digits_payload(folder)
    else:
        payload = load_decoded(source, folder, settings, show)
    sizes = settings.sizes()
    return carve(payload, settings.seed, settings.val_fraction, sizes["train"], sizes["val"],
                 sizes["test"], bounded=settings.bounded())  # fmt: skip


def digits_payload(cache_dir: Path | None = None) -> dict:
    """The embedded digits set as a decoded payload with a single "train" split.

    With ``cache_dir`` it is read from (or saved to) the data cache, keyed by the
    scikit-learn version: loading it then skips importing scikit-learn (about a second,
    more than a digits run's own start-up work).
    """
    if cache_dir is not None:
        from importlib.metadata import version

        key = cache.make_key({"source": DIGITS_SOURCE, "scikit-learn": version("scikit-learn")})
        path = cache_dir / f"digits-{key[:24]}.pt"
        payload = cache.load_payload(path)
        if payload is None:
            payload = digits_payload()
            # digits needs no files: an unwritable cache only costs time
            with contextlib.suppress(OSError):
                cache.save_payload(path, payload)
        return payload
    images, labels, names = load_digits_arrays()
    x, y = torch.from_numpy(images), torch.from_numpy(labels)
    return {
        "name": "digits",
        "kind": "image",
        "source": DIGITS_SOURCE,
        "class_names": names,
        "vocab_size": 0,
        "pad_id": 0,
        "splits": {"train": {"x": x, "y": y}},
        "content_hash": cache.content_hash([x, y]),
    }


def load_decoded(source: str, cache_dir: Path, settings: DataSettings, show: bool) -> dict:
    """Open the dataset, choose splits and columns, and return the decoded payload.

    Reads it from the cache when the key matches; decodes and saves it otherwise. The key
    covers the source, each chosen split's `datasets` fingerprint (stable across
    processes; it changes when the files do), for local folders also each file's size and
    mtime, the split and column choices, and the text settings.
    """
    from uncertainty_lr.data.decode import check_training_rows, decode_splits

    dd, layout = open_layout(source, settings, show)
    stem = f"{layout.name}-{cache.make_key(cache_key_parts(dd, layout, settings))[:24]}"
    cache_path = cache_dir / f"{stem}.pt"
    payload = cache.load_payload(cache_path)
    if payload is None:
        payload = decode_splits(dd, layout, settings, cache_dir / f"{stem}.tokenizer.json", show)
        cache.save_payload(cache_path, payload)
    check_training_rows(payload, layout.roles["train"], layout.where)  # cached payloads too
    return payload


def open_layout(source: str, settings: DataSettings, show: bool):
    """(the DatasetDict, its checked `DatasetLayout`): splits and columns chosen (the
    settings' names, else the guesses), each chosen split non-empty and holding both."""
    from uncertainty_lr.data.decode import DatasetLayout

    is_path = hub.looks_like_path(source)
    resolved = str(Path(source).expanduser().resolve()) if is_path else source
    dd = hub.open_dataset(source, show)
    where = f"data folder {resolved}" if is_path else f"hub dataset {source!r}"
    roles = hub.choose_splits(list(dd.keys()), settings.train_split, settings.val_split,
                              settings.test_split, where)  # fmt: skip
    kind, column, label = hub.choose_columns(dd[roles["train"]].features, settings.image_column,
                                             settings.text_column, settings.label_column, where)  # fmt: skip
    for split_name in (s for s in roles.values() if s is not None):
        missing = [c for c in (column, label) if c not in dd[split_name].column_names]
        if missing:
            raise ValueError(
                f"split {split_name!r} of {where} lacks column(s) {', '.join(missing)}"
            )
        if dd[split_name].num_rows == 0:
            raise ValueError(f"split {split_name!r} of {where} is empty")
    if kind == "image" and settings.tokenizer is not None:
        raise ValueError(f"tokenizer applies to text datasets only; {where} holds images")
    layout = DatasetLayout(roles, kind, column, label, name=hub.dataset_name(resolved),
                           source=resolved, where=where, is_path=is_path)  # fmt: skip
    return dd, layout


def cache_key_parts(dd, layout, settings: DataSettings) -> dict:
    """What the decoded payload depends on: its cache key is a hash of this."""
    from uncertainty_lr.data import text  # lazy, with `datasets`: digits needs neither

    roles, tokenizer = layout.roles, settings.tokenizer
    key_parts: dict = {
        "source": layout.source,
        "splits": roles,
        # datasets' own content fingerprint per split; private, hence the getattr.
        "fingerprints": {
            r: getattr(dd[s], "_fingerprint", None) for r, s in roles.items() if s is not None
        },
        "columns": [layout.kind, layout.column, layout.label],
        "files": cache.folder_signature(layout.source) if layout.is_path else None,
    }
    if layout.kind == "text":
        key_parts["text"] = {
            "max_length": settings.max_length,
            "vocab_size": settings.vocab_size if tokenizer is None else None,
            "tokenizer": tokenizer if tokenizer is not None else text.TOKENIZER_RECIPE,
            "tokenizer_files": cache.folder_signature(tokenizer)
            if tokenizer is not None and os.path.isdir(tokenizer)
            else None,
        }
    return key_parts


def carve(
    payload: dict,
    seed: int,
    val_fraction: float,
    train_size: int | None,
    val_size: int | None,
    test_size: int | None,
    bounded: frozenset[str] = frozenset(),
) -> DataBundle:
    """Seed-dependent stage: carve missing test/val splits, subsample, build the bundle.

    ``bounded`` names the roles ("train", "val", "test") whose size is an upper bound
    (the whole split when it has fewer rows) rather than a count that must fit.

    Works on row indices into the decoded splits, so each tensor is indexed once and
    the indices themselves go into the bundle's fingerprint.
    """
    rows = carved_rows(payload["splits"], seed, val_fraction)
    for role, size, stream in (
        ("train", train_size, split.STREAM_TRAIN_SUBSET),
        ("val", val_size, split.STREAM_VAL_SUBSET),
        ("test", test_size, split.STREAM_TEST_SUBSET),
    ):
        origin, idx = rows[role]
        if role in bounded and size is not None:
            check_int(f"max_{role}_size", size, numpy=True)
            size = None if size >= len(idx) else size  # a bound the split does not reach
        split.check_size(size, f"{role}_size", len(idx), f"rows available in {role}")
        if size is not None:
            chosen, _ = split.stratified_split(
                payload["splits"][origin]["y"].numpy()[idx], size, split.make_rng(seed, stream)
            )
            rows[role] = (origin, idx[chosen])
    return bundle_of(payload, rows)


def carved_rows(splits: dict, seed: int, val_fraction: float) -> dict[str, tuple[str, np.ndarray]]:
    """Role -> (decoded split its rows come from, row indices into it): the dataset's own
    test and validation splits, or ones carved (stratified) from train: test with a fixed
    seed, the same for every run, validation (``val_fraction`` of the rest) with ``seed``."""
    y_train_full = splits["train"]["y"].numpy()
    train_rows = np.arange(len(y_train_full), dtype=np.int64)
    rows: dict[str, tuple[str, np.ndarray]] = {}
    if "test" in splits:
        rows["test"] = ("test", np.arange(len(splits["test"]["y"]), dtype=np.int64))
    else:
        count = split.fraction_count(len(train_rows), split.FIXED_TEST_FRACTION, "test")
        rng = split.make_rng(split.FIXED_TEST_SEED, split.STREAM_TEST)
        chosen, rest = split.stratified_split(y_train_full[train_rows], count, rng)
        rows["test"], train_rows = ("train", train_rows[chosen]), train_rows[rest]
    if "val" in splits:
        rows["val"] = ("val", np.arange(len(splits["val"]["y"]), dtype=np.int64))
    else:
        count = split.fraction_count(len(train_rows), val_fraction, "validation")
        rng = split.make_rng(seed, split.STREAM_VAL)
        chosen, rest = split.stratified_split(y_train_full[train_rows], count, rng)
        rows["val"], train_rows = ("train", train_rows[chosen]), train_rows[rest]
    rows["train"] = ("train", train_rows)
    return rows


def bundle_of(payload: dict, rows: dict[str, tuple[str, np.ndarray]]) -> DataBundle:
    """The DataBundle of ``rows`` (role -> (decoded split, row indices)) of ``payload``;
    its fingerprint hashes the payload's content and every role's rows."""
    splits = payload["splits"]

    def take(role: str, part: str) -> torch.Tensor:
        origin, idx = rows[role]
        return splits[origin][part][torch.from_numpy(idx)]

    x_train = take("train", "x")
    mean, std = channel_stats(x_train) if payload["kind"] == "image" else ((), ())
    digest = hashlib.blake2b(payload["content_hash"].encode(), digest_size=8)
    for role in ("train", "val", "test"):
        origin, idx = rows[role]
        digest.update(f"{role}<-{origin}:".encode())
        digest.update(np.ascontiguousarray(idx))
    return DataBundle(
        name=payload["name"],
        kind=payload["kind"],
        x_train=x_train,
        y_train=take("train", "y"),
        x_val=take("val", "x"),
        y_val=take("val", "y"),
        x_test=take("test", "x"),
        y_test=take("test", "y"),
        num_classes=len(payload["class_names"]),
        class_names=list(payload["class_names"]),
        mean=mean,
        std=std,
        vocab_size=payload["vocab_size"],
        pad_id=payload["pad_id"],
        source=payload["source"],
        fingerprint=digest.hexdigest(),
    )

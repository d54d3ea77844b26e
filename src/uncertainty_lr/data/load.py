"""`load_data`: a dataset name, hub id or folder -> a seeded, split DataBundle."""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
from pathlib import Path

import numpy as np
import torch

from uncertainty_lr.data import cache, hub, split
from uncertainty_lr.data.bundle import DataBundle, channel_stats
from uncertainty_lr.data.digits import DIGITS_SOURCE, load_digits_arrays

MIN_VOCAB_SIZE = 8


def load_data(
    source: str | os.PathLike,
    *,
    seed: int = 0,
    val_fraction: float = 0.1,
    train_size: int | None = None,
    val_size: int | None = None,
    test_size: int | None = None,
    max_train_size: int | None = None,
    max_val_size: int | None = None,
    max_test_size: int | None = None,
    image_column: str | None = None,
    text_column: str | None = None,
    label_column: str | None = None,
    train_split: str | None = None,
    val_split: str | None = None,
    test_split: str | None = None,
    max_length: int = 256,
    vocab_size: int = 8000,
    tokenizer: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = False,
) -> DataBundle:
    """Load a dataset into memory as a DataBundle of train / val / test tensors.

    Args:
        source: "digits" (scikit-learn's 8x8 digits, embedded), a hub id ("ylecun/mnist")
            or a local folder in the hub layout; both go through `datasets.load_dataset`.
        seed: picks the validation rows carved from train and any subsets; seed k gives
            identical rows on every call. Carving is stratified by label throughout.
        val_fraction: share of train carved off as validation when the dataset has no
            validation split (default 0.1); ignored when it has one.
        train_size / val_size / test_size: keep only this many rows of that split
            (a stratified, seeded subset); None keeps all. A size above the rows the
            split has is an error.
        max_train_size / max_val_size / max_test_size: upper bounds instead: the same
            subset when the split has more rows, the whole split when it has fewer (a
            problem's CPU-sized defaults, which must not fail on a small dataset). Give
            at most one of ``X_size`` and ``max_X_size`` per split.
        image_column / text_column / label_column: override the column guesses
            (the Image feature / the string column / the ClassLabel column).
        train_split / val_split / test_split: override the split names (defaults:
            "train"; first of validation/valid/val/dev; "test"). A dataset with no test
            split (digits included) gets a fixed 20 % stratified test split carved from
            train with seed 0, the same for every run seed.
        max_length: text only: token ids per row; longer texts are cut, shorter padded.
        vocab_size: text only: size of the BPE vocabulary trained (lowercase) on the
            dataset's own train split, before validation is carved from it.
        tokenizer: text only: a local folder or hub id for transformers' AutoTokenizer
            (e.g. for BERT), used instead of training one; pad id and vocab size follow it.
        cache_dir: where decoded splits are kept (default $UNCERTAINTY_LR_CACHE or
            ~/.cache/uncertainty_lr); a second call with the same data and settings
            reads them back instead of decoding again.
        progress: show progress bars (only when stderr is a terminal).
    """
    source = os.fspath(source) if isinstance(source, os.PathLike) else source
    if not isinstance(source, str) or not source:
        raise ValueError(f"source must be 'digits', a hub id or a folder path, got {source!r}")
    check_settings(seed, val_fraction, max_length, vocab_size)
    sizes, bounded = {}, set()
    for role, exact, bound in (("train", train_size, max_train_size),
                               ("val", val_size, max_val_size),
                               ("test", test_size, max_test_size)):  # fmt: skip
        if exact is not None and bound is not None:
            raise ValueError(
                f"give {role}_size or max_{role}_size, not both; got {exact} and {bound}"
            )
        sizes[role] = exact if bound is None else bound
        if bound is not None:
            bounded.add(role)
    tokenizer = None if tokenizer is None else os.fspath(tokenizer)
    show = bool(progress) and sys.stderr.isatty()
    if source == "digits":
        flags = (
            image_column,
            text_column,
            label_column,
            train_split,
            val_split,
            test_split,
            tokenizer,
        )
        if any(f is not None for f in flags):
            raise ValueError(
                "column, split and tokenizer options do not apply to the embedded 'digits' dataset"
            )
    folder = Path(cache_dir).expanduser() if cache_dir is not None else cache.default_cache_dir()
    if source == "digits":
        payload = digits_payload(folder)
    else:
        payload = load_decoded(
            source, folder, image_column, text_column, label_column, train_split, val_split,
            test_split, max_length, vocab_size, tokenizer, show,
        )  # fmt: skip
    return carve(payload, seed, val_fraction, sizes["train"], sizes["val"], sizes["test"],
                 bounded=frozenset(bounded))  # fmt: skip


def check_settings(seed: int, val_fraction: float, max_length: int, vocab_size: int) -> None:
    """One-line ValueErrors for out-of-range scalar settings."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    if (
        isinstance(val_fraction, bool)
        or not isinstance(val_fraction, (int, float))
        or not 0 < val_fraction < 1
    ):
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction!r}")
    if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1:
        raise ValueError(f"max_length must be an integer >= 1, got {max_length!r}")
    if (
        isinstance(vocab_size, bool)
        or not isinstance(vocab_size, int)
        or vocab_size < MIN_VOCAB_SIZE
    ):
        raise ValueError(f"vocab_size must be an integer >= {MIN_VOCAB_SIZE}, got {vocab_size!r}")


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


def load_decoded(
    source: str,
    cache_dir: Path,
    image_column: str | None,
    text_column: str | None,
    label_column: str | None,
    train_split: str | None,
    val_split: str | None,
    test_split: str | None,
    max_length: int,
    vocab_size: int,
    tokenizer: str | None,
    show: bool,
) -> dict:
    """Open the dataset, choose splits and columns, and return the decoded payload.

    Reads it from the cache when the key matches; decodes and saves it otherwise. The key
    covers the source, each chosen split's `datasets` fingerprint (stable across
    processes; it changes when the files do), for local folders also each file's size and
    mtime, the split and column choices, and the text settings.
    """
    from uncertainty_lr.data import text  # lazy, with `datasets`: digits needs neither
    from uncertainty_lr.data.decode import check_training_rows, decode_splits

    is_path = hub.looks_like_path(source)
    resolved = str(Path(source).expanduser().resolve()) if is_path else source
    dd = hub.open_dataset(source, show)
    where = f"data folder {resolved}" if is_path else f"hub dataset {source!r}"
    roles = hub.choose_splits(list(dd.keys()), train_split, val_split, test_split, where)
    kind, column, label = hub.choose_columns(
        dd[roles["train"]].features, image_column, text_column, label_column, where
    )
    for split_name in (s for s in roles.values() if s is not None):
        missing = [c for c in (column, label) if c not in dd[split_name].column_names]
        if missing:
            raise ValueError(
                f"split {split_name!r} of {where} lacks column(s) {', '.join(missing)}"
            )
        if dd[split_name].num_rows == 0:
            raise ValueError(f"split {split_name!r} of {where} is empty")
    if kind == "image" and tokenizer is not None:
        raise ValueError(f"tokenizer applies to text datasets only; {where} holds images")

    key_parts: dict = {
        "source": resolved,
        "splits": roles,
        # datasets' own content fingerprint per split; private, hence the getattr.
        "fingerprints": {
            r: getattr(dd[s], "_fingerprint", None) for r, s in roles.items() if s is not None
        },
        "columns": [kind, column, label],
        "files": cache.folder_signature(resolved) if is_path else None,
    }
    if kind == "text":
        key_parts["text"] = {
            "max_length": max_length,
            "vocab_size": vocab_size if tokenizer is None else None,
            "tokenizer": tokenizer if tokenizer is not None else text.TOKENIZER_RECIPE,
            "tokenizer_files": cache.folder_signature(tokenizer)
            if tokenizer is not None and os.path.isdir(tokenizer)
            else None,
        }
    name = hub.dataset_name(resolved)
    stem = f"{name}-{cache.make_key(key_parts)[:24]}"
    cache_path = cache_dir / f"{stem}.pt"
    payload = cache.load_payload(cache_path)
    if payload is None:
        payload = decode_splits(
            dd, roles, kind, column, label, name=name, source=source if not is_path else resolved,
            where=where, max_length=max_length, vocab_size=vocab_size, tokenizer=tokenizer,
            tokenizer_path=cache_dir / f"{stem}.tokenizer.json", show_progress=show,
        )  # fmt: skip
        cache.save_payload(cache_path, payload)
    check_training_rows(payload, roles["train"], where)  # cached payloads too
    return payload


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
    splits = payload["splits"]
    y_train_full = splits["train"]["y"].numpy()
    # rows[role] = (decoded split the rows come from, row indices into it)
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

    for role, size, stream in (
        ("train", train_size, split.STREAM_TRAIN_SUBSET),
        ("val", val_size, split.STREAM_VAL_SUBSET),
        ("test", test_size, split.STREAM_TEST_SUBSET),
    ):
        origin, idx = rows[role]
        if role in bounded and size is not None:
            if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
                raise ValueError(
                    f"max_{role}_size must be a positive integer or None, got {size!r}"
                )
            size = None if size >= len(idx) else size  # a bound the split does not reach
        split.check_size(size, f"{role}_size", len(idx), f"rows available in {role}")
        if size is not None:
            chosen, _ = split.stratified_split(
                splits[origin]["y"].numpy()[idx], size, split.make_rng(seed, stream)
            )
            rows[role] = (origin, idx[chosen])

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

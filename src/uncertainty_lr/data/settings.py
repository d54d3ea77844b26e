"""`DataSettings`: how `load_data` picks, decodes, splits and subsets a dataset."""

from __future__ import annotations

import os
from dataclasses import dataclass

from uncertainty_lr.checks import check_int, check_number

#: The smallest BPE vocabulary a text dataset may ask for.
MIN_VOCAB_SIZE = 8
#: The roles of the splits a DataBundle holds, in this order.
ROLES = ("train", "val", "test")


@dataclass(frozen=True)
class DataSettings:
    """Every setting of `load_data` but the source, the cache folder and progress bars.

    Attributes:
        seed: picks the validation rows carved from train and any subsets; seed k gives
            identical rows on every call (default 0). Carving is stratified by label.
        val_fraction: share of train carved off as validation when the dataset has no
            validation split (default 0.1); ignored when it has one.
        train_size / val_size / test_size: keep only this many rows of that split (a
            stratified, seeded subset); None (default) keeps all. A size above the rows the
            split has is an error.
        max_train_size / max_val_size / max_test_size: upper bounds instead: the same
            subset when the split has more rows, the whole split when it has fewer (a
            problem's CPU-sized defaults, which must not fail on a small dataset). Give at
            most one of ``X_size`` and ``max_X_size`` per split.
        image_column / text_column / label_column: override the column guesses (the Image
            feature / the string column / the ClassLabel column).
        train_split / val_split / test_split: override the split names (defaults: "train";
            first of validation/valid/val/dev; "test"). A dataset with no test split
            (digits included) gets a fixed 20 % stratified test split carved from train
            with seed 0, the same for every run seed.
        max_length: text only: token ids per row (default 256); longer texts are cut,
            shorter padded.
        vocab_size: text only: size of the BPE vocabulary (default 8000) trained
            (lowercase) on the dataset's own train split, before validation is carved.
        tokenizer: text only: a local folder or hub id for transformers' AutoTokenizer
            (e.g. for BERT), used instead of training one; pad id and vocab size follow it.
            A path-like is kept as its string.

    Raises ValueError for an out-of-range seed, val_fraction, max_length or vocab_size, and
    for a split given both an exact size and a bound. Sizes are checked against the rows
    there are when the data is carved.
    """

    seed: int = 0
    val_fraction: float = 0.1
    train_size: int | None = None
    val_size: int | None = None
    test_size: int | None = None
    max_train_size: int | None = None
    max_val_size: int | None = None
    max_test_size: int | None = None
    image_column: str | None = None
    text_column: str | None = None
    label_column: str | None = None
    train_split: str | None = None
    val_split: str | None = None
    test_split: str | None = None
    max_length: int = 256
    vocab_size: int = 8000
    tokenizer: str | None = None

    def __post_init__(self) -> None:
        check_int("seed", self.seed, 0, numpy=True)
        check_number("val_fraction", self.val_fraction, 0.0, 1.0)
        check_int("max_length", self.max_length)
        check_int("vocab_size", self.vocab_size, MIN_VOCAB_SIZE)
        for role in ROLES:
            exact, bound = getattr(self, f"{role}_size"), getattr(self, f"max_{role}_size")
            if exact is not None and bound is not None:
                raise ValueError(
                    f"give {role}_size or max_{role}_size, not both; got {exact} and {bound}"
                )
        if self.tokenizer is not None:
            object.__setattr__(self, "tokenizer", os.fspath(self.tokenizer))

    def sizes(self) -> dict[str, int | None]:
        """Role -> the rows to keep of it (an exact size or a bound; None: all)."""
        sizes = {}
        for role in ROLES:
            exact, bound = getattr(self, f"{role}_size"), getattr(self, f"max_{role}_size")
            sizes[role] = exact if bound is None else bound
        return sizes

    def bounded(self) -> frozenset[str]:
        """The roles whose size is an upper bound (``max_X_size``), not a count that must fit."""
        return frozenset(r for r in ROLES if getattr(self, f"max_{r}_size") is not None)

    def names_columns_or_splits(self) -> bool:
        """Whether a column, split or tokenizer is set (none applies to embedded digits)."""
        fields = ("image_column", "text_column", "label_column", "train_split", "val_split",
                  "test_split", "tokenizer")  # fmt: skip
        return any(getattr(self, name) is not None for name in fields)

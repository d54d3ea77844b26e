"""What the store accepts: canonical JSON, and epoch records split into columns and extra."""

import math
from pathlib import Path

import numpy as np
import pytest

from uncertainty_lr.experiments.records import EPOCH_COLUMNS, canonical_json, split_record


def test_canonical_json_ignores_key_order_and_takes_paths_and_numpy_scalars():
    a = canonical_json({"b": 1, "a": {"y": Path("/x"), "x": np.float32(0.5)}})
    assert (
        a
        == canonical_json({"a": {"x": 0.5, "y": "/x"}, "b": 1})
        == '{"a":{"x":0.5,"y":"/x"},"b":1}'
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"lr": math.nan}, "cannot store as JSON: Out of range float values"),
        ({"f": print}, "is not JSON-serialisable; use numbers, strings, lists and dicts"),
    ],
)
def test_canonical_json_refuses_what_json_cannot_hold(value, message):
    with pytest.raises(ValueError, match=message):
        canonical_json(value)


def test_split_record_fills_columns_and_keeps_other_keys_as_extra():
    columns, extra = split_record(
        {"lr": 0.1, "val_loss": math.inf, "note": "warmup", "steps": np.int64(7), "z": -math.nan}
    )
    assert list(columns) == list(EPOCH_COLUMNS)
    assert columns["lr"] == 0.1 and columns["val_loss"] is None and columns["train_loss"] is None
    assert extra == {"note": "warmup", "steps": 7, "z": None, "nonfinite": "val_loss,z"}


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"epoch": 1}, "record key 'epoch' is reserved"),
        ({"": 1.0}, "record key must be a non-empty string, got ''"),
        ({"lr": "0.1"}, r"record\['lr'\] must be a number or None, got str"),
        ({"shape": [1, 2]}, r"record\['shape'\] must be a number, string, bool or None, got list"),
    ],
)
def test_split_record_names_the_bad_key(record, message):
    with pytest.raises(ValueError, match=message):
        split_record(record)

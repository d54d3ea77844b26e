"""What the results store accepts: canonical JSON, value checks, epoch records -> columns.

Plain Python, no SQLite and no torch: `experiments.store` writes what these functions
return, and their one-line ValueErrors are what a caller sees for a bad value.
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from uncertainty_lr.checks import check_int, check_text, check_type

# Fixed REAL columns of the epochs table, in table order. Other record keys go to `extra`.
EPOCH_COLUMNS: tuple[str, ...] = (
    "train_loss", "train_accuracy", "val_loss", "val_accuracy", "val_f1", "val_ece",
    "val_confidence", "val_entropy", "val_margin", "val_mutual_information", "val_variance",
    "train_signal", "signal", "lr", "train_time", "eval_time", "wall_time",
    "test_loss", "test_accuracy", "test_f1", "test_ece",
)  # fmt: skip

RESERVED_KEYS = ("run_id", "epoch", "extra")


@dataclass(frozen=True)
class Provenance:
    """What a run row records besides its key: a display ``name`` (default none), the
    ``hardware`` it ran on (a dict, default none), the package ``version`` and the
    ``git_sha`` of the code (default none). Refreshed when a run resumes."""

    name: str | None = None
    hardware: dict | None = None
    version: str = ""
    git_sha: str | None = None


def json_default(value: Any) -> Any:
    # Paths and numpy scalars show up in resolved configs; anything else is a caller bug.
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    raise ValueError(
        f"value {value!r} of type {type(value).__name__} is not JSON-serialisable; "
        "use numbers, strings, lists and dicts"
    )


def canonical_json(value: Any) -> str:
    """Key-sorted, compact JSON: equal dicts give equal text (the basis of ``run_id``)."""
    try:
        return json.dumps(
            value, sort_keys=True, separators=(",", ":"), default=json_default, allow_nan=False
        )
    except (TypeError, ValueError) as error:
        if "not JSON-serialisable" in str(error):
            raise
        # e.g. NaN/inf ("Out of range float values are not JSON compliant") or a cycle
        raise ValueError(f"cannot store as JSON: {error}; use None for missing values") from None


def finite_or_none(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def check_recordable(where: str, value: Any) -> None:
    """A value of a numeric column: any real number (NaN and inf are stored as NULL) or None."""
    check_type(where, value, (numbers.Real, type(None)), "a number or None")


def check_run_key(problem: Any, schedule: Any, seed: Any, config: Any) -> None:
    check_text("problem", problem)
    check_text("schedule", schedule)
    check_int("seed", seed, -math.inf)
    check_type("config", config, dict, "a dict")


def hash_run_id(problem: str, schedule: str, seed: int, config: dict) -> str:
    """16 hex digits of sha256 over the canonical JSON of the four inputs.

    Stable across processes and Python versions, so rerunning the same command finds
    the same run (and resumes it instead of starting a duplicate).
    """
    check_run_key(problem, schedule, seed, config)
    text = canonical_json(
        {"problem": problem, "schedule": schedule, "seed": seed, "config": config}
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def split_record(record: dict) -> tuple[dict[str, float | None], dict[str, Any]]:
    """Record -> (fixed column values, extra values); non-finite numbers become None."""
    columns: dict[str, float | None] = dict.fromkeys(EPOCH_COLUMNS)
    extra: dict[str, Any] = {}
    nonfinite: list[str] = []
    for key, value in record.items():
        check_text("record key", key)
        if key in RESERVED_KEYS:
            raise ValueError(f"record key {key!r} is reserved; allowed: any other name")
        if key in columns:
            check_recordable(f"record[{key!r}]", value)
            clean = None if value is None else finite_or_none(value)
            if value is not None and clean is None:
                nonfinite.append(key)
            columns[key] = clean
        elif value is None or isinstance(value, (str, bool)):
            extra[key] = value
        elif isinstance(value, numbers.Integral):
            extra[key] = int(value)
        elif isinstance(value, numbers.Real):
            extra[key] = finite_or_none(value)
            if extra[key] is None:
                nonfinite.append(key)
        else:
            raise ValueError(
                f"record[{key!r}] must be a number, string, bool or None, "
                f"got {type(value).__name__}"
            )
    if nonfinite:
        given = extra.get("nonfinite")
        names = given.split(",") if isinstance(given, str) and given else []
        extra["nonfinite"] = ",".join(dict.fromkeys(names + nonfinite))
    return columns, extra

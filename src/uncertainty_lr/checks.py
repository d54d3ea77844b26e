"""Value checks for settings and options: one ValueError line naming the value and what is allowed.

``check_int(name, value, low=1)`` -> "NAME must be a positive integer, got VALUE", and so
on. Booleans are never numbers here (``True`` is not an epoch count). No torch, no numpy:
the config, the CLI and the report side all use these.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Any


def is_int(value: Any) -> bool:
    """An int that is not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """A finite int or float that is not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_int(name: str, value: Any, low: int = 1, *, optional: bool = False, why: str = "") -> Any:
    """``value`` if it is an integer >= ``low`` (0: "non-negative", 1: "positive"), or None
    with ``optional``; else ValueError. ``why`` is appended to the allowed range, e.g.
    " (patience; 0 = off)"."""
    if (optional and value is None) or (is_int(value) and value >= low):
        return value
    what = {0: "a non-negative integer", 1: "a positive integer"}.get(low, f"an integer >= {low}")
    raise ValueError(f"{name} must be {what}{why}, got {value!r}")


def check_number(name: str, value: Any, low: float = 0.0, high: float = math.inf,
                 closed: str = "()") -> Any:  # fmt: skip
    """``value`` if it is a finite number in the interval ``closed`` ("()", "[)", "(]", "[]")
    from ``low`` to ``high``; else ValueError. (0, inf) reads "a positive number", [0, inf)
    "a non-negative number"."""
    ok = is_number(value) and (
        (low < value or (closed[0] == "[" and value == low))
        and (value < high or (closed[1] == "]" and value == high))
    )
    if ok:
        return value
    if high == math.inf and low == 0:
        what = "a positive number" if closed[0] == "(" else "a non-negative number"
    else:
        what = f"a number in {closed[0]}{low:g}, {high:g}{closed[1]}"
    raise ValueError(f"{name} must be {what}, got {value!r}")


def check_choice(name: str, value: Any, choices: Collection[str]) -> Any:
    """``value`` if it is one of ``choices``; else ValueError listing them."""
    if isinstance(value, str) and value in choices:
        return value
    raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")

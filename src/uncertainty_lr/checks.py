"""Value checks for settings, options and arguments: one ValueError line naming the value and
what is allowed, in one wording everywhere.

``check_int(name, value, low=1)`` -> "NAME must be a positive integer, got VALUE", and so
on. Booleans are never numbers here (``True`` is not an epoch count). Every package may
import this module (docs/architecture.md): it imports nothing of the package, no torch and
no numpy. ``numpy=True`` also accepts numpy's scalar types, through the ``numbers`` ABCs
numpy registers them with; the value comes back unconverted.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Collection
from typing import Any


def is_int(value: Any, *, numpy: bool = False) -> bool:
    """An int that is not a bool (``numpy``: also any ``numbers.Integral``, numpy's integers)."""
    kind = numbers.Integral if numpy else int
    return isinstance(value, kind) and not isinstance(value, bool)


def is_number(value: Any, *, numpy: bool = False) -> bool:
    """A finite int or float that is not a bool (``numpy``: any finite ``numbers.Real``)."""
    return _is_real(value, numpy) and math.isfinite(value)


def _is_real(value: Any, numpy: bool) -> bool:
    kind = numbers.Real if numpy else (int, float)
    return isinstance(value, kind) and not isinstance(value, bool)


def in_interval(value: float, low: float, high: float, closed: str = "[]") -> bool:
    """Whether the number ``value`` lies between ``low`` and ``high``; ``closed`` ("()", "[)",
    "(]" or "[]") says which ends belong. An infinite value only counts as an end that does."""
    above = value >= low if closed[0] == "[" else value > low
    below = value <= high if closed[1] == "]" else value < high
    return above and below and (math.isfinite(value) or value in (low, high))


def interval_words(low: float, high: float, closed: str = "[]", *, integer: bool = False) -> str:
    """What an interval allows, in words: "a positive integer", "a non-negative number",
    "an integer >= 2", "a number in (0, 1]", "a finite number"."""
    if integer:
        if high == math.inf:
            return {0: "a non-negative integer", 1: "a positive integer"}.get(
                low, "an integer" if low == -math.inf else f"an integer >= {low:g}"
            )
        return f"an integer in {closed[0]}{low:g}, {high:g}{closed[1]}"
    if high == math.inf and low == -math.inf:
        return "a finite number"
    if high == math.inf and low == 0:
        return "a positive number" if closed[0] == "(" else "a non-negative number"
    return f"a number in {closed[0]}{low:g}, {high:g}{closed[1]}"


def refuse(name: str, what: str, value: Any) -> ValueError:
    """The error of every check: "NAME must be WHAT, got VALUE" (raise it)."""
    return ValueError(f"{name} must be {what}, got {value!r}")


def check_int(name: str, value: Any, low: float = 1, high: float = math.inf, *,
              optional: bool = False, numpy: bool = False, why: str = "") -> Any:  # fmt: skip
    """``value`` if it is an integer in [``low``, ``high``] (0: "non-negative", 1: "positive"),
    or None with ``optional``; else ValueError. ``why`` follows the allowed range in the
    message, e.g. " (patience; 0 = off)"."""
    if optional and value is None:
        return value
    if is_int(value, numpy=numpy) and in_interval(value, low, high):
        return value
    raise refuse(name, interval_words(low, high, integer=True) + why, value)


def check_number(name: str, value: Any, low: float = 0.0, high: float = math.inf,
                 closed: str = "()", *, optional: bool = False, numpy: bool = False,
                 why: str = "") -> Any:  # fmt: skip
    """``value`` if it is a number in the interval ``closed`` ("()", "[)", "(]", "[]") from
    ``low`` to ``high`` (finite, unless an infinite end is closed), or None with
    ``optional``; else ValueError. (0, inf) reads "a positive number", [0, inf) "a
    non-negative number", (-inf, inf) "a finite number"; ``why`` follows it."""
    if optional and value is None:
        return value
    if _is_real(value, numpy) and in_interval(value, low, high, closed):
        return value
    raise refuse(name, interval_words(low, high, closed) + why, value)


def check_choice(name: str, value: Any, choices: Collection[str]) -> Any:
    """``value`` if it is one of ``choices``; else ValueError listing them."""
    if isinstance(value, str) and value in choices:
        return value
    raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


def check_bool(name: str, value: Any) -> bool:
    """``value`` if it is True or False (not 0 or 1); else ValueError."""
    if isinstance(value, bool):
        return value
    raise refuse(name, "true or false", value)


def check_text(name: str, value: Any, *, optional: bool = False, strip: bool = False,
               why: str = "") -> Any:  # fmt: skip
    """``value`` if it is a non-empty string (``strip``: not white space alone either), or
    None with ``optional``; else ValueError (``why`` follows "a non-empty string" in the
    message, as in `check_int`)."""
    if optional and value is None:
        return value
    if isinstance(value, str) and (value.strip() if strip else value):
        return value
    raise refuse(name, "a non-empty string" + why, value)


def check_type(name: str, value: Any, kinds: type | tuple[type, ...], what: str, *,
               show_value: bool = False) -> Any:  # fmt: skip
    """``value`` if it is an instance of ``kinds``; else "NAME must be WHAT, got TYPE": the
    type's name, as the value itself may be large (``show_value``: its repr, for values
    read from a file or a command line)."""
    if isinstance(value, kinds):
        return value
    if show_value:
        raise refuse(name, what, value)
    raise ValueError(f"{name} must be {what}, got {type(value).__name__}")


def check_list(name: str, value: Any, item: type | tuple[type, ...], what: str, *,
               empty: bool = True, length: int | None = None, low: float = -math.inf,
               optional: bool = False) -> Any:  # fmt: skip
    """``value`` if it is a list or tuple whose items are all ``item`` (never a bool, unless
    ``item`` is bool) and, for numbers, >= ``low``; not empty unless ``empty``, and of
    ``length`` items if given; or None with ``optional``. Else "NAME must be WHAT, got
    VALUE"."""
    if optional and value is None:
        return value
    shaped = isinstance(value, (list, tuple)) and len(value) >= (0 if empty else 1)
    shaped = shaped and (length is None or len(value) == length)
    items = shaped and all(
        isinstance(v, item) and (item is bool or not isinstance(v, bool)) for v in value
    )
    if items and (low == -math.inf or all(v >= low for v in value)):
        return value
    raise refuse(name, what, value)

"""Typed options with defaults and allowed ranges, checked without building anything.

One ``Option`` states a value's kind, default and range once; ``check_options`` validates
a user's mapping against a table of them (unknown names, wrong types, out-of-range
values each give a one-line ValueError). ``UncertaintyOptions`` is the uncertainty
policy's table, the single place its options are defined: ``UncertaintyPolicy``,
``UncertaintyLR``, the harness and every framework callback take these names.
No torch import here.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from uncertainty_lr.checks import (
    check_bool,
    check_choice,
    check_int,
    check_number,
    interval_words,
    is_number,
    refuse,
)


@dataclass(frozen=True)
class Option:
    """One option: ``kind`` is "number", "int", "choice", "bool" or "lrs" (None, a number
    > 0 or a list of them, one per parameter group). ``closed`` says which ends of
    [low, high] are allowed: "()", "[)", "(]" or "[]". ``optional`` allows None too."""

    default: Any
    kind: str = "number"
    low: float = -math.inf
    high: float = math.inf
    closed: str = "[]"
    choices: tuple[str, ...] = ()
    help: str = ""
    optional: bool = False

    def allowed(self) -> str:
        """What this option allows, in the words of ``uncertainty_lr.checks``."""
        if self.optional:
            return replace(self, optional=False).allowed() + " or None"
        if self.kind == "choice":
            return "one of " + ", ".join(self.choices)
        if self.kind == "bool":
            return "true or false"
        if self.kind == "lrs":
            return "a number > 0 or a list of them (one per parameter group)"
        return interval_words(self.low, self.high, self.closed, integer=self.kind == "int")

    def check(self, name: str, value: Any, owner: str = "") -> Any:
        """``value`` if it is allowed, else ValueError naming it ("NAME of OWNER" with an
        ``owner``) and what is allowed; a list or tuple of LRs comes back as a list."""
        label = f"{name} of {owner}" if owner else name
        if self.optional:
            if value is None:
                return None
            try:
                return replace(self, optional=False).check(name, value, owner)
            except ValueError:
                raise refuse(label, self.allowed(), value) from None
        if self.kind == "choice":
            return check_choice(label, value, self.choices)
        if self.kind == "bool":
            return check_bool(label, value)
        if self.kind == "int":
            return check_int(label, value, self.low, self.high)
        if self.kind == "number":
            return check_number(label, value, self.low, self.high, self.closed)
        values = list(value) if isinstance(value, (list, tuple)) else [value]
        if value is None or (values and all(is_number(v) and v > 0 for v in values)):
            return list(value) if isinstance(value, (list, tuple)) else value
        raise refuse(label, self.allowed(), value)


def check_options(
    owner: str,
    options: Mapping[str, Any],
    table: Mapping[str, Option],
    *,
    qualify: bool | Collection[str] = True,
) -> dict:
    """Defaults of ``table`` updated with ``options``, every value checked.

    Raises ValueError for an unknown name (listing the allowed ones) or a bad value,
    named "NAME of OWNER" when ``qualify`` is True or holds NAME, else just NAME.
    """
    unknown = sorted(set(options) - set(table))
    if unknown:
        allowed = ", ".join(sorted(table)) or "none"
        raise ValueError(f"unknown option(s) {', '.join(unknown)} for {owner}; allowed: {allowed}")
    resolved = {name: spec.default for name, spec in table.items()}
    for name, value in options.items():
        qualified = qualify is True or (not isinstance(qualify, bool) and name in qualify)
        resolved[name] = table[name].check(name, value, owner if qualified else "")
    return resolved


def _field(option: Option):
    return field(default=option.default, metadata={"option": option})


@dataclass(frozen=True)
class UncertaintyOptions:
    """Every option of the uncertainty policy, with its default and allowed range.

    Defaults are the study plan's rule: threshold 0.05, step size 0.1, mode "threshold".
    ``min_lr`` / ``max_lr`` default (None) to 1e-3 x and 10 x each group's initial LR.
    See ``UncertaintyPolicy`` and the mode classes (``schedulers.modes``) for what each
    option does. An option the chosen mode does not read (``READ_WHEN``), set to anything
    but its default, is a ValueError naming the option and the mode.
    """

    threshold: float = _field(Option(0.05, low=0.0, high=1.0, closed="()"))
    step_size: float = _field(Option(0.1, low=0.0, high=1.0, closed="()"))
    mode: str = _field(
        Option(
            "threshold",
            kind="choice",
            choices=("threshold", "band", "proportional", "anneal", "cycle"),
        )
    )
    min_lr: Any = _field(Option(None, kind="lrs"))
    max_lr: Any = _field(Option(None, kind="lrs"))
    smoothing: float = _field(Option(0.0, low=0.0, high=1.0, closed="[)"))
    cooldown: int = _field(Option(0, kind="int", low=0))
    warmup: int = _field(Option(0, kind="int", low=0))
    reference: str = _field(
        Option("absolute", kind="choice", choices=("absolute", "initial", "running_min"))
    )
    reference_steps: int = _field(Option(1, kind="int", low=1))
    band_width: float = _field(Option(0.5, low=0.0, high=1.0, closed="()"))
    warmup_start_factor: float = _field(Option(0.1, low=0.0, high=1.0, closed="(]"))
    # mode="anneal" (budget-free cooldown): hold the LR while the signal keeps improving by
    # more than `tolerance` (relative); after `patience` decisions without that, decay
    # linearly to min_lr over decay_ratio x the decisions taken so far. trigger="threshold"
    # counts decisions (in a row) with the signal above `threshold` and no new low instead.
    trigger: str = _field(Option("stall", kind="choice", choices=("stall", "threshold")))
    patience: int = _field(Option(2, kind="int", low=1))
    tolerance: float = _field(Option(0.05, low=0.0, high=1.0, closed="[)"))
    decay_ratio: float = _field(Option(0.5, low=0.0, high=10.0, closed="(]"))
    # explore=True (mode="anneal", trigger="threshold"): the signal is signed, in [-1, 1]
    # (``calibration_gap``); before the decay, each decision with the signal below
    # -threshold raises the LR x (1 + step_size), up to max_lr; the decay starts from there.
    explore: bool = _field(Option(False, kind="bool"))
    # mode="cycle" (schedulers/modes/cycle.py), stepped once per optimizer step: search the LR
    # level from the training loss (search_*), hold it, anneal once the signal has stayed
    # above `threshold` for `patience` decisions; with total_steps (the budget, in steps)
    # the linear decay ends at 0 there and starts within [decay_earliest, decay_latest] x it,
    # without, it lasts decay_ratio x the steps so far.
    total_steps: Any = _field(Option(None, kind="int", low=1, optional=True))
    search: bool = _field(Option(True, kind="bool"))
    # search_steps: steps of the ramp from the base LR to max_lr; None: SEARCH_STEPS (the
    # harness: one epoch's steps).
    search_steps: Any = _field(Option(None, kind="int", low=1, optional=True))
    search_margin: float = _field(Option(0.05, low=0.0, high=1.0, closed="()"))
    search_safety: float = _field(Option(1 / 3, low=0.0, high=1.0, closed="(]"))
    # search_threshold: the signal above which the search backs off (0.1: twice the anneal's
    # threshold, so that one noisy first evaluation does not cut the level).
    search_threshold: float = _field(Option(0.1, low=0.0, high=1.0, closed="()"))
    decay_earliest: float = _field(Option(0.5, low=0.0, high=1.0))
    decay_latest: float = _field(Option(0.8, low=0.0, high=1.0))
    decay_shape: str = _field(Option("linear", kind="choice", choices=("linear", "sqrt")))

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = f.metadata["option"].check(f.name, getattr(self, f.name))
            object.__setattr__(self, f.name, value)
        if self.explore and (
            self.mode != "anneal" or self.trigger != "threshold" or self.reference != "absolute"
        ):
            raise ValueError(
                "explore needs mode='anneal', trigger='threshold' and reference='absolute', "
                f"got mode={self.mode!r}, trigger={self.trigger!r}, reference={self.reference!r}"
            )
        if self.decay_earliest > self.decay_latest:
            raise ValueError(
                f"decay_earliest must not exceed decay_latest, got {self.decay_earliest:g} > "
                f"{self.decay_latest:g}"
            )
        values = self.to_dict()
        for name in READ_WHEN:
            if values[name] != _DEFAULTS[name] and not _is_read(name, values):
                raise ValueError(_unread_message(name, values))

    @classmethod
    def table(cls) -> dict[str, Option]:
        """Name -> Option, in definition order."""
        return {f.name: f.metadata["option"] for f in dataclasses.fields(cls)}

    @classmethod
    def from_mapping(cls, options: Mapping[str, Any], owner: str = "UncertaintyLR"):
        """Build from a mapping; an unknown name is a ValueError listing the allowed ones."""
        return cls(**check_options(owner, options, cls.table(), qualify=False))

    @classmethod
    def read_only(cls, values: Mapping[str, Any], owner: str = "saved state"):
        """Build from ``values`` with every option the chosen settings do not read put back
        at its default: for saved states, which may hold such options from before they were
        an error (they never had an effect)."""
        resolved = check_options(owner, values, cls.table(), qualify=False)
        for name in READ_WHEN:
            if not _is_read(name, resolved):
                resolved[name] = _DEFAULTS[name]
        return cls(**resolved)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


#: The level search's ramp length when ``search_steps`` is None, in optimizer steps.
SEARCH_STEPS = 100

_DEFAULTS = {name: option.default for name, option in UncertaintyOptions.table().items()}

#: Options that only some modes read: option -> {setting: the values of it that read the
#: option}, any one of them enough. Every option not listed is read in every mode. One given
#: a value other than its default where none of its settings holds would do nothing, so
#: UncertaintyOptions refuses it, naming the option and the mode. (Only defaults count as
#: not given: the harness passes every option, filled in.) A new mode lists here the options
#: it reads.
_CYCLE = {"mode": ("cycle",)}
_DECISIONS = {"mode": ("threshold", "band", "proportional", "anneal")}
READ_WHEN: dict[str, dict[str, tuple[Any, ...]]] = {
    "threshold": {
        "mode": ("threshold", "band", "proportional", "cycle"),
        "trigger": ("threshold",),
    },
    "step_size": {"mode": ("threshold", "band"), "explore": (True,)},
    "band_width": {"mode": ("band",)},
    "trigger": {"mode": ("anneal",)},
    "patience": {"mode": ("anneal", "cycle")},
    "tolerance": {"mode": ("anneal", "cycle")},
    "decay_ratio": {"mode": ("anneal", "cycle")},
    "explore": {"mode": ("anneal",)},
    # The cycle's LR moves every step; warmup and cooldown count decisions.
    "warmup": _DECISIONS,
    "cooldown": _DECISIONS,
    **{name: _CYCLE for name in ("total_steps", "search", "search_steps", "search_margin",
                                 "search_safety", "search_threshold", "decay_earliest", "decay_latest",
                                 "decay_shape")},
}  # fmt: skip


def _is_read(name: str, values: Mapping[str, Any]) -> bool:
    """Whether option ``name`` has an effect under ``values`` (every option's value)."""
    return any(values[setting] in readers for setting, readers in READ_WHEN[name].items())


def _unread_message(name: str, values: Mapping[str, Any]) -> str:
    """E.g. "patience=5 does nothing in mode 'threshold'; it is read with mode='anneal'"."""
    readers = READ_WHEN[name]
    context = "".join(f" with {s}={values[s]!r}" for s in readers if s != "mode")
    ways = [f"{s}=" + " or ".join(repr(v) for v in allowed) for s, allowed in readers.items()]
    return (
        f"{name}={values[name]!r} does nothing in mode {values['mode']!r}{context}; "
        f"it is read with {', or '.join(ways)}"
    )


#: The recommended options when the budget is not known, chosen in the method study
#: (docs/results.md) on validation data: mode "cycle", stepped after every optimizer step
#: with the training loss (``observe_loss``) and, after each evaluation, the held-out
#: over-confidence (``signals.overconfidence``: confidence minus accuracy) via ``observe``.
#: It searches the LR level over the first ``search_steps`` steps, holds it, and once the
#: model has stayed over 5 % surer than it is right for 2 evaluations decays to ~0 over half
#: the steps so far; ``annealed`` then says training can stop. Evaluate a ``WeightAverage``
#: of the weights (the harness's default arm does). Told the budget, add ``total_steps``.
RECOMMENDED: dict[str, Any] = {"mode": "cycle"}

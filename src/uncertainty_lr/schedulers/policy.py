"""Framework-free uncertainty -> learning-rate controller.

The policy owns every decision: smoothing, the reference the signal is judged against,
warmup, cooldown, the update rule and the per-group bounds. Adapters (torch, Lightning,
Hugging Face, Keras) only feed it a float and write back the list of LRs it returns, so
they all behave identically. No torch import here, on purpose.

Signals are floats in [0, 1] with 0 = certain and 1 = maximally unsure; with
``explore=True`` they are signed, in [-1, 1] (``calibration_gap``: below 0 = under-confident).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from uncertainty_lr.schedulers.options import Option, UncertaintyOptions

MODES = UncertaintyOptions.table()["mode"].choices
REFERENCES = UncertaintyOptions.table()["reference"].choices

#: ``max_lr`` defaults to this multiple of each group's initial LR, so the explore rule
#: cannot run away on a dataset whose signal never drops below the threshold.
MAX_LR_MULTIPLE = 10.0
#: ``min_lr`` defaults to this multiple of each group's initial LR (1e-6 for lr=1e-3,
#: the floor the study plan gives ReduceLROnPlateau).
MIN_LR_MULTIPLE = 1e-3


#: A learning rate, and a per-group LR bound (which may be infinite).
_LR = Option(None, low=0.0, closed="()")
_BOUND = Option(None, low=0.0, closed="(]")


def _per_group(name: str, value: float | Sequence[float], n: int) -> list[float]:
    values = list(value) if isinstance(value, (list, tuple)) else [value] * n
    if len(values) != n:
        raise ValueError(
            f"{name} must be one number or a list of {n} (one per group), got {len(values)}"
        )
    for v in values:
        _BOUND.check(name, v)
    return [float(v) for v in values]


def check_signal(value: object, low: float = 0.0) -> float:
    """Return ``value`` as a float, or raise ValueError unless it is finite and in [low, 1]
    (``low`` is 0, or -1 for a signed signal)."""
    allowed = f"uncertainty must be a finite number in [{low:g}, 1], got {value!r}"
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(allowed) from None
    if not math.isfinite(v) or not low <= v <= 1.0:
        raise ValueError(allowed)
    return v


def proportional_factor(ratio: float, multiple: float) -> float:
    """Smooth bounded map of signal/threshold to an LR factor: multiple ** tanh(ln ratio).

    tanh(ln r) = (r^2 - 1) / (r^2 + 1), so the factor is 1/multiple at r = 0, 1 at r = 1
    and tends to ``multiple`` as r grows.
    """
    r2 = ratio * ratio
    return multiple ** ((r2 - 1.0) / (r2 + 1.0))


class UncertaintyPolicy:
    """Turns a stream of uncertainty signals into per-group learning rates.

    Modes (s = the judged signal, t = threshold, h = step_size, w = band_width):
      - ``threshold``: lr <- lr * (1 + h) if s > t else lr * (1 - h)   (the study plan's rule)
      - ``band``: lr <- lr * (1 + h) if s > t(1 + w); lr * (1 - h) if s < t(1 - w); else hold
      - ``proportional``: lr = base_lr * M ** tanh(ln(s / t)), M = max_lr / base_lr per group
      - ``anneal`` (budget-free cooldown): lr = base_lr while s keeps setting new lows, each
        at least ``tolerance`` (relative) below the best so far; after ``patience``
        decisions without one, a linear decay to min_lr starts, lasting
        D = ceil(decay_ratio x decisions so far): lr = base_lr x (1 - j / D) at the j-th
        decision of the decay. ``annealed`` is True once it has ended (training can stop).
        With ``trigger="threshold"`` the decay starts instead after ``patience`` decisions
        in a row with s > threshold that set no new low (for a signal whose healthy level
        is known, such as ``overconfidence``: 0 while the model is no more sure than it is
        right; one that starts high and keeps falling is still being corrected).
        With ``explore=True`` as well the signal is signed, in [-1, 1] (``calibration_gap``):
        the trigger judges max(s, 0), and before the decay each decision with
        s < -threshold (under-confident) multiplies a gain by (1 + step_size), capped so no
        group passes its max_lr: lr = base_lr x gain, and the decay runs from there.
    Every LR is then clamped to [min_lr, max_lr] of its group.

    References (u = the smoothed signal):
      - ``absolute``: s = u
      - ``initial``: s = min(u / u0, 1), u0 = mean of the first ``reference_steps`` values of u
      - ``running_min``: s = 1 - min(u so far) / u  (0 at the best level seen, -> 1 far above it)

    Args:
        base_lrs: initial LR of each parameter group (> 0).
        options: an ``UncertaintyOptions``, or its fields given as keywords (not both):
        threshold: in (0, 1); default 0.05 (the study plan).
        step_size: in (0, 1); default 0.1 (the study plan).
        mode: one of MODES.
        min_lr, max_lr: a number or one per group; default MIN_LR_MULTIPLE / MAX_LR_MULTIPLE x base.
        smoothing: EMA weight on the previous value, in [0, 1); 0 = no smoothing.
        cooldown: steps to hold the LR after it changed.
        warmup: steps of linear ramp from ``warmup_start_factor`` x base to base before the
            policy engages (the signal is still smoothed and the reference still collected).
        reference: one of REFERENCES; reference_steps: steps averaged for ``initial``.
        band_width: relative half-width of the dead band for ``band``, in (0, 1).
    """

    def __init__(
        self,
        base_lrs: Sequence[float],
        options: UncertaintyOptions | None = None,
        **kwargs: Any,
    ) -> None:
        if options is None:
            options = UncertaintyOptions.from_mapping(kwargs, owner="UncertaintyPolicy")
        elif kwargs:
            raise ValueError("give either options or keyword options, not both")
        if not base_lrs:
            raise ValueError("base_lrs must hold at least one learning rate, got none")
        for lr in base_lrs:
            _LR.check("learning rate", lr)
        self.base_lrs = [float(lr) for lr in base_lrs]
        n = len(self.base_lrs)
        for name, value in options.to_dict().items():
            if name not in ("min_lr", "max_lr"):  # kept per group, as min_lrs / max_lrs
                setattr(self, name, value)
        min_lr, max_lr = options.min_lr, options.max_lr
        if min_lr is None:
            min_lr = [lr * MIN_LR_MULTIPLE for lr in self.base_lrs]
        if max_lr is None:
            max_lr = [lr * MAX_LR_MULTIPLE for lr in self.base_lrs]
        self.min_lrs = _per_group("min_lr", min_lr, n)
        self.max_lrs = _per_group("max_lr", max_lr, n)
        for lo, hi in zip(self.min_lrs, self.max_lrs):
            if lo > hi:
                raise ValueError(
                    f"min_lr must not exceed max_lr, got min_lr={lo:g} > max_lr={hi:g}"
                )
        # Mutable state: plain numbers only, see state_dict().
        self.steps = 0
        self.ema: float | None = None
        self.ref_sum = 0.0
        self.ref_count = 0
        self.running_min: float | None = None
        self.cooldown_left = 0
        self.last_signal: float | None = None
        self.lrs = [
            self._clamp(i, lr * self._warmup_factor(0)) for i, lr in enumerate(self.base_lrs)
        ]
        # mode="anneal": the best judged signal so far, decisions since it improved, and the
        # decay (its first decision and its length) once it started.
        self.best: float | None = None
        self.stall = 0
        self.decay_start: int | None = None
        self.decay_steps = 0
        # explore=True: the factor the under-confident decisions have raised the LR by.
        self.gain = 1.0
        # For writers that compose with other schedules (see advance()): the signal waiting
        # for the next decision, and the policy LRs as of the last write.
        self.pending: float | None = None
        self.applied = list(self.base_lrs)

    # -- the decision -------------------------------------------------------------------
    def step(self, uncertainty: float) -> list[float]:
        """Feed one signal in [0, 1] ([-1, 1] with explore); return the new LR of every group."""
        u = check_signal(uncertainty, self.signal_low)
        self.steps += 1
        self.ema = u if self.ema is None else self.smoothing * self.ema + (1 - self.smoothing) * u
        s = self._judged(self.ema)
        self.last_signal = s
        if self.steps <= self.warmup:
            factor = self._warmup_factor(self.steps)
            self.lrs = [self._clamp(i, lr * factor) for i, lr in enumerate(self.base_lrs)]
            return list(self.lrs)
        if self.cooldown_left > 0:
            self.cooldown_left -= 1
            return list(self.lrs)
        new = [self._clamp(i, lr) for i, lr in enumerate(self._rule(s))]
        if new != self.lrs:
            self.cooldown_left = self.cooldown
        self.lrs = new
        return list(self.lrs)

    def observe(self, uncertainty: float) -> None:
        """Queue one signal for the next advance() / restart(); the last one wins."""
        self.pending = check_signal(uncertainty, self.signal_low)

    def advance(self, current_lrs: Sequence[float]) -> list[float]:
        """The LRs to write now, composed with whatever else moved them (the one LR writer).

        Takes one decision if a signal is pending (none otherwise), then scales each
        group's ``current`` LR by how much the policy's own LR changed since the last
        write: ``new = policy_lr * (current / policy_lr_at_last_write)``. Alone, current
        equals the last write, so the policy's LR is written exactly; after another
        schedule (a cosine envelope, say) moved it, the two multiply.
        """
        if len(current_lrs) != len(self.lrs):
            raise ValueError(
                f"the policy schedules {len(self.lrs)} parameter groups, got {len(current_lrs)} LRs"
            )
        self._decide_pending()
        new = [lr * (float(cur) / old) for lr, cur, old in zip(self.lrs, current_lrs, self.applied)]
        self.applied = list(self.lrs)
        return new

    def restart(self) -> list[float]:
        """Like advance(), but returns the policy's own LRs (base x its factor), ignoring the
        current ones: what a scheduler handed over to by ``SequentialLR`` starts from."""
        self._decide_pending()
        self.applied = list(self.lrs)
        return list(self.lrs)

    def _decide_pending(self) -> None:
        if self.pending is not None:
            u, self.pending = self.pending, None
            self.step(u)

    @property
    def signal_low(self) -> float:
        """Signals are in [signal_low, 1]: signed (from -1) only with explore."""
        return -1.0 if self.explore else 0.0

    @property
    def annealed(self) -> bool:
        """True once an ``anneal`` decay has run its course (the LR is at min_lr)."""
        return (
            self.decay_start is not None and self.steps - self.decay_start + 1 >= self.decay_steps
        )

    def _anneal_factor(self, s: float) -> float:
        if self.decay_start is None:
            if self.explore:
                if s < -self.threshold:  # right more often than sure: explore
                    cap = min(hi / base for hi, base in zip(self.max_lrs, self.base_lrs))
                    self.gain = max(1.0, min(self.gain * (1.0 + self.step_size), cap))
                s = max(s, 0.0)  # the trigger judges over-confidence only
            new_low = self.best is None or s < self.best * (1.0 - self.tolerance)
            if new_low:
                self.best = s
            if self.trigger == "threshold":  # above the threshold and not falling
                self.stall = self.stall + 1 if s > self.threshold and not new_low else 0
            else:
                self.stall = 0 if new_low else self.stall + 1
            if self.stall < self.patience:
                return self.gain
            # The stall is the cue: decay over a length set by the time taken to get here.
            self.decay_start = self.steps
            self.decay_steps = max(1, math.ceil(self.decay_ratio * self.steps))
        j = self.steps - self.decay_start + 1
        return self.gain * max(0.0, 1.0 - j / self.decay_steps)

    def _rule(self, s: float) -> list[float]:
        if self.mode == "anneal":
            factor = self._anneal_factor(s)
            return [base * factor for base in self.base_lrs]
        t, h = self.threshold, self.step_size
        if self.mode == "proportional":
            return [
                base * proportional_factor(s / t, hi / base)
                for base, hi in zip(self.base_lrs, self.max_lrs)
            ]
        if self.mode == "threshold":
            m = 1 + h if s > t else 1 - h
        elif s > t * (1 + self.band_width):
            m = 1 + h
        elif s < t * (1 - self.band_width):
            m = 1 - h
        else:
            m = 1.0
        return [lr * m for lr in self.lrs]

    def _judged(self, u: float) -> float:
        """The signal the rule compares with the threshold, after the reference."""
        if self.reference == "absolute":
            return u
        if self.reference == "initial":
            if self.ref_count < self.reference_steps:
                self.ref_sum += u
                self.ref_count += 1
            u0 = self.ref_sum / self.ref_count
            # A first value of exactly 0 means "already certain": judge as certain, not unsure.
            return 0.0 if u0 <= 0 else min(u / u0, 1.0)
        self.running_min = u if self.running_min is None else min(self.running_min, u)
        return 0.0 if u <= 0 else 1.0 - self.running_min / u

    def _warmup_factor(self, step: int) -> float:
        if self.warmup == 0:
            return 1.0
        return (
            self.warmup_start_factor
            + (1.0 - self.warmup_start_factor) * min(step, self.warmup) / self.warmup
        )

    def _clamp(self, i: int, lr: float) -> float:
        return min(max(lr, self.min_lrs[i]), self.max_lrs[i])

    # -- state --------------------------------------------------------------------------
    _STATE = ("steps", "ema", "ref_sum", "ref_count", "running_min", "cooldown_left", "last_signal",
              "pending", "best", "stall", "decay_start", "decay_steps", "gain")  # fmt: skip
    _CONFIG = (
        "base_lrs", "threshold", "step_size", "mode", "min_lrs", "max_lrs", "smoothing",
        "cooldown", "warmup", "reference", "reference_steps", "band_width", "warmup_start_factor",
        "trigger", "patience", "tolerance", "decay_ratio", "explore",
    )  # fmt: skip
    #: Options added after the first release: a state saved before them loads with these.
    _ADDED = {"trigger": "stall", "explore": False, "gain": 1.0}

    def state_dict(self) -> dict:
        """Configuration and state as plain numbers, strings and lists (torch.load(weights_only=True) safe)."""
        state = {k: getattr(self, k) for k in self._CONFIG + self._STATE}
        for k in ("base_lrs", "min_lrs", "max_lrs"):
            state[k] = list(state[k])
        state["lrs"] = list(self.lrs)
        state["applied"] = list(self.applied)
        return state

    def load_state_dict(self, state: dict) -> None:
        """Restore from state_dict(); the number of groups must match."""
        state = {**self._ADDED, **state}
        missing = [k for k in self._CONFIG + self._STATE + ("lrs", "applied") if k not in state]
        if missing:
            raise ValueError(f"scheduler state is missing keys: {', '.join(missing)}")
        if len(state["lrs"]) != len(self.base_lrs):
            raise ValueError(
                f"scheduler state has {len(state['lrs'])} parameter groups, this optimizer has {len(self.base_lrs)}"
            )
        for k in self._CONFIG + self._STATE:
            value = state[k]
            setattr(self, k, list(value) if isinstance(value, (list, tuple)) else value)
        self.lrs = [float(v) for v in state["lrs"]]
        self.applied = [float(v) for v in state["applied"]]

"""Framework-free uncertainty -> learning-rate controller.

The policy owns every decision: smoothing, the reference the signal is judged against,
warmup, cooldown, the update rule and the per-group bounds. Adapters (torch, Lightning,
Hugging Face, Keras) only feed it a float and write back the list of LRs it returns, so
they all behave identically. No torch import here, on purpose.

Signals are floats in [0, 1] with 0 = certain and 1 = maximally unsure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

MODES = ("threshold", "band", "proportional")
REFERENCES = ("absolute", "initial", "running_min")

#: ``max_lr`` defaults to this multiple of each group's initial LR, so the explore rule
#: cannot run away on a dataset whose signal never drops below the threshold.
MAX_LR_MULTIPLE = 10.0
#: ``min_lr`` defaults to this multiple of each group's initial LR (1e-6 for lr=1e-3,
#: the floor the study plan gives ReduceLROnPlateau).
MIN_LR_MULTIPLE = 1e-3


def _check_number(name: str, value: object, low: float, high: float, *, closed: str) -> float:
    """Validate ``value`` in an interval; ``closed`` is "()", "[)", "(]" or "[]"."""
    allowed = f"{closed[0]}{low:g}, {high:g}{closed[1]}"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number in {allowed}, got {value!r}")
    v = float(value)
    ok_low = v >= low if closed[0] == "[" else v > low
    ok_high = v <= high if closed[1] == "]" else v < high
    if not (math.isfinite(v) or (high == math.inf and v == math.inf)) or not (ok_low and ok_high):
        raise ValueError(f"{name} must be a number in {allowed}, got {value!r}")
    return v


def _check_count(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return value


def _per_group(name: str, value: float | Sequence[float], n: int) -> list[float]:
    values = list(value) if isinstance(value, (list, tuple)) else [value] * n
    if len(values) != n:
        raise ValueError(
            f"{name} must be one number or a list of {n} (one per group), got {len(values)}"
        )
    for v in values:
        _check_number(name, v, 0.0, math.inf, closed="(]")
    return [float(v) for v in values]


def check_signal(value: object) -> float:
    """Return ``value`` as a float, or raise ValueError unless it is finite and in [0, 1]."""
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"uncertainty must be a finite number in [0, 1], got {value!r}") from None
    if not math.isfinite(v) or not 0.0 <= v <= 1.0:
        raise ValueError(f"uncertainty must be a finite number in [0, 1], got {value!r}")
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
    Every LR is then clamped to [min_lr, max_lr] of its group.

    References (u = the smoothed signal):
      - ``absolute``: s = u
      - ``initial``: s = min(u / u0, 1), u0 = mean of the first ``reference_steps`` values of u
      - ``running_min``: s = 1 - min(u so far) / u  (0 at the best level seen, -> 1 far above it)

    Args:
        base_lrs: initial LR of each parameter group (> 0).
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
        threshold: float = 0.05,
        step_size: float = 0.1,
        mode: str = "threshold",
        min_lr: float | Sequence[float] | None = None,
        max_lr: float | Sequence[float] | None = None,
        smoothing: float = 0.0,
        cooldown: int = 0,
        warmup: int = 0,
        reference: str = "absolute",
        reference_steps: int = 1,
        band_width: float = 0.5,
        warmup_start_factor: float = 0.1,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
        if reference not in REFERENCES:
            raise ValueError(f"reference must be one of {', '.join(REFERENCES)}; got {reference!r}")
        if not base_lrs:
            raise ValueError("base_lrs must hold at least one learning rate, got none")
        for lr in base_lrs:
            _check_number("learning rate", lr, 0.0, math.inf, closed="()")
        self.base_lrs = [float(lr) for lr in base_lrs]
        n = len(self.base_lrs)
        self.threshold = _check_number("threshold", threshold, 0.0, 1.0, closed="()")
        self.step_size = _check_number("step_size", step_size, 0.0, 1.0, closed="()")
        self.mode = mode
        self.smoothing = _check_number("smoothing", smoothing, 0.0, 1.0, closed="[)")
        self.cooldown = _check_count("cooldown", cooldown)
        self.warmup = _check_count("warmup", warmup)
        self.reference = reference
        self.reference_steps = _check_count("reference_steps", reference_steps)
        if self.reference_steps < 1:
            raise ValueError(f"reference_steps must be at least 1, got {reference_steps!r}")
        self.band_width = _check_number("band_width", band_width, 0.0, 1.0, closed="()")
        self.warmup_start_factor = _check_number(
            "warmup_start_factor", warmup_start_factor, 0.0, 1.0, closed="(]"
        )
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

    # -- the decision -------------------------------------------------------------------
    def step(self, uncertainty: float) -> list[float]:
        """Feed one signal in [0, 1]; return the new LR of every group."""
        u = check_signal(uncertainty)
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

    def _rule(self, s: float) -> list[float]:
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
            return 1.0 if u0 <= 0 else min(u / u0, 1.0)
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
    _STATE = ("steps", "ema", "ref_sum", "ref_count", "running_min", "cooldown_left", "last_signal")
    _CONFIG = (
        "base_lrs", "threshold", "step_size", "mode", "min_lrs", "max_lrs", "smoothing",
        "cooldown", "warmup", "reference", "reference_steps", "band_width", "warmup_start_factor",
    )  # fmt: skip

    def state_dict(self) -> dict:
        """Configuration and state as plain numbers, strings and lists (torch.load(weights_only=True) safe)."""
        state = {k: getattr(self, k) for k in self._CONFIG + self._STATE}
        for k in ("base_lrs", "min_lrs", "max_lrs"):
            state[k] = list(state[k])
        state["lrs"] = list(self.lrs)
        return state

    def load_state_dict(self, state: dict) -> None:
        """Restore from state_dict(); the number of groups must match."""
        missing = [k for k in self._CONFIG + self._STATE + ("lrs",) if k not in state]
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

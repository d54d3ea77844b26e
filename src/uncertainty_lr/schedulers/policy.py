"""Framework-free uncertainty -> learning-rate controller.

``UncertaintyPolicy`` owns what every mode shares: the per-group bounds, smoothing, the
reference the signal is judged against, warmup, cooldown, and the LRs it writes. Its mode
(``schedulers.modes``: one small class per mode, with its own state) gives the rule.
Adapters (torch, Lightning, Hugging Face, Keras) only feed it a float and write back the
list of LRs it returns, so they all behave identically. No torch import here, on purpose.

Signals are floats in [0, 1] with 0 = certain and 1 = maximally unsure; with
``explore=True`` they are signed, in [-1, 1] (``calibration_gap``: below 0 = under-confident).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from uncertainty_lr.schedulers.modes import RULES, ModeRule, proportional_factor
from uncertainty_lr.schedulers.options import Option, UncertaintyOptions

__all__ = ["MODES", "REFERENCES", "UncertaintyPolicy", "check_signal", "proportional_factor"]

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

#: The shared state, plain numbers: decisions taken, the smoothed signal, the ``initial``
#: reference's sum and count, the ``running_min`` reference, decisions left in cooldown,
#: the last judged signal and the signal waiting for the next step (see observe()).
_STATE = ("steps", "ema", "ref_sum", "ref_count", "running_min", "cooldown_left",
          "last_signal", "pending")  # fmt: skip
_LISTS = ("base_lrs", "min_lrs", "max_lrs", "lrs", "applied")


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


def _bounds(name: str, value: Any, base_lrs: Sequence[float], multiple: float) -> list[float]:
    """Per-group bound ``name`` from one number, a list (one per group) or None (a multiple
    of each group's base LR)."""
    n = len(base_lrs)
    if value is None:
        return [lr * multiple for lr in base_lrs]
    values = list(value) if isinstance(value, (list, tuple)) else [value] * n
    if len(values) != n:
        raise ValueError(
            f"{name} must be one number or a list of {n} (one per group), got {len(values)}"
        )
    for v in values:
        _BOUND.check(name, v)
    return [float(v) for v in values]


class UncertaintyPolicy:
    """Turns a stream of uncertainty signals into per-group learning rates.

    Each decision (``step(u)``): u is smoothed (an EMA), judged against the reference, and
    then, past warmup and outside cooldown, the mode's rule sets the new LRs; every LR is
    clamped to [min_lr, max_lr] of its group. The modes (s = the judged signal; each class
    in ``schedulers.modes`` states its rule and options):

      - ``threshold``: lr <- lr x (1 + step_size) if s > threshold else lr x (1 - step_size)
      - ``band``: the same with a dead band of relative half-width ``band_width``: hold inside
      - ``proportional``: lr = base_lr x M ** tanh(ln(s / threshold)), M = max_lr / base_lr
      - ``anneal``: hold while s keeps setting new lows (``trigger="stall"``) or stays at or
        below ``threshold`` (``trigger="threshold"``); after ``patience`` decisions that do
        not, decay linearly to min_lr over ``decay_ratio`` x the decisions so far.
        ``explore=True`` raises the LR first while the signed signal says under-confident.
      - ``cycle`` (stepped per optimizer step, with the training loss): search the LR level,
        hold it, anneal once s stays above ``threshold``; to 0 at ``total_steps`` if given.

    References (u = the smoothed signal):
      - ``absolute``: s = u
      - ``initial``: s = min(u / u0, 1), u0 = mean of the first ``reference_steps`` values of u
      - ``running_min``: s = 1 - min(u so far) / u  (0 at the best level seen, -> 1 far above it)

    Args:
        base_lrs: initial LR of each parameter group (> 0).
        options: an ``UncertaintyOptions``, or its fields given as keywords (not both); an
            option the chosen mode does not read, set away from its default, is a ValueError.
        threshold: in (0, 1); default 0.05 (the study plan).
        step_size: in (0, 1); default 0.1 (the study plan).
        mode: one of MODES.
        min_lr, max_lr: a number or one per group; default MIN_LR_MULTIPLE / MAX_LR_MULTIPLE x base.
        smoothing: EMA weight on the previous value, in [0, 1); 0 = no smoothing.
        cooldown: decisions to hold the LR after it changed.
        warmup: decisions of linear ramp from ``warmup_start_factor`` x base to base before the
            mode engages (the signal is still smoothed and the reference still collected).
        reference: one of REFERENCES; reference_steps: decisions averaged for ``initial``.

    The mode's own options and state read as the policy's (``policy.decay_start``).
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
        self._configure(options)
        self.min_lrs = _bounds("min_lr", options.min_lr, self.base_lrs, MIN_LR_MULTIPLE)
        self.max_lrs = _bounds("max_lr", options.max_lr, self.base_lrs, MAX_LR_MULTIPLE)
        for lo, hi in zip(self.min_lrs, self.max_lrs):
            if lo > hi:
                raise ValueError(
                    f"min_lr must not exceed max_lr, got min_lr={lo:g} > max_lr={hi:g}"
                )
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
        # For writers that compose with other schedules (see advance()): the signal waiting
        # for the next decision, and the policy LRs as of the last write.
        self.pending: float | None = None
        self.applied = list(self.base_lrs)

    def _configure(self, options: UncertaintyOptions) -> None:
        """Keep ``options``, the shared ones as attributes, and build the mode's rule."""
        self.options = options
        self.mode = options.mode
        self.smoothing = options.smoothing
        self.cooldown = options.cooldown
        self.warmup = options.warmup
        self.warmup_start_factor = options.warmup_start_factor
        self.reference = options.reference
        self.reference_steps = options.reference_steps
        self.rule: ModeRule = RULES[options.mode](options)

    def __getattr__(self, name: str) -> Any:
        # Only called for names the policy lacks: the mode's own options and state.
        rule = self.__dict__.get("rule")
        if rule is not None and not name.startswith("__"):
            try:
                return getattr(rule, name)
            except AttributeError:
                pass
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

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
        new = [self._clamp(i, lr) for i, lr in enumerate(self.rule.decide(s, self))]
        if new != self.lrs:
            self.cooldown_left = self.cooldown
        self.lrs = new
        return list(self.lrs)

    @property
    def signal_low(self) -> float:
        """Signals are in [signal_low, 1]: signed (from -1) only with explore."""
        return self.rule.signal_low

    @property
    def annealed(self) -> bool:
        """True once an ``anneal`` decay has run its course (the LR is at min_lr)."""
        return self.rule.annealed(self)

    # -- writing the LRs ----------------------------------------------------------------
    def observe(self, uncertainty: float) -> None:
        """Queue one signal for the next advance() / restart(); the last one wins."""
        self.pending = check_signal(uncertainty, self.signal_low)

    def observe_loss(self, loss: float) -> None:
        """The training loss of the optimizer step just taken, for the next advance(): mode
        ``cycle`` reads it while it searches the LR level (any float; NaN or inf ends the
        search as unstable); the other modes ignore it."""
        self.rule.observe_loss(float(loss))

    @property
    def wants_loss(self) -> bool:
        """Whether observe_loss() has an effect now (skip computing the loss if not)."""
        return self.rule.wants_loss

    def start(self, current_lrs: Sequence[float]) -> list[float]:
        """The first write (torch's initial step, also when ``SequentialLR`` restarts its
        first scheduler): ``current_lrs`` hold nothing of the policy yet, so each is scaled
        by the policy's factor ``lrs / base_lrs`` (a warmup's start, say)."""
        self._check_groups(current_lrs)
        self._decide_pending()
        new = [
            lr * (float(cur) / base) for lr, cur, base in zip(self.lrs, current_lrs, self.base_lrs)
        ]
        self.applied = list(self.lrs)
        return new

    def advance(self, current_lrs: Sequence[float]) -> list[float]:
        """The LRs to write now, composed with whatever else moved them (the one LR writer).

        Takes one decision if a signal is pending (none otherwise), lets the mode move on a
        step without one (``ModeRule.on_step``), then scales each group's ``current`` LR by
        how much the policy's own LR changed since the last write:
        ``new = policy_lr * (current / policy_lr_at_last_write)``. Alone, current equals the
        last write, so the policy's LR is written exactly; after another schedule (a cosine
        envelope, say) moved it, the two multiply.
        """
        self._check_groups(current_lrs)
        self._decide_pending()
        self._move_on_step()
        new = [lr * (float(cur) / old) for lr, cur, old in zip(self.lrs, current_lrs, self.applied)]
        self.applied = list(self.lrs)
        return new

    def restart(self) -> list[float]:
        """Like advance(), but returns the policy's own LRs (base x its factor), ignoring the
        current ones: what a scheduler handed over to by ``SequentialLR`` starts from (its
        epoch 0: a mode that moves every step, ``cycle``, moves from the next step on)."""
        self._decide_pending()
        self.applied = list(self.lrs)
        return list(self.lrs)

    def resume(self, steps: int, current_lrs: Sequence[float]) -> list[float]:
        """Continue a schedule known only by its position (torch's ``last_epoch``): ``steps``
        decisions taken (a warmup continues from there), the LRs as the optimizer holds them.
        The signal's history (smoothing, reference, the mode's state) starts afresh; only
        load_state_dict() resumes exactly. Returns ``current_lrs``, unchanged."""
        self._check_groups(current_lrs)
        self.steps = steps
        self.lrs = [float(lr) for lr in current_lrs]
        self.applied = list(self.lrs)
        return list(self.lrs)

    def add_group(self, base_lr: float, lr: float) -> None:
        """Schedule one more parameter group (one added to the optimizer mid-training) with
        base LR ``base_lr``, from ``lr``, its LR now; the mode's rule moves it from the next
        decision on, as it moves the others. Its bounds are ``min_lr`` / ``max_lr`` when
        those are one number, else the default multiples of ``base_lr``."""
        for name in ("min_lr", "max_lr"):
            if isinstance(getattr(self.options, name), list):
                raise ValueError(
                    f"{name} was given per group, for {len(self.base_lrs)} groups; a parameter "
                    f"group added later needs {name} as one number or None"
                )
        _LR.check("learning rate", base_lr)
        base = [float(base_lr)]
        low = _bounds("min_lr", self.options.min_lr, base, MIN_LR_MULTIPLE)[0]
        high = _bounds("max_lr", self.options.max_lr, base, MAX_LR_MULTIPLE)[0]
        if low > high:
            raise ValueError(f"min_lr must not exceed max_lr, got min_lr={low:g} > max_lr={high:g}")
        self.base_lrs.append(base[0])
        self.min_lrs.append(low)
        self.max_lrs.append(high)
        self.lrs.append(float(lr))
        self.applied.append(float(lr))

    def _move_on_step(self) -> None:
        moved = self.rule.on_step(self)
        if moved is not None:
            self.lrs = [self._clamp(i, lr) for i, lr in enumerate(moved)]

    def _decide_pending(self) -> None:
        if self.pending is not None:
            u, self.pending = self.pending, None
            self.step(u)

    def _check_groups(self, current_lrs: Sequence[float]) -> None:
        if len(current_lrs) != len(self.lrs):
            raise ValueError(
                f"the policy schedules {len(self.lrs)} parameter groups, got {len(current_lrs)} LRs"
            )

    # -- shared parts of every decision -------------------------------------------------
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
    def state_dict(self) -> dict:
        """Options, LRs and state, flat, as plain numbers, strings and lists (JSON-able, and
        safe for torch.load(weights_only=True)): every option by name (``min_lr`` / ``max_lr``
        as given), the per-group lists, the shared state and the mode's own (``rule.STATE``)."""
        state: dict[str, Any] = self.options.to_dict()
        state.update({k: list(getattr(self, k)) for k in _LISTS})
        state.update({k: getattr(self, k) for k in _STATE})
        state.update(self.rule.state_dict())
        return state

    def load_state_dict(self, state: dict) -> None:
        """Restore from state_dict(), options and mode included (a state of another mode
        makes this policy one of that mode); the number of groups must match. States saved
        before an option existed load with its default."""
        state = {**_ADDED, **state}
        # States saved before the bounds were kept as given hold only the per-group lists.
        state.setdefault("min_lr", state.get("min_lrs"))
        state.setdefault("max_lr", state.get("max_lrs"))
        rule = RULES.get(state.get("mode"), ModeRule)  # an unknown mode fails with the options
        missing = [k for k in (*_OPTIONS, *_LISTS, *_STATE, *rule.STATE) if k not in state]
        if missing:
            raise ValueError(f"scheduler state is missing keys: {', '.join(missing)}")
        if len(state["lrs"]) != len(self.base_lrs):
            raise ValueError(
                f"scheduler state has {len(state['lrs'])} parameter groups, this optimizer has {len(self.base_lrs)}"
            )
        self._configure(UncertaintyOptions.read_only({k: state[k] for k in _OPTIONS}))
        self.rule.load_state_dict(state)
        for k in _LISTS:
            setattr(self, k, [float(v) for v in state[k]])
        for k in _STATE:
            setattr(self, k, state[k])


_OPTIONS = tuple(UncertaintyOptions.table())
#: What states saved before an option (or its state) existed lack: loaded as these.
_ADDED = {"trigger": "stall", "explore": False, "gain": 1.0,
          **{k: v for k, v in UncertaintyOptions().to_dict().items()
             if k in ("total_steps", "search", "search_steps", "search_margin", "search_safety",
                      "search_threshold", "decay_earliest", "decay_latest", "decay_shape")}}  # fmt: skip

"""Mode ``anneal``: hold the LR, then, once the signal stops improving, decay it linearly to
min_lr over a length set by the time taken to get there (a budget-free cooldown)."""

from __future__ import annotations

import math
from typing import Any

from uncertainty_lr.schedulers.modes.base import ModeRule, PolicyView, max_multiple, trigger_count


class AnnealRule(ModeRule):
    """lr = base_lr x gain while the signal keeps improving; then a linear decay to min_lr.

    A decision sets a new low when its signal s is at least ``tolerance`` (relative) below
    the best so far. The trigger counts decisions:

    - ``trigger="stall"`` (default): decisions without a new low;
    - ``trigger="threshold"``: decisions in a row with s > ``threshold`` that set no new low
      (for a signal whose healthy level is known, such as ``overconfidence``: 0 while the
      model is no more sure than it is right; one that starts high and keeps falling is
      still being corrected).

    At ``patience`` such decisions, at decision number k, the decay starts and lasts
    D = ceil(decay_ratio x k) decisions: lr = base_lr x gain x (1 - j / D) at its j-th
    decision, clamped to min_lr by the policy. ``annealed`` is True once it has ended.

    With ``explore=True`` (needs trigger="threshold") the signal is signed, in [-1, 1]
    (``calibration_gap``): the trigger judges max(s, 0), and before the decay each decision
    with s < -threshold (under-confident) multiplies ``gain`` by (1 + step_size), capped so
    no group passes its max_lr; the decay runs from the raised LR.

    Reads ``trigger``, ``patience`` (2), ``tolerance`` (0.05), ``decay_ratio`` (0.5),
    ``explore`` (False), and ``threshold`` / ``step_size`` where the trigger / explore use them.
    State: ``best`` (lowest judged signal so far, None before the first decision), ``stall``
    (the trigger's count), ``decay_start`` (the decision the decay started at, None before),
    ``decay_steps`` (D) and ``gain``.
    """

    name = "anneal"
    anneals = True
    STATE = ("best", "stall", "decay_start", "decay_steps", "gain")
    READS = ("trigger", "patience", "tolerance", "decay_ratio", "explore", "threshold",
             "step_size")  # fmt: skip

    def __init__(self, options: Any) -> None:
        super().__init__(options)
        self.signal_low = -1.0 if self.explore else 0.0
        self.best: float | None = None
        self.stall = 0
        self.decay_start: int | None = None
        self.decay_steps = 0
        self.gain = 1.0

    def decide(self, s: float, policy: PolicyView) -> list[float]:
        factor = self._factor(s, policy)
        return [base * factor for base in policy.base_lrs]

    def annealed(self, policy: PolicyView) -> bool:
        return (
            self.decay_start is not None and policy.steps - self.decay_start + 1 >= self.decay_steps
        )

    def _factor(self, s: float, policy: PolicyView) -> float:
        if self.decay_start is None:
            if self.explore:
                if s < -self.threshold:  # right more often than sure: explore
                    cap = max_multiple(policy)
                    self.gain = max(1.0, min(self.gain * (1.0 + self.step_size), cap))
                s = max(s, 0.0)  # the trigger judges over-confidence only
            # trigger "threshold": above the threshold and not falling; "stall": no new low
            threshold = self.threshold if self.trigger == "threshold" else None
            self.best, self.stall = trigger_count(
                self.best, self.stall, s, self.tolerance, threshold
            )
            if self.stall < self.patience:
                return self.gain
            # The stall is the cue: decay over a length set by the time taken to get here.
            self.decay_start = policy.steps
            self.decay_steps = max(1, math.ceil(self.decay_ratio * policy.steps))
        j = policy.steps - self.decay_start + 1
        return self.gain * max(0.0, 1.0 - j / self.decay_steps)

"""Mode ``threshold``: the study plan's rule. No state of its own."""

from __future__ import annotations

from uncertainty_lr.schedulers.modes.base import ModeRule, PolicyView


class ThresholdRule(ModeRule):
    """lr <- lr x (1 + step_size) if s > threshold, else lr x (1 - step_size).

    Reads ``threshold`` (in (0, 1), default 0.05) and ``step_size`` (in (0, 1), default 0.1).
    """

    name = "threshold"
    READS = ("threshold", "step_size")

    def decide(self, s: float, policy: PolicyView) -> list[float]:
        m = 1 + self.step_size if s > self.threshold else 1 - self.step_size
        return [lr * m for lr in policy.lrs]

"""Mode ``proportional``: the LR as a smooth bounded function of the signal. No state of its own."""

from __future__ import annotations

from uncertainty_lr.schedulers.modes.base import ModeRule, PolicyView


def proportional_factor(ratio: float, multiple: float) -> float:
    """Smooth bounded map of signal/threshold to an LR factor: multiple ** tanh(ln ratio).

    tanh(ln r) = (r^2 - 1) / (r^2 + 1), so the factor is 1/multiple at r = 0, 1 at r = 1
    and tends to ``multiple`` as r grows.
    """
    r2 = ratio * ratio
    return multiple ** ((r2 - 1.0) / (r2 + 1.0))


class ProportionalRule(ModeRule):
    """lr = base_lr x M ** tanh(ln(s / threshold)), M = max_lr / base_lr of each group.

    Reads ``threshold`` (default 0.05): the signal at which the LR is the base LR.
    """

    name = "proportional"
    READS = ("threshold",)

    def decide(self, s: float, policy: PolicyView) -> list[float]:
        return [
            base * proportional_factor(s / self.threshold, hi / base)
            for base, hi in zip(policy.base_lrs, policy.max_lrs)
        ]

"""Mode ``band``: the threshold rule with a dead band around the threshold. No state of its own."""

from __future__ import annotations

from uncertainty_lr.schedulers.modes.base import ModeRule, PolicyView


class BandRule(ModeRule):
    """With t = threshold, h = step_size, w = band_width:
    lr <- lr x (1 + h) if s > t (1 + w); lr x (1 - h) if s < t (1 - w); else hold.

    Reads ``threshold`` (default 0.05), ``step_size`` (0.1) and ``band_width`` (the band's
    relative half-width, in (0, 1), default 0.5).
    """

    name = "band"
    READS = ("threshold", "step_size", "band_width")

    def decide(self, s: float, policy: PolicyView) -> list[float]:
        t, h = self.threshold, self.step_size
        if s > t * (1 + self.band_width):
            m = 1 + h
        elif s < t * (1 - self.band_width):
            m = 1 - h
        else:
            m = 1.0
        return [lr * m for lr in policy.lrs]

"""The level search of mode ``cycle``: find the LR level in the first steps, from the training loss.

``LevelSearch`` is the exploration phase of the uncertainty schedules: starting at the
base LR it multiplies the LR by ``growth`` after every optimizer step while the model is
still unsure and training is stable, and settles once it is not:

- *unstable*: the smoothed training loss rises more than ``margin`` (relative) above its
  running minimum, or a loss is not finite. The LR has gone past what this model can
  take; the search settles at ``safety`` x the multiple at which the smoothed loss was
  lowest (an online learning-rate range test, Smith 2017, that keeps the weights it
  trained), below the base LR if the base LR itself was already too high;
- *sure*: an uncertainty signal above the schedule's threshold arrived (the model is
  surer than it is right); the current multiple is stable, so it is kept;
- *capped*: the multiple reached ``max_multiple`` (``max_lr`` / base LR).

The smoothed loss is an exponential moving average with weight ``beta`` on the past,
started at the first loss. Torch-free: plain floats in, a multiple of the base LR out.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass


@dataclass
class LevelSearch:
    """State and rule of the level search; ``multiple`` is the factor on the base LR.

    Args:
        growth: factor per optimizer step while searching, > 1 (1.05: 10x in 47 steps).
        margin: relative rise of the smoothed loss over its minimum that ends the search.
        safety: share of the best multiple to settle at after an unstable end, in (0, 1].
        max_multiple: the largest multiple, >= 1.
        beta: EMA weight on the past loss, in [0, 1).
    """

    growth: float = 1.05
    margin: float = 0.05
    safety: float = 0.5
    max_multiple: float = 10.0
    beta: float = 0.9
    multiple: float = 1.0
    ema: float | None = None
    best: float = math.inf
    best_multiple: float = 1.0
    steps: int = 0
    ended: str = ""  # "" while searching, else "unstable", "sure" or "capped"

    @property
    def searching(self) -> bool:
        return not self.ended

    def observe_loss(self, loss: float) -> float:
        """Take the training loss of the step just made (at ``multiple``); return the
        multiple for the next step."""
        if self.ended:
            return self.multiple
        self.steps += 1
        if not math.isfinite(loss):
            return self._end("unstable")
        self.ema = loss if self.ema is None else self.beta * self.ema + (1 - self.beta) * loss
        if self.ema < self.best:
            self.best, self.best_multiple = self.ema, self.multiple
        elif self.ema > self.best * (1 + self.margin):
            return self._end("unstable")
        if self.multiple >= self.max_multiple:
            return self._end("capped")
        self.multiple = min(self.multiple * self.growth, self.max_multiple)
        return self.multiple

    def observe_sure(self) -> float:
        """The model became sure (its signal crossed the threshold): keep the level."""
        return self.multiple if self.ended else self._end("sure")

    def _end(self, why: str) -> float:
        self.ended = why
        if why == "unstable":
            # Below 1 when the base LR itself was too high: the search protects then too.
            self.multiple = self.safety * self.best_multiple
        return self.multiple

    def state_dict(self) -> dict:
        return asdict(self)

    def load_state_dict(self, state: dict) -> None:
        for key, value in state.items():
            setattr(self, key, value)

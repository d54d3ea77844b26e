"""The level search of mode ``cycle``: find the LR level in the first steps of training.

``LevelSearch`` raises the LR geometrically from the base LR, reaching ``max_multiple`` x
the base (``max_lr``) after ``steps`` optimizer steps, while training is stable and the
model is not over-confident, and ends at the first of:

- *unstable*: the smoothed training loss rises more than ``margin`` (relative) above its
  lowest value, or a loss is not finite: the level settles at ``safety`` x the multiple at
  which the smoothed loss was lowest (an online learning-rate range test, Smith 2017,
  that keeps the weights it trained);
- *over-confident*: a held-out signal above the schedule's threshold (the model is surer
  than it is right, which a too-high LR causes): ``safety`` x the multiple reached;
- *held*: the first signal after the ramp reached ``max_multiple`` says the model is not
  over-confident: the level stays at ``max_multiple``.

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
        steps: optimizer steps from the base LR to ``max_multiple`` x it (>= 1).
        margin: relative rise of the smoothed loss over its minimum that ends the search.
        safety: share of the multiple to settle at after an unstable or over-confident
            end, in (0, 1].
        max_multiple: the largest multiple, >= 1.
        beta: EMA weight on the past loss, in [0, 1).
    """

    steps: int = 100
    margin: float = 0.05
    safety: float = 1 / 3
    max_multiple: float = 10.0
    beta: float = 0.9
    multiple: float = 1.0
    ema: float | None = None
    best: float = math.inf
    best_multiple: float = 1.0
    taken: int = 0
    ended: str = ""  # "" while searching, else "unstable", "over-confident", "held" or "off"

    @property
    def searching(self) -> bool:
        return not self.ended

    def observe_loss(self, loss: float) -> float:
        """Take the training loss of the step just made (at ``multiple``); return the
        multiple for the next step."""
        if self.ended:
            return self.multiple
        self.taken += 1
        if not math.isfinite(loss):
            return self._end("unstable", self.best_multiple)
        self.ema = loss if self.ema is None else self.beta * self.ema + (1 - self.beta) * loss
        if self.ema < self.best:
            self.best, self.best_multiple = self.ema, self.multiple
        elif self.ema > self.best * (1 + self.margin):
            return self._end("unstable", self.best_multiple)
        # Geometric: max_multiple ** (taken / steps), capped there.
        self.multiple = min(self.max_multiple ** (min(self.taken, self.steps) / self.steps),
                            self.max_multiple)  # fmt: skip
        return self.multiple

    def observe_signal(self, over_confident: bool) -> float:
        """A held-out signal arrived: back off if it says over-confident; once the ramp is
        at its top, a signal that does not ends the search there."""
        if self.ended:
            return self.multiple
        if over_confident:
            return self._end("over-confident", self.multiple)
        if self.multiple >= self.max_multiple:
            self.ended = "held"
        return self.multiple

    def _end(self, why: str, multiple: float) -> float:
        self.ended = why
        # Below 1 when the base LR itself was too high: the search protects then too.
        self.multiple = self.safety * multiple
        return self.multiple

    def state_dict(self) -> dict:
        return asdict(self)

    def load_state_dict(self, state: dict) -> None:
        for key, value in state.items():
            setattr(self, key, value)

"""WeightAverage: evaluate a running average of the weights, with no budget to state.

The budget-free uncertainty schedule (``RECOMMENDED``: mode "cycle") holds its LR level
until the model is over-confident; a model evaluated at an arbitrary epoch before that
has not been annealed. Averaging the weights over the recent steps does much of what an
anneal does (Polyak averaging), at any epoch, so the budget-free schedule is evaluated on
the average: ``update()`` after every optimizer step, ``averaged()`` around evaluation.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

from uncertainty_lr.checks import check_number


class WeightAverage:
    """A running average of an optimizer's parameters, evaluated in their place.

    After step t the average moves towards the parameters by w = 1 / max(1, ``horizon`` x t):
    an exponential average over about the last ``horizon`` share of the steps so far
    (0.2: roughly the last fifth), so it needs no budget. ``use_average()`` (before
    evaluation) puts the average into the parameters and keeps the trained ones aside;
    ``use_live()`` (before training) puts them back; ``averaged()`` does both around a
    ``with`` block. BatchNorm statistics are not averaged: recompute them on a few training
    batches for the averaged weights (the harness does, as for schedule-free).

    Example::

        average = WeightAverage(optimizer)
        for batch in loader:
            ...; optimizer.step(); average.update()
        with average.averaged(), torch.no_grad():
            evaluate(model)
    """

    def __init__(self, optimizer: torch.optim.Optimizer, horizon: float = 0.2) -> None:
        self.params = [p for group in optimizer.param_groups for p in group["params"]]
        self.horizon = check_number("horizon", horizon, 0.0, 1.0, "(]")
        self.steps = 0
        self.average: list[torch.Tensor] | None = None
        self.live: list[torch.Tensor] | None = None  # the trained weights, while evaluating

    @torch.no_grad()
    def update(self) -> None:
        """Fold the parameters in, after an optimizer step."""
        if self.live is not None:
            raise RuntimeError("update() while the average is in use: call use_live() first")
        self.steps += 1
        weight = 1.0 / max(1.0, self.horizon * self.steps)
        if self.average is None:
            self.average = [p.detach().clone() for p in self.params]
        else:
            torch._foreach_lerp_(self.average, [p.detach() for p in self.params], weight)

    @torch.no_grad()
    def use_average(self) -> None:
        """Put the average into the parameters (the trained weights are kept aside)."""
        if self.average is None or self.live is not None:
            return
        self.live = [p.detach().clone() for p in self.params]
        torch._foreach_copy_([p.data for p in self.params], self.average)

    @torch.no_grad()
    def use_live(self) -> None:
        """Put the trained weights back."""
        if self.live is None:
            return
        torch._foreach_copy_([p.data for p in self.params], self.live)
        self.live = None

    @contextmanager
    def averaged(self) -> Iterator[None]:
        """The average in the parameters inside the block, the trained weights after it."""
        self.use_average()
        try:
            yield
        finally:
            self.use_live()

    def state_dict(self) -> dict[str, Any]:
        """Tensors and numbers only (``torch.load(weights_only=True)`` safe)."""
        return {"steps": self.steps, "average": self.average, "live": self.live}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.steps = state["steps"]
        self.average, self.live = state["average"], state["live"]

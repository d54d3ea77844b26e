"""GreedyLR (loss-driven): the implementation in ``transformers`` when it ships one, else ours.

The rule (Subramanian et al. 2025, arXiv:2512.14527, as implemented in transformers):
after more than ``patience`` consecutive improving evaluations the LR is divided by
``factor`` (bounded by max_lr); after more than ``patience`` non-improving ones it is
multiplied by ``factor`` (bounded by min_lr). ``GreedyLRFallback`` reproduces that rule
without the optional streaming-average smoothing; a test checks both give the same LRs.
"""

from __future__ import annotations

import math
from typing import Any


class GreedyLRFallback:
    """GreedyLR in "min" mode with an absolute improvement threshold (transformers' defaults)."""

    def __init__(self, optimizer, *, factor: float, patience: int, min_lrs: list[float], max_lrs: list[float],
                 threshold: float = 1e-6, eps: float = 1e-8, reset_start: int = 500) -> None:  # fmt: skip
        if not 0.0 < factor < 1.0:
            raise ValueError(f"factor must be in (0, 1), got {factor!r}")
        self.optimizer = optimizer
        self.factor, self.patience, self.threshold, self.eps = factor, patience, threshold, eps
        self.min_lrs, self.max_lrs = list(min_lrs), list(max_lrs)
        self._init_lrs = [g["lr"] for g in optimizer.param_groups]
        self.best = math.inf
        self.num_good_epochs = self.num_bad_epochs = 0
        self.reset_start = self.reset_start_original = reset_start
        self.last_epoch = 0

    def step(self, metrics: float) -> None:
        current = float(metrics)
        self.last_epoch += 1
        if current < self.best - self.threshold:
            self.best, self.num_bad_epochs = current, 0
            self.num_good_epochs += 1
        else:
            self.num_bad_epochs += 1
            self.num_good_epochs = 0
        if self.num_good_epochs > self.patience:
            self._scale(up=True)
            self.reset_start = self.reset_start_original
            self.num_good_epochs = 0
        elif self.num_bad_epochs > self.patience:
            self._scale(up=False)
            self.num_bad_epochs = 0
            at_min = all(g["lr"] <= lo for g, lo in zip(self.optimizer.param_groups, self.min_lrs))
            if at_min:
                self.reset_start -= 1
                if self.reset_start <= 0:
                    self._reset()

    def _scale(self, up: bool) -> None:
        for g, lo, hi in zip(self.optimizer.param_groups, self.min_lrs, self.max_lrs):
            old = float(g["lr"])
            new = min(old / self.factor, hi) if up else max(old * self.factor, lo)
            if abs(new - old) > self.eps:
                g["lr"] = new

    def _reset(self) -> None:
        for g, lr in zip(self.optimizer.param_groups, self._init_lrs):
            g["lr"] = lr
        self.best = math.inf
        self.num_good_epochs = self.num_bad_epochs = 0
        self.reset_start = self.reset_start_original

    def get_last_lr(self) -> list[float]:
        return [g["lr"] for g in self.optimizer.param_groups]

    _STATE = ("best", "num_good_epochs", "num_bad_epochs", "reset_start", "last_epoch", "_init_lrs")

    def state_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self._STATE}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for k in self._STATE:
            setattr(self, k, state[k])


def make_greedy(
    optimizer, *, factor: float, patience: int, min_lrs: list[float], max_lrs: list[float]
):
    """transformers.optimization.GreedyLR when importable, else GreedyLRFallback."""
    try:
        from transformers.optimization import GreedyLR
    except ImportError:
        return GreedyLRFallback(
            optimizer, factor=factor, patience=patience, min_lrs=min_lrs, max_lrs=max_lrs
        )
    return GreedyLR(
        optimizer, mode="min", factor=factor, patience=patience, min_lr=min_lrs, max_lr=max_lrs
    )

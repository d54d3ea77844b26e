"""Helpers the test files share: ``from testkit import StopAfter, TinyNet, read_csv``.

This folder is on pytest's ``pythonpath`` (pyproject.toml) and holds no test file, so it
changes no test module's import name. It is not on a Ray worker's path, though: a test
module whose functions a Ray worker unpickles (it imports the module by name) imports
testkit inside its tests, not at the top (see tests/experiments/test_executors.py).
"""

from __future__ import annotations

import csv
from pathlib import Path

import torch
from torch import nn
from torch.optim.lr_scheduler import LRScheduler, SequentialLR

#: torch >= 2.9 hands over at a milestone through _update_lr(0) (the closed form); before,
#: SequentialLR calls step(0), a deprecated epoch, which UncertaintyLR refuses.
HANDS_OVER = hasattr(LRScheduler, "_update_lr")
#: Nested composites restart their inner schedulers only where SequentialLR undoes them
#: recursively (torch's own nested tests fail without it).
NESTS = hasattr(SequentialLR, "recursive_undo")
#: Why a test of SequentialLR's hand-over skips before torch 2.9.
NO_HAND_OVER = "SequentialLR hands over with step(0) before torch 2.9 (UncertaintyLR refuses it)"


class StopAfter:
    """A run hook that interrupts the run, as Ctrl-C would, once ``epoch`` (1-based) is
    durable (stored and checkpointed): running it again resumes from there."""

    def __init__(self, epoch: int = 1) -> None:
        self.epoch = epoch

    def on_epoch_end(self, run, epoch, record) -> None:
        if epoch == self.epoch:
            raise KeyboardInterrupt


def read_csv(path: Path) -> list[dict[str, str]]:
    """The rows of a CSV file with a header, as dicts of strings."""
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


class TinyNet(nn.Module):
    """features: Linear(4, width) -> BatchNorm -> activation [-> Dropout(body_dropout)];
    head: Dropout(head_dropout) -> Linear(width, 3 classes, bias).

    Seeded (torch seed 0), and BatchNorm is given non-trivial running stats, so an
    accidental update is visible; ``feature_calls`` counts ``features()`` calls.
    """

    def __init__(self, width: int = 16, activation: type[nn.Module] = nn.ReLU,
                 body_dropout: float = 0.5, head_dropout: float = 0.5, bias: bool = True) -> None:  # fmt: skip
        super().__init__()
        torch.manual_seed(0)
        layers = [nn.Linear(4, width), nn.BatchNorm1d(width), activation()]
        self.body = nn.Sequential(*layers, *([nn.Dropout(body_dropout)] if body_dropout else []))
        self.head = nn.Sequential(nn.Dropout(head_dropout), nn.Linear(width, 3, bias=bias))
        self.feature_calls = 0
        with torch.no_grad():
            self.body(torch.randn(32, 4) * 3 + 1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        self.feature_calls += 1
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

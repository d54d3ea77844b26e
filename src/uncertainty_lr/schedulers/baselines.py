"""Build a registry schedule's torch objects: ``build_scheduler(name, optimizer, ...)``.

Every option was checked by ``registry.check_schedule`` (called here too). Each registry
entry names its builder ("module:function"); the builders of this package's schedules
are below, one small function each, ``builder(optimizer, options, budget)``. The
training loop's view of a schedule (when it is stepped, with which metric) lives next to
the loop, in ``experiments/schedules.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from typing import Any

import torch
from torch.optim import lr_scheduler as torch_sched

from uncertainty_lr.schedulers.greedy import make_greedy
from uncertainty_lr.schedulers.options import Option, UncertaintyOptions
from uncertainty_lr.schedulers.piecewise import WarmupStableDecayLR, wsd_steps
from uncertainty_lr.schedulers.prodigy import prodigy_twin
from uncertainty_lr.schedulers.registry import SCHEDULES, check_schedule
from uncertainty_lr.schedulers.schedule_free import schedule_free_twin
from uncertainty_lr.schedulers.uncertainty import UncertaintyLR

#: Epochs and steps per epoch: positive integers.
_COUNT = Option(None, kind="int", low=1)


@dataclass(frozen=True)
class Budget:
    """The run's length: ``epochs`` of ``steps_per_epoch`` optimizer steps each.

    Budget-aware schedules (``ScheduleSpec.budget``) read ``epochs`` or ``steps``; a
    budget-free one must not read ``epochs`` (it may read ``steps_per_epoch``).
    """

    epochs: int
    steps_per_epoch: int

    @property
    def steps(self) -> int:
        """All optimizer steps of the run."""
        return self.epochs * self.steps_per_epoch


#: ``builder(optimizer, resolved options, budget)`` -> the scheduler (or what stands in).
Builder = Callable[[torch.optim.Optimizer, dict[str, Any], Budget], Any]


def build_scheduler(
    name: str,
    optimizer: torch.optim.Optimizer,
    *,
    epochs: int,
    steps_per_epoch: int,
    **options: Any,
) -> tuple[Any, dict[str, Any]]:
    """(scheduler, resolved options) for schedule ``name`` around ``optimizer``.

    ``epochs`` and ``steps_per_epoch`` size the budget-aware schedules; a budget-free one
    (``SCHEDULES[name].budget`` false) never reads ``epochs``. The scheduler is
    None for ``constant``; for ``schedule_free`` it is the schedule-free optimizer that
    replaces ``optimizer`` (same params, LRs, betas / momentum and regularisation), for
    ``prodigy`` the Prodigy optimizer that does (same params, betas, regularisation); for
    ``uncertainty`` an ``UncertaintyLR`` (the harness-only options signal, every,
    tracker_momentum and envelope stay in the returned options), or with
    ``envelope="linear"`` the pair (UncertaintyLR, a per-step LinearLR to zero).
    """
    o = check_schedule(name, options)
    budget = Budget(
        _COUNT.check("epochs", epochs), _COUNT.check("steps_per_epoch", steps_per_epoch)
    )
    return load_builder(SCHEDULES[name].builder)(optimizer, o, budget), o


def load_builder(path: str) -> Builder:
    """The function a "module:function" builder path names, imported now."""
    module, _, function = path.partition(":")
    return getattr(import_module(module), function)


# ---------------------------------------------------------------- the builders


def build_constant(optimizer, o, budget) -> None:
    return None


def build_step(optimizer, o, budget) -> torch_sched.StepLR:
    step_epochs = o["step_epochs"] or max(1, budget.epochs // 3)
    return torch_sched.StepLR(optimizer, step_size=step_epochs, gamma=o["gamma"])


def build_cosine(optimizer, o, budget) -> torch_sched.CosineAnnealingLR:
    return torch_sched.CosineAnnealingLR(optimizer, T_max=budget.steps, eta_min=o["eta_min"])


def build_plateau(optimizer, o, budget) -> torch_sched.ReduceLROnPlateau:
    return torch_sched.ReduceLROnPlateau(
        optimizer, mode="min", factor=o["factor"], patience=o["patience"], min_lr=o["min_lr"]
    )


def build_onecycle(optimizer, o, budget) -> torch_sched.OneCycleLR:
    max_lr = [g["lr"] * o["max_lr_multiple"] for g in optimizer.param_groups]
    return torch_sched.OneCycleLR(
        optimizer, max_lr=max_lr, total_steps=budget.steps, pct_start=o["pct_start"]
    )


def build_warmup_cosine(optimizer, o, budget) -> torch_sched.SequentialLR:
    total = budget.steps
    warm = max(1, round(total * o["warmup_fraction"]))
    return torch_sched.SequentialLR(
        optimizer,
        [
            torch_sched.LinearLR(optimizer, start_factor=1.0 / warm, total_iters=warm),
            torch_sched.CosineAnnealingLR(optimizer, T_max=max(1, total - warm)),
        ],
        milestones=[warm],
    )


def build_linear(optimizer, o, budget) -> WarmupStableDecayLR:
    total = budget.steps
    warmup = min(round(total * o["warmup_fraction"]), total - 1)
    return WarmupStableDecayLR(optimizer, total=total, warmup=warmup, decay=total - warmup)


def build_wsd(optimizer, o, budget) -> WarmupStableDecayLR:
    total = budget.steps
    warmup, decay = wsd_steps(total, o["warmup_fraction"], o["decay_fraction"])
    return WarmupStableDecayLR(optimizer, total=total, warmup=warmup, decay=decay)


def build_greedy(optimizer, o, budget) -> Any:
    base = [g["lr"] for g in optimizer.param_groups]
    return make_greedy(
        optimizer,
        factor=o["factor"],
        patience=o["patience"],
        min_lrs=[lr * o["min_lr_multiple"] for lr in base],
        max_lrs=[lr * o["max_lr_multiple"] for lr in base],
    )


def build_schedule_free(optimizer, o, budget) -> torch.optim.Optimizer:
    return schedule_free_twin(optimizer, round(budget.steps_per_epoch * o["warmup_epochs"]))


def build_prodigy(optimizer, o, budget) -> torch.optim.Optimizer:
    return prodigy_twin(optimizer)


def build_uncertainty(optimizer, o, budget) -> UncertaintyLR | tuple[UncertaintyLR, Any]:
    """UncertaintyLR with its own options (``UncertaintyOptions.table()``), ``total_steps``
    the run's steps with ``budget="known"``; the harness's (signal, every,
    tracker_momentum, envelope) are the loop's to read."""
    options = {k: o[k] for k in UncertaintyOptions.table()}
    if o["budget"] == "known":
        options["total_steps"] = budget.steps
    if o["mode"] == "cycle" and o["search_steps"] is None:  # the ramp takes one epoch
        options["search_steps"] = budget.steps_per_epoch
    scheduler = UncertaintyLR(optimizer, **options)
    if o["envelope"] == "linear":  # chainable: the LR becomes envelope x uncertainty factor
        envelope = torch_sched.LinearLR(optimizer, 1.0, 0.0, total_iters=budget.steps)
        return scheduler, envelope
    return scheduler

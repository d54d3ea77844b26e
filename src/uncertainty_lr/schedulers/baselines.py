"""Build a registry schedule's torch objects: ``build_scheduler(name, optimizer, ...)``.

Every option was checked by ``registry.check_schedule`` (called here too), so this file
only maps names to torch schedulers. The training loop's view of a schedule (when it is
stepped, with which metric) lives next to the loop, in ``experiments/schedules.py``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.optim import lr_scheduler as torch_sched

from uncertainty_lr.schedulers.greedy import make_greedy
from uncertainty_lr.schedulers.options import Option
from uncertainty_lr.schedulers.piecewise import WarmupStableDecayLR, wsd_steps
from uncertainty_lr.schedulers.prodigy import prodigy_twin
from uncertainty_lr.schedulers.registry import check_schedule
from uncertainty_lr.schedulers.schedule_free import schedule_free_twin
from uncertainty_lr.schedulers.uncertainty import UncertaintyLR

#: Epochs and steps per epoch: positive integers.
_COUNT = Option(None, kind="int", low=1)


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
    epochs = _COUNT.check("epochs", epochs)
    steps_per_epoch = _COUNT.check("steps_per_epoch", steps_per_epoch)
    total = epochs * steps_per_epoch
    base = [g["lr"] for g in optimizer.param_groups]
    if name == "constant":
        return None, o
    if name == "step":
        step_epochs = o["step_epochs"] or max(1, epochs // 3)
        return torch_sched.StepLR(optimizer, step_size=step_epochs, gamma=o["gamma"]), o
    if name == "cosine":
        return torch_sched.CosineAnnealingLR(optimizer, T_max=total, eta_min=o["eta_min"]), o
    if name == "plateau":
        s = torch_sched.ReduceLROnPlateau(
            optimizer, mode="min", factor=o["factor"], patience=o["patience"], min_lr=o["min_lr"]
        )
        return s, o
    if name == "onecycle":
        max_lr = [lr * o["max_lr_multiple"] for lr in base]
        s = torch_sched.OneCycleLR(
            optimizer, max_lr=max_lr, total_steps=total, pct_start=o["pct_start"]
        )
        return s, o
    if name == "warmup_cosine":
        warm = max(1, round(total * o["warmup_fraction"]))
        s = torch_sched.SequentialLR(
            optimizer,
            [
                torch_sched.LinearLR(optimizer, start_factor=1.0 / warm, total_iters=warm),
                torch_sched.CosineAnnealingLR(optimizer, T_max=max(1, total - warm)),
            ],
            milestones=[warm],
        )
        return s, o
    if name in ("linear", "wsd"):
        if name == "linear":
            warmup = min(round(total * o["warmup_fraction"]), total - 1)
            decay = total - warmup
        else:
            warmup, decay = wsd_steps(total, o["warmup_fraction"], o["decay_fraction"])
        return WarmupStableDecayLR(optimizer, total=total, warmup=warmup, decay=decay), o
    if name == "greedy":
        s = make_greedy(
            optimizer,
            factor=o["factor"],
            patience=o["patience"],
            min_lrs=[lr * o["min_lr_multiple"] for lr in base],
            max_lrs=[lr * o["max_lr_multiple"] for lr in base],
        )
        return s, o
    if name == "schedule_free":
        return schedule_free_twin(optimizer, round(steps_per_epoch * o["warmup_epochs"])), o
    if name == "prodigy":
        return prodigy_twin(optimizer), o
    policy = {k: v for k, v in o.items() if k not in HARNESS_OPTIONS}
    scheduler = UncertaintyLR(optimizer, **policy)
    if o["envelope"] == "linear":  # chainable: the LR becomes envelope x uncertainty factor
        envelope = torch_sched.LinearLR(optimizer, 1.0, 0.0, total_iters=total)
        return (scheduler, envelope), o
    return scheduler, o


#: Options of the harness's uncertainty arm that are not UncertaintyLR's own.
HARNESS_OPTIONS = ("signal", "every", "tracker_momentum", "envelope")

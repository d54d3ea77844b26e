"""Shared set-up of the ports of torch's scheduler tests: the option sets every contract
runs under, their signals, and the LRs UncertaintyLR gives alone (from the reference twin)."""

import io

import torch

from uncertainty_lr.schedulers.modes.reference import reference_lrs
from uncertainty_lr.schedulers.modes.reference_cycle import reference_cycle_lrs
from uncertainty_lr.schedulers.options import UncertaintyOptions

#: Every mode, each trigger, explore, and the shared options (warmup above all).

CONFIGS = {
    "threshold": {},
    "threshold-warmup": {"warmup": 3},
    "band-cooldown-smoothing": {"mode": "band", "cooldown": 1, "smoothing": 0.3, "warmup": 1},
    "proportional-initial": {"mode": "proportional", "reference": "initial", "reference_steps": 2},
    "proportional-running-min-warmup": {"mode": "proportional", "reference": "running_min", "warmup": 2},
    "anneal-stall-warmup": {"mode": "anneal", "patience": 1, "warmup": 2},
    "anneal-threshold-cooldown": {"mode": "anneal", "trigger": "threshold", "decay_ratio": 1.0, "cooldown": 1},
    "anneal-explore-warmup": {"mode": "anneal", "trigger": "threshold", "explore": True, "warmup": 2},
    # Stepped with a signal each step and no loss: the trigger and the decay, not the search.
    "cycle-known": {"mode": "cycle", "total_steps": 8, "patience": 1},
    "cycle-free-sqrt-smoothing": {"mode": "cycle", "decay_shape": "sqrt", "smoothing": 0.3},
}  # fmt: skip
#: Configs whose warmup continues exactly when resumed by ``last_epoch`` alone (no signal
#: history to lose: no smoothing, absolute reference, a mode without state of its own).
STATELESS_WARMUP = {
    "threshold-warmup": {"warmup": 3},
    "threshold-warmup-bounds": {"warmup": 2, "max_lr": 0.6},
}

UNSIGNED = [0.9, 0.9, 0.01, 0.3, 0.2, 0.2, 0.21, 0.2, 0.6, 0.01]
SIGNED = [-0.4, -0.2, 0.0, 0.1, 0.1, 0.12, 0.1, -0.3, 0.1, 0.1]
#: torch's test optimizer (TestLRScheduler.setUp): two groups, LRs 0.05 and 0.5.
BASE = (0.05, 0.5)


def signals(options: dict) -> list[float]:
    return SIGNED if options.get("explore") else UNSIGNED


def two_groups(lrs=BASE) -> torch.optim.SGD:
    params = [torch.nn.Parameter(torch.zeros(1)) for _ in lrs]
    return torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, lrs)])


def alone(options: dict, base=BASE, n: int | None = None) -> list[list[float]]:
    """The LRs of each group before the first step, then after each of the first ``n``
    signals, as the reference twin gives them."""
    o = UncertaintyOptions(**options)
    start = [b * (o.warmup_start_factor if o.warmup else 1.0) for b in base]
    return [start, *twin(options, signals(options)[:n], base)]


def twin(options: dict, signals_: list[float], base=BASE) -> list[list[float]]:
    """The LRs after each of ``signals_``, as the reference twin gives them."""
    o = UncertaintyOptions(**options)
    if o.mode == "cycle":  # stepped once per signal here, with no training loss
        return reference_cycle_lrs([(None, u) for u in signals_], base, o)
    return reference_lrs(signals_, base, o)


def lrs_of(opt: torch.optim.Optimizer) -> list[float]:
    return [float(g["lr"]) for g in opt.param_groups]


def save_and_load(state: dict, weights_only: bool = True) -> dict:
    """``state`` through torch.save and torch.load, as a checkpoint takes it."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=weights_only)

"""Prodigy in place of Adam / AdamW, regularised exactly as the original optimizer.

Prodigy (``prodigyopt``, Mishchenko & Defazio 2023) estimates the distance to the
solution ``d`` on the fly and steps Adam-style with step size ``d x lr``; its documented
setting is ``lr = 1.0`` and ``d_coef = 1.0`` for every network, with no schedule, so the
arm is learning-rate free and budget free (nothing here reads the number of epochs).
The harness optimizer's betas are kept; its LR is not used (Prodigy finds the step size).
Regularisation follows the arm it replaces, as for schedule-free: torch's Adam adds
``weight_decay x p`` to the gradient (coupled L2), which is Prodigy's ``decouple=False``;
AdamW decays decoupled, ``decouple=True``. SGD is refused: Prodigy is an Adam-type method
and has no momentum-SGD twin.
"""

from __future__ import annotations

import contextlib
import io

import torch

from uncertainty_lr.schedulers.registry import PRODIGY_TWIN
from uncertainty_lr.schedulers.schedule_free import optimizer_kind


def prodigy_twin(optimizer: torch.optim.Optimizer):
    """A ``prodigyopt.Prodigy`` over ``optimizer``'s params (lr 1.0, d_coef 1.0, each
    group's betas and weight decay; Adam -> ``decouple=False``, AdamW -> ``decouple=True``)."""
    kind = optimizer_kind(optimizer, "prodigy", PRODIGY_TWIN)
    try:
        from prodigyopt import Prodigy
    except ImportError as e:  # pragma: no cover - it is a core dependency
        raise ValueError(
            "schedule 'prodigy' needs the prodigyopt package: pip install prodigyopt"
        ) from e
    groups = [
        {
            "params": g["params"],
            "betas": tuple(g.get("betas", (0.9, 0.999))),
            "weight_decay": float(g.get("weight_decay", 0.0)),
        }
        for g in optimizer.param_groups
    ]
    with contextlib.redirect_stdout(io.StringIO()):  # it prints "Using decoupled weight decay"
        return Prodigy(groups, lr=1.0, d_coef=1.0, decouple=kind == "adamw")


def effective_lrs(optimizer) -> list[float]:
    """Each group's step size ``d x lr`` (Prodigy's LR is the multiplier 1.0, not a step)."""
    return [float(g["d"] * g["lr"]) for g in optimizer.param_groups]

"""Schedule-free twins of the harness optimizers, regularised exactly as the originals.

A baseline must differ from the other arms only in what it is named for. The
``schedulefree`` package's AdamW applies weight decay decoupled (like torch's AdamW),
while torch's Adam adds ``weight_decay x p`` to the gradient (L2) before the adaptive
update. So Adam gets ``AdamScheduleFreeL2`` (AdamWScheduleFree with that L2 term added to
the gradient, at the point y where the gradient is taken), AdamW gets AdamWScheduleFree
with its decoupled decay, and SGD (momentum 0.9, L2 in the gradient) gets SGDScheduleFree,
whose weight decay is that same L2 term. Betas, momentum, LR and decay are taken from
every param group, not just the first.
"""

from __future__ import annotations

import torch

from uncertainty_lr.schedulers.registry import SCHEDULE_FREE_TWIN


def _schedulefree():
    try:
        import schedulefree
    except ImportError as e:  # pragma: no cover - it is a core dependency
        raise ValueError(
            "schedule 'schedule_free' needs the schedulefree package: pip install schedulefree"
        ) from e
    return schedulefree


def _adam_l2_class():
    base = _schedulefree().AdamWScheduleFree

    class AdamScheduleFreeL2(base):
        """AdamWScheduleFree with torch.optim.Adam's coupled L2: grad += l2 x y, then the
        update (the optimizer's own decoupled weight_decay is 0)."""

        @torch.no_grad()
        def step(self, closure=None):
            for group in self.param_groups:
                if group.get("l2", 0.0):
                    for p in group["params"]:
                        if p.grad is not None:
                            p.grad.add_(p, alpha=group["l2"])
            return super().step(closure)

    return AdamScheduleFreeL2


def schedule_free_twin(optimizer: torch.optim.Optimizer, warmup_steps: int):
    """The schedule-free optimizer standing in for ``optimizer`` (Adam, AdamW or SGD), in
    train mode, over the same params with each group's LR, betas / momentum and decay."""
    kind = optimizer_kind(optimizer, "schedule_free", SCHEDULE_FREE_TWIN)
    sf = _schedulefree()
    groups = []
    for g in optimizer.param_groups:
        group = {"params": g["params"], "lr": float(g.get("initial_lr", g["lr"]))}
        wd = float(g.get("weight_decay", 0.0))
        if kind == "sgd":
            group.update(momentum=g.get("momentum", 0.9), weight_decay=wd)
        elif kind == "adamw":
            group.update(betas=tuple(g.get("betas", (0.9, 0.999))), weight_decay=wd)
        else:
            group.update(betas=tuple(g.get("betas", (0.9, 0.999))), weight_decay=0.0, l2=wd)
        groups.append(group)
    if kind == "sgd":
        opt = sf.SGDScheduleFree(groups, lr=groups[0]["lr"], warmup_steps=warmup_steps)
    else:
        cls = sf.AdamWScheduleFree if kind == "adamw" else _adam_l2_class()
        opt = cls(groups, lr=groups[0]["lr"], warmup_steps=warmup_steps)
    opt.train()
    return opt


def optimizer_kind(optimizer: torch.optim.Optimizer, schedule: str, allowed) -> str:
    """ "adam", "adamw" or "sgd" for the optimizer an arm replaces; a ValueError naming the
    schedule when the kind is not among ``allowed`` (its twin table's keys)."""
    decoupled = any(g.get("decoupled_weight_decay", False) for g in optimizer.param_groups)
    if isinstance(optimizer, torch.optim.AdamW) or (
        isinstance(optimizer, torch.optim.Adam) and decoupled
    ):  # AdamW first: it subclasses Adam in recent torch
        kind = "adamw"
    elif isinstance(optimizer, torch.optim.Adam):
        kind = "adam"
    elif isinstance(optimizer, torch.optim.SGD):
        kind = "sgd"
    else:
        kind = None
    if kind not in allowed:
        names = [{"adam": "Adam", "adamw": "AdamW", "sgd": "SGD"}[k] for k in allowed]
        wanted = " or ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)
        raise ValueError(
            f"schedule {schedule!r} replaces {wanted} ({', '.join(allowed)}), "
            f"got {type(optimizer).__name__}"
        )
    return kind

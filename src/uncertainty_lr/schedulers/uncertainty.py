"""UncertaintyLR: the torch adapter around UncertaintyPolicy.

Used like ``ReduceLROnPlateau``: call ``scheduler.step(uncertainty)`` with a float in
[0, 1] (0 = certain) after each evaluation (or each step, if the signal is per-step).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.distributed as dist

from uncertainty_lr.schedulers.policy import UncertaintyPolicy, check_signal


def reduce_signal(value: float | torch.Tensor) -> float:
    """Mean of ``value`` over all ranks when torch.distributed is initialised, else ``value``.

    Averaging before the decision makes every rank apply the same LR.
    """
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(
                f"uncertainty must be a scalar, got a tensor of shape {tuple(value.shape)}"
            )
        value = value.item()
    v = check_signal(value)
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        backend = dist.get_backend()
        device = torch.device("cuda", torch.cuda.current_device()) if backend == "nccl" else "cpu"
        t = torch.tensor([v], dtype=torch.float64, device=device)
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        v = t.item() / dist.get_world_size()
    return v


class UncertaintyLR:
    """Raise the LR while the model is unsure, lower it once it is sure.

    Args:
        optimizer: any torch optimizer; each param group's LR is scheduled, keeping ratios.
        threshold, step_size, mode, min_lr, max_lr, smoothing, cooldown, warmup, reference,
        reference_steps, band_width, warmup_start_factor: see UncertaintyPolicy. Defaults
            are the study plan's: threshold 0.05, step_size 0.1, mode "threshold";
            max_lr = 10 x and min_lr = 1e-3 x each group's initial LR.

    The initial LR of a group is its ``initial_lr`` if set (as torch schedulers do), else
    its ``lr``. With ``warmup`` > 0 the optimizer starts at ``warmup_start_factor`` x that.

    Example::

        scheduler = UncertaintyLR(optimizer)
        for epoch in range(epochs):
            train_one_epoch(...)
            scheduler.step(entropy(val_probs))
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        threshold: float = 0.05,
        step_size: float = 0.1,
        mode: str = "threshold",
        min_lr: float | Sequence[float] | None = None,
        max_lr: float | Sequence[float] | None = None,
        smoothing: float = 0.0,
        cooldown: int = 0,
        warmup: int = 0,
        reference: str = "absolute",
        reference_steps: int = 1,
        band_width: float = 0.5,
        warmup_start_factor: float = 0.1,
    ) -> None:
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise ValueError(
                f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}"
            )
        self.optimizer = optimizer
        base_lrs = []
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
            lr = group["initial_lr"]
            base_lrs.append(lr.item() if isinstance(lr, torch.Tensor) else lr)
        self.policy = UncertaintyPolicy(
            base_lrs,
            threshold=threshold,
            step_size=step_size,
            mode=mode,
            min_lr=min_lr,
            max_lr=max_lr,
            smoothing=smoothing,
            cooldown=cooldown,
            warmup=warmup,
            reference=reference,
            reference_steps=reference_steps,
            band_width=band_width,
            warmup_start_factor=warmup_start_factor,
        )
        self._apply(self.policy.lrs)

    def step(self, uncertainty: float | torch.Tensor) -> list[float]:
        """Take one signal (float or 0-dim tensor in [0, 1]); update and return the LRs."""
        lrs = self.policy.step(reduce_signal(uncertainty))
        self._apply(lrs)
        return lrs

    def get_last_lr(self) -> list[float]:
        """The LR of every param group, as set by the last step (or construction)."""
        return list(self._last_lr)

    @property
    def last_signal(self) -> float | None:
        """The signal the last decision judged (after smoothing and reference)."""
        return self.policy.last_signal

    def state_dict(self) -> dict:
        """Plain numbers only: safe for ``torch.load(weights_only=True)``."""
        return self.policy.state_dict()

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore the schedule and write its LRs back into the optimizer."""
        self.policy.load_state_dict(state_dict)
        self._apply(self.policy.lrs)

    def _apply(self, lrs: list[float]) -> None:
        for group, lr in zip(self.optimizer.param_groups, lrs):
            if isinstance(group["lr"], torch.Tensor):
                group["lr"].fill_(lr)
            else:
                group["lr"] = lr
        self._last_lr = list(lrs)

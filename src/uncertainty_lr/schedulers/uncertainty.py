"""UncertaintyLR: a torch ``LRScheduler`` driven by a model-uncertainty signal.

Stepped like ``ReduceLROnPlateau``: ``scheduler.step(u)`` with ``u`` in [0, 1]
(0 = certain; signed, in [-1, 1], with ``explore=True``) after each evaluation. Because
it is a plain ``LRScheduler`` (not a ``ReduceLROnPlateau``, which torch refuses there),
it also composes:

- ``step()`` with no signal takes no decision: it consumes the signal last given to
  ``observe(u)`` if there is one, else it keeps the policy's factor. So a container that
  steps it every batch moves the uncertainty factor once per observed signal.
- ``step()`` scales the *current* LR by the change of its own factor (the chainable form),
  so after ``CosineAnnealingLR`` in a ``ChainedScheduler`` the LR is cosine x factor;
  when ``SequentialLR`` hands over to it, it starts from base LR x factor (the closed
  form, as torch's own schedulers start from their base LR).

``MonitoredUncertaintyLR`` is the same scheduler typed as a ``ReduceLROnPlateau``, so the
Hugging Face ``Trainer`` feeds it ``metric_for_best_model`` after each evaluation and
Lightning feeds it the ``monitor`` metric, with no callback.

No collective runs inside ``step()``: under torch.distributed, average the signal first
with ``mean_over_ranks(u)`` (or compute it on identical data on every rank).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau

from uncertainty_lr.schedulers.options import UncertaintyOptions
from uncertainty_lr.schedulers.policy import UncertaintyPolicy, check_signal


def _as_signal(value: Any, low: float = 0.0) -> float:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(
                f"uncertainty must be a scalar, got a tensor of shape {tuple(value.shape)}"
            )
        value = value.item()
    elif type(value) is int:
        # torch < 2.9's SequentialLR calls step(0) (a deprecated epoch) at a milestone.
        raise TypeError(
            f"uncertainty must be a float in [0, 1], got the int {value!r} (an epoch number? "
            "inside SequentialLR UncertaintyLR needs torch >= 2.9)"
        )
    return check_signal(value, low)


def mean_over_ranks(value: float | torch.Tensor) -> float:
    """Mean of a scalar signal over all torch.distributed ranks (``value`` itself when
    not distributed). Call it before ``step(u)`` so that every rank takes the same decision.
    ``value`` is in [0, 1], or in [-1, 1] for a signed signal such as ``calibration_gap``."""
    v = _as_signal(value, -1.0)
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        backend = dist.get_backend()
        device = torch.device("cuda", torch.cuda.current_device()) if backend == "nccl" else "cpu"
        t = torch.tensor([v], dtype=torch.float64, device=device)
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        v = t.item() / dist.get_world_size()
    return v


class UncertaintyLR(LRScheduler):
    """Raise the LR while the model is unsure, lower it once it is sure.

    Args:
        optimizer: any torch optimizer; every param group is scheduled, keeping ratios.
        last_epoch: as in torch (-1 = a new schedule); counts ``step()`` calls.
        **options: the fields of ``UncertaintyOptions`` (threshold 0.05, step_size 0.1,
            mode "threshold", min_lr / max_lr = 1e-3 x / 10 x each group's initial LR,
            smoothing, cooldown, warmup, reference, ...); ``options=UncertaintyOptions(...)``
            is accepted too. Bounds apply to the uncertainty factor's own LR track.

    The initial LR of a group is its ``initial_lr`` if set (as torch schedulers do), else
    its ``lr``. With ``warmup`` > 0 the optimizer starts at ``warmup_start_factor`` x that.

    Example::

        scheduler = UncertaintyLR(optimizer)
        for epoch in range(epochs):
            train_one_epoch(...)
            scheduler.step(entropy(val_probs))
    """

    def __init__(self, optimizer: Optimizer, *, last_epoch: int = -1, **options: Any) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")
        given = options.pop("options", None)
        if given is not None and options:
            raise ValueError("give either options= or keyword options, not both")
        self.options = given or UncertaintyOptions.from_mapping(options)
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            lr = group["lr"]
            group.setdefault("initial_lr", lr.clone() if isinstance(lr, torch.Tensor) else lr)
        self.base_lrs = [float(g["initial_lr"]) for g in optimizer.param_groups]
        self.policy = UncertaintyPolicy(self.base_lrs, self.options)
        # Unlike LRScheduler.__init__, optimizer.step is not patched: this scheduler reads
        # a signal, so the "step after optimizer.step" check does not apply.
        self.last_epoch = last_epoch
        self._initial_step()

    # -- the signal ---------------------------------------------------------------------
    def observe(self, uncertainty: float | torch.Tensor) -> None:
        """Give a signal (float or 0-dim tensor in [0, 1]; [-1, 1] with ``explore``) for the
        next ``step()``."""
        self.policy.observe(_as_signal(uncertainty, self.policy.signal_low))

    def step(self, metrics: float | torch.Tensor | None = None) -> None:  # type: ignore[override]
        """Take one decision on ``metrics`` (or on the last observed signal), write the LRs."""
        if metrics is not None:
            self.observe(metrics)
        self._step_count += 1
        self._update_lr()

    def _update_lr(self, epoch: int | None = None) -> None:
        """Also what torch's SequentialLR calls (with epoch 0) when it hands over."""
        groups = self.optimizer.param_groups
        if epoch is None:
            self.last_epoch += 1
            lrs = self.policy.advance([float(g["lr"]) for g in groups])
        else:
            self.last_epoch = epoch
            lrs = self.policy.restart()
        for group, lr in zip(groups, lrs, strict=True):
            if isinstance(group["lr"], torch.Tensor):
                group["lr"].fill_(lr)
            else:
                group["lr"] = lr
        self._last_lr = [float(g["lr"]) for g in groups]

    def get_lr(self) -> list[float]:
        """The LRs a ``step()`` with no new signal would write now."""
        groups = self.optimizer.param_groups
        return [
            lr * (float(g["lr"]) / old)
            for lr, g, old in zip(self.policy.lrs, groups, self.policy.applied)
        ]

    @property
    def annealed(self) -> bool:
        """With ``mode="anneal"``: True once the decay has ended, so training can stop."""
        return self.policy.annealed

    @property
    def last_signal(self) -> float | None:
        """The signal the last decision judged (after smoothing and reference)."""
        return self.policy.last_signal

    # -- state --------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Plain numbers only, safe for ``torch.load(weights_only=True)``."""
        return {
            "last_epoch": self.last_epoch,
            "_step_count": self._step_count,
            "base_lrs": list(self.base_lrs),
            "_last_lr": list(self._last_lr),
            "policy": self.policy.state_dict(),
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore from ``state_dict()``. As with torch's schedulers, the optimizer's LRs
        come from the optimizer's own state dict."""
        self.policy.load_state_dict(state_dict["policy"])
        self.last_epoch = state_dict["last_epoch"]
        self._step_count = state_dict["_step_count"]
        self.base_lrs = list(state_dict["base_lrs"])
        self._last_lr = list(state_dict["_last_lr"])


class MonitoredUncertaintyLR(UncertaintyLR, ReduceLROnPlateau):
    """``UncertaintyLR`` typed as a ``ReduceLROnPlateau``, for frameworks that feed such
    schedulers their monitored metric: the Hugging Face ``Trainer`` steps it with
    ``metric_for_best_model`` after each evaluation (and not per batch); Lightning steps
    it with the ``monitor`` metric of ``configure_optimizers``. Torch refuses it inside
    ``SequentialLR`` / ``ChainedScheduler``: compose ``UncertaintyLR`` there instead."""

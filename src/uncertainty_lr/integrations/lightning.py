"""Lightning callback: step an UncertaintyLR on the validation signal after each validation.

Without this callback, return ``MonitoredUncertaintyLR`` from ``configure_optimizers`` with
a ``monitor`` metric that ``validation_step`` logs: Lightning then steps it itself. The
callback is for when the signal should be computed from the logits (or MC dropout) for you.

Install with ``pip install 'uncertainty-lr[lightning]'``. Only this module imports Lightning.

How the callback sees predictions (one documented convention each):
  - ``mc_samples=0`` (default): ``validation_step`` returns the (N, C) logits of its batch,
    either as the tensor itself or as a dict with key ``"logits"`` (a ``"loss"`` key next
    to it is fine).
  - ``mc_samples >= 2``: the callback runs ``mc_samples`` MC-dropout passes of
    ``pl_module(x)`` over each validation batch's inputs ``x`` (the batch itself if it is a
    tensor, its first element if a tuple/list, else ``batch_inputs(batch)``);
    ``pl_module(x)`` must return (N, C) logits and the module needs dropout layers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from uncertainty_lr.integrations._common import (
    LR_KEY,
    SIGNAL_KEY,
    SignalMean,
    check_policy_kwargs,
    check_signal_choice,
    missing_framework,
    per_sample_signal,
)
from uncertainty_lr.schedulers.uncertainty import UncertaintyLR
from uncertainty_lr.signals.estimators import mc_dropout_probs

try:
    import lightning.pytorch as pl
    from lightning.pytorch.trainer.states import TrainerFn
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise missing_framework("UncertaintyLRCallback", "lightning", "lightning") from error


def _default_batch_inputs(batch: Any) -> torch.Tensor:
    if isinstance(batch, torch.Tensor):
        return batch
    if isinstance(batch, (tuple, list)) and batch and isinstance(batch[0], torch.Tensor):
        return batch[0]
    raise ValueError(
        f"cannot find the inputs in a validation batch of type {type(batch).__name__}; "
        "pass batch_inputs=lambda batch: <the input tensor>"
    )


def _logits_from_outputs(outputs: Any) -> torch.Tensor:
    logits = outputs.get("logits") if isinstance(outputs, dict) else outputs
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2:
        raise ValueError(
            "UncertaintyLRCallback needs validation_step to return (N, C) logits or a dict with "
            f"'logits'; got {type(outputs).__name__}"
            + (f" of shape {tuple(logits.shape)}" if isinstance(logits, torch.Tensor) else "")
        )
    return logits


class UncertaintyLRCallback(pl.Callback):
    """Set the LR of ``trainer.optimizers[0]`` from the validation uncertainty.

    At the end of every validation run during ``fit`` (not the sanity check, not
    ``trainer.validate``) the mean per-example signal over all validation batches of all
    ranks (summed with ``trainer.strategy.reduce``, so every rank takes the same decision)
    is fed to an ``UncertaintyLR`` on ``trainer.optimizers[0]`` (the scheduler users
    use directly, built at ``fit`` start); its LRs are logged as ``"uncertainty_lr/signal"`` (the raw signal) and
    ``"uncertainty_lr/lr"`` (group 0) with ``pl_module.log``, so loggers,
    ``LearningRateMonitor`` and ``ModelCheckpoint(monitor=...)`` see them.

    Args:
        signal: "confidence", "entropy" (default) or "margin"; with ``mc_samples >= 2``
            also "mutual_information" or "variance".
        mc_samples: 0 = use the logits returned by validation_step; >= 2 = that many
            MC-dropout passes per validation batch.
        batch_inputs: with MC dropout, picks the model input out of a batch (default: the
            batch if a tensor, else its first element).
        **policy_kwargs: UncertaintyLR options (``UncertaintyOptions``: threshold,
            step_size, mode, min_lr, max_lr, smoothing, cooldown, warmup, reference, ...).
            Base LRs are the optimizer's initial LRs.

    configure_optimizers must not return an LR scheduler: the callback owns the LR.
    The scheduler state and the (epoch, signal, LRs) history go into Lightning checkpoints,
    so ``trainer.fit(..., ckpt_path=...)`` continues the schedule exactly.
    """

    def __init__(
        self,
        signal: str = "entropy",
        mc_samples: int = 0,
        batch_inputs: Callable[[Any], torch.Tensor] | None = None,
        **policy_kwargs: Any,
    ) -> None:
        check_signal_choice(signal, mc_samples)
        self.signal = signal
        self.mc_samples = mc_samples
        self.batch_inputs = batch_inputs or _default_batch_inputs
        self.policy_kwargs = check_policy_kwargs(policy_kwargs, type(self).__name__)
        self.scheduler: UncertaintyLR | None = None
        #: One entry per policy step: {"epoch", "global_step", "signal", "lrs"}.
        self.history: list[dict] = []
        self._pending_state: dict | None = None
        self._sum = SignalMean()

    # -- set-up -------------------------------------------------------------------------
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.optimizers:
            raise ValueError(
                "UncertaintyLRCallback needs configure_optimizers to return an optimizer"
            )
        if trainer.lr_scheduler_configs:
            raise ValueError(
                "UncertaintyLRCallback sets the LR itself; configure_optimizers must not also "
                f"return an LR scheduler, got {type(trainer.lr_scheduler_configs[0].scheduler).__name__}"
            )
        optimizer = trainer.optimizers[0]
        self.scheduler = UncertaintyLR(optimizer, **self.policy_kwargs)
        if self._pending_state is not None:
            self._restore(self._pending_state)
            self._pending_state = None
            # Lightning may restore the optimizer before or after this hook: write the
            # restored schedule's LRs so both orders end in the same state.
            for group, lr in zip(optimizer.param_groups, self.scheduler.get_last_lr()):
                group["lr"] = lr
        else:
            self.history = []

    # -- collecting the signal ----------------------------------------------------------
    def _stepping(self, trainer: pl.Trainer) -> bool:
        return trainer.state.fn == TrainerFn.FITTING and not trainer.sanity_checking

    def on_validation_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._sum.reset()

    def on_validation_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if not self._stepping(trainer):
            return
        if self.mc_samples:
            inputs = self.batch_inputs(batch)
            probs = mc_dropout_probs(
                pl_module, inputs, samples=self.mc_samples, batch_size=inputs.shape[0]
            )
            self._sum.add(per_sample_signal(self.signal, mc_probs=probs))
        else:
            self._sum.add(per_sample_signal(self.signal, logits=_logits_from_outputs(outputs)))

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self._stepping(trainer) or self.scheduler is None:
            return
        # MPS has no float64; elsewhere float64 keeps large example counts exact.
        dtype = torch.float32 if pl_module.device.type == "mps" else torch.float64
        totals = torch.tensor(
            [self._sum.total, self._sum.count], dtype=dtype, device=pl_module.device
        )
        totals = trainer.strategy.reduce(totals, reduce_op="sum")
        total, count = float(totals[0]), float(totals[1])
        if count == 0:
            raise ValueError(
                "UncertaintyLRCallback saw no validation predictions; validation_step must return "
                "(N, C) logits or a dict with 'logits' (or set mc_samples >= 2)"
            )
        signal = SignalMean.mean(total, count)
        self.scheduler.step(signal)
        lrs = self.scheduler.get_last_lr()
        self.history.append(
            {
                "epoch": trainer.current_epoch,
                "global_step": trainer.global_step,
                "signal": signal,
                "lrs": list(lrs),
            }
        )
        # Already identical on every rank, so no sync_dist (it would cost a collective).
        pl_module.log(SIGNAL_KEY, signal, on_step=False, on_epoch=True)
        pl_module.log(LR_KEY, lrs[0], on_step=False, on_epoch=True)

    # -- checkpoints --------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Scheduler state (plain numbers) and history; saved in every Lightning checkpoint."""
        return {
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "history": [dict(entry, lrs=list(entry["lrs"])) for entry in self.history],
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore from state_dict(). Lightning may call this before the optimizer exists,
        so the state is kept until on_fit_start builds the scheduler."""
        if self.scheduler is None:
            self._pending_state = dict(state_dict)
        else:
            self._restore(state_dict)

    def _restore(self, state: dict[str, Any]) -> None:
        if self.scheduler is not None and state.get("scheduler") is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        self.history = [dict(entry) for entry in state.get("history", [])]

"""One epoch of a run: train on shuffled full batches, evaluate on validation, step the schedule.

Data lives in memory as tensors on the device and is shuffled with a seeded ``randperm``
(no DataLoader); a problem that augments (``Problem.augment``) transforms each training
batch on the device with parameters drawn from the same seeded generator. Each epoch
re-seeds torch from (seed, epoch), which makes a run resumed from its last checkpoint end
with exactly the metrics of an uninterrupted one.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from uncertainty_lr import distributed
from uncertainty_lr.data.augment import AUGMENTATIONS, CropFlip
from uncertainty_lr.experiments.build import build_model, build_optimizer
from uncertainty_lr.experiments.config import RunConfig
from uncertainty_lr.experiments.evaluate import evaluate
from uncertainty_lr.experiments.schedules import make_schedule
from uncertainty_lr.faults import fault_point
from uncertainty_lr.problems import get_problem

#: The explosion rule: a run has diverged once an epoch's mean training loss or its validation
#: loss exceeds this many times ln C, the cross-entropy of predicting chance (uniform over C
#: classes), or once a loss is NaN or infinite. A model that trains, even badly or
#: overfitting, stays within a few times ln C; Adam at lr 1e3 on digits reaches 1e4.
EXPLOSION_FACTOR = 10.0


class Diverged(Exception):
    """A loss became NaN or infinite, or exceeded the explosion limit (`check_losses`)."""


def explosion_limit(num_classes: int) -> float:
    """``EXPLOSION_FACTOR`` x ln C: the largest loss a run that has not diverged may report."""
    return EXPLOSION_FACTOR * math.log(max(num_classes, 2))


def check_losses(losses: dict[str, float], num_classes: int, epoch: int) -> None:
    """Raise `Diverged` naming the first loss of ``losses`` that is non-finite or above
    `explosion_limit` (``losses``: name -> the epoch's value, e.g. train_loss, val_loss)."""
    limit = explosion_limit(num_classes)
    for name, value in losses.items():
        if not math.isfinite(value):
            raise Diverged(f"{name} at epoch {epoch}")
        if value > limit:
            raise Diverged(
                f"{name} {value:.4g} above {EXPLOSION_FACTOR:g} x ln {num_classes} = {limit:.4g}"
                f" at epoch {epoch}"
            )


def steps_per_epoch(n: int, batch_size: int) -> int:
    """Full batches only (the incomplete last one is dropped, a different one each epoch):
    a batch of one would break BatchNorm. A split smaller than one batch is one batch."""
    return max(1, n // batch_size)


def epoch_seed(seed: int, epoch: int) -> int:
    """The torch seed of ``epoch`` (1-based) of a run with ``seed``: batch order, dropout, MC masks."""
    return seed * 1_000_003 + epoch


@dataclass
class EpochContext:
    """What every epoch of one run uses: the config, data on the device, model and schedule.

    ``model`` is evaluated and checkpointed; ``net`` is what training batches go through
    (``model`` wrapped in DDP under torchrun, the same weights). ``transform`` normalises a
    batch on the device; ``amp`` is the bf16 autocast context (disabled off CUDA).
    ``augment`` is the problem's augmentation of training batches (None: none).
    """

    cfg: RunConfig
    data: Any  # DataBundle
    device: torch.device
    model: torch.nn.Module
    net: torch.nn.Module
    schedule: Any  # experiments.schedules.Schedule
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    transform: Callable[[torch.Tensor], torch.Tensor]
    amp: Any
    extra_signals: tuple[str, ...]
    augment: CropFlip | None = None

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        return self.schedule.optimizer

    def evaluate_test(self) -> dict[str, float]:
        """Test metrics of the model's current weights (keys ``test_*``)."""
        return evaluate(self.model, self.x_test, self.y_test, num_classes=self.data.num_classes,
                        transform=self.transform, batch_size=self.cfg.eval_batch_size, prefix="test")  # fmt: skip


def epoch_context(cfg: RunConfig, data, device: torch.device) -> EpochContext:
    """Build the model (seeded), optimizer and schedule of a resolved config on ``device``."""
    model = build_model(cfg, data).to(device)
    channels_last = cfg.channels_last and data.kind == "image" and device.type == "cuda"
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    net = distributed.wrap_model(model, device)  # DDP under torchrun: train through net,
    model = distributed.unwrap(net)  # evaluate and checkpoint model (the same weights)
    steps = steps_per_epoch(len(data.y_train), cfg.batch_size)
    schedule = make_schedule(cfg.schedule, build_optimizer(cfg, model), epochs=cfg.epochs,
                             steps_per_epoch=steps, **cfg.schedule_options)  # fmt: skip
    amp = torch.autocast(
        device.type, dtype=torch.bfloat16, enabled=cfg.bf16 and device.type == "cuda"
    )

    def transform(xb):
        xb = data.normalise(xb.to(device, non_blocking=True))
        return xb.contiguous(memory_format=torch.channels_last) if channels_last else xb

    name = get_problem(cfg.problem).augment
    augment = AUGMENTATIONS[name] if name and data.kind == "image" else None
    # Every split on the device once, as uint8 images or token ids: no copy per batch.
    return EpochContext(cfg, data, device, model, net, schedule,
                        data.x_train.to(device), data.y_train.to(device),
                        data.x_val.to(device), data.y_val.to(device),
                        data.x_test.to(device), data.y_test.to(device), transform, amp,
                        tuple(cfg.signals) + schedule.val_signals, augment)  # fmt: skip


def train_epoch(ctx: EpochContext, epoch: int) -> tuple[dict[str, Any], float]:
    """Train one epoch, evaluate on validation, step the schedule; return (record, seconds).

    Under torchrun each rank takes its shard of every global batch. Raises `Diverged` on a
    non-finite batch loss, and (`check_losses`) when the epoch's mean training loss or its
    validation loss is non-finite or above the explosion limit.
    """
    cfg, schedule, device = ctx.cfg, ctx.schedule, ctx.device
    torch.manual_seed(epoch_seed(cfg.seed, epoch))
    generator = torch.Generator().manual_seed(epoch_seed(cfg.seed, epoch))
    order = torch.randperm(len(ctx.y_train), generator=generator)
    # Drawn after the order, so a problem without augmentation keeps its batch order.
    augment = ctx.augment.draw(len(order), generator).to(device) if ctx.augment else None
    order = order.to(device)
    optimizer = schedule.optimizer
    t0 = time.perf_counter()
    schedule.train()
    ctx.net.train()
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    batches = steps_per_epoch(len(order), cfg.batch_size)
    seen = torch.zeros((), dtype=torch.int64, device=device)
    lr_sums, lr_first = None, None
    for i in range(0, batches * cfg.batch_size, cfg.batch_size):
        idx = distributed.shard_batch(order[i : i + cfg.batch_size])
        xb, yb = ctx.x_train[idx], ctx.y_train[idx]
        if augment is not None:
            xb = ctx.augment(xb, augment[idx])
        xb = ctx.transform(xb)
        with ctx.amp:
            logits = ctx.net(xb)
            loss = F.cross_entropy(logits.float(), yb)
        if not distributed.finite_everywhere(loss):
            raise Diverged(f"train_loss at epoch {epoch}, step {i // cfg.batch_size + 1}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        fault_point("epoch")  # a kill mid-epoch: the rerun redoes this epoch from its checkpoint
        # The LR this step used, read before the schedule moves it: the same quantity for
        # per-step, per-epoch and schedule-free arms (whose LR is only known after step()).
        step_lrs = schedule.get_last_lr()
        if lr_sums is None:
            lr_sums, lr_first = [0.0] * len(step_lrs), step_lrs
        lr_sums = [a + b for a, b in zip(lr_sums, step_lrs)]
        logits = logits.detach()
        schedule.after_batch(logits, loss.detach())
        loss_sum += loss.detach() * len(yb)
        seen += len(yb)
        correct += (logits.argmax(-1) == yb).sum()
    # Totals of the examples actually trained on (full batches only), over all ranks.
    distributed.all_reduce_sum(loss_sum, correct, seen)
    lr = [total / batches for total in lr_sums]
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t1 = time.perf_counter()
    record = validated_record(ctx, epoch, order, (loss_sum, correct, seen))
    record["lr"] = lr[0]  # the mean LR over the epoch's steps
    record["lr_first"] = lr_first[0]  # the LR of the epoch's first step
    if len(lr) > 1:
        record.update({f"lr_group{i}": v for i, v in enumerate(lr)})
    record["train_time"] = t1 - t0
    record["eval_time"] = time.perf_counter() - t1
    return record, record["train_time"] + record["eval_time"]


def validated_record(ctx: EpochContext, epoch: int, order: torch.Tensor, totals) -> dict[str, Any]:
    """After an epoch's batches: evaluate on validation, check the losses, step the schedule
    with the metrics; the epoch's record without its LRs and times. ``totals``: the summed
    training loss, correct predictions and examples, over all ranks; ``order``: the
    epoch's batch order (BatchNorm recalibration for schedule-free arms replays it)."""
    cfg, schedule = ctx.cfg, ctx.schedule
    loss_sum, correct, seen = totals
    schedule.eval()
    if schedule.recalibrate_batchnorm:
        recalibrate_batchnorm(ctx.model, ctx.x_train, order, ctx.transform, cfg.batch_size)
    metrics = evaluate(ctx.model, ctx.x_val, ctx.y_val, num_classes=ctx.data.num_classes,
                       transform=ctx.transform, batch_size=cfg.eval_batch_size,
                       extra_signals=ctx.extra_signals, mc_samples=cfg.mc_samples,
                       mc_seed=epoch_seed(cfg.seed, epoch), fit_inputs=ctx.x_train)  # fmt: skip
    n = seen.item()
    train_loss = loss_sum.item() / n
    check_losses({"train_loss": train_loss, "val_loss": metrics["val_loss"]},
                 ctx.data.num_classes, epoch)  # fmt: skip
    record: dict[str, Any] = {
        "train_loss": train_loss,
        "train_accuracy": correct.item() / n,
        **metrics,
    }
    schedule.after_epoch(metrics)
    tracker = getattr(schedule, "tracker", None)
    record["train_signal"] = tracker.value if tracker is not None else None
    record["signal"] = schedule.last_signal
    annealed = schedule.annealed
    if annealed is not None:  # a budget-free run may stop at the first True
        record["annealed"] = annealed
    return record


def recalibrate_batchnorm(model, x_train, order, transform, batch_size, batches: int = 50) -> None:
    """Schedule-free evaluates at averaged weights; BatchNorm statistics must follow them.

    Runs up to ``batches`` training batches (in ``order``) through ``model`` in train mode
    without gradients, then leaves it in eval mode. Models without BatchNorm are untouched.
    """
    if not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        return
    model.train()
    with torch.no_grad():
        for i in range(0, min(len(order), batches * batch_size), batch_size):
            model(transform(x_train[order[i : i + batch_size]]))
    model.eval()

"""train(problem, schedule, config) -> RunResult: one run, every epoch on disk as it ends.

Data lives in memory as tensors on the device and is shuffled with a seeded ``randperm``
(no DataLoader). Seed k fixes the split, subset, initial weights, batch order and dropout
masks, identically under every schedule, so results are paired. Each epoch re-seeds
torch from (seed, epoch), which makes a run resumed from its last checkpoint end with
exactly the metrics of an uninterrupted one.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

import uncertainty_lr
from uncertainty_lr import distributed
from uncertainty_lr.experiments.checkpoint import (
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from uncertainty_lr.experiments.config import (
    RunConfig,
    data_arguments,
    resolve,
    run_key,
    schedule_label,
)
from uncertainty_lr.experiments.evaluate import evaluate
from uncertainty_lr.experiments.runtime import git_sha, hardware, pick_device
from uncertainty_lr.experiments.schedules import make_schedule
from uncertainty_lr.faults import fault_point
from uncertainty_lr.problems import get_problem
from uncertainty_lr.schedulers.registry import optimizer_description


@dataclass
class RunResult:
    """What a run produced. ``status`` is done, diverged or failed; ``history`` one dict per epoch."""

    run_id: str
    status: str
    config: dict
    history: list[dict] = field(default_factory=list)
    test: dict = field(default_factory=dict)
    wall_time: float = 0.0
    resumed_from: int = 0
    skipped: bool = False
    # The last epoch trained (below ``epochs`` after an early stop) and the epoch whose
    # weights gave ``test`` (the best val_loss under early stopping); None when unknown.
    stopped_epoch: int | None = None
    tested_epoch: int | None = None


class Diverged(Exception):
    """A loss became NaN or infinite."""


def steps_per_epoch(n: int, batch_size: int) -> int:
    """Full batches only (the incomplete last one is dropped, a different one each epoch):
    a batch of one would break BatchNorm. A split smaller than one batch is one batch."""
    return max(1, n // batch_size)


def epoch_seed(seed: int, epoch: int) -> int:
    return seed * 1_000_003 + epoch


def load_problem_data(cfg: RunConfig, *, progress: bool = False):
    """The DataBundle of a resolved config (cached on disk after the first decode)."""
    from uncertainty_lr.data import load_data, resolve_source

    source = cfg.source or resolve_source(get_problem(cfg.problem).dataset, cfg.data_dir)
    return load_data(source, **data_arguments(cfg), progress=progress)


def build_model(cfg: RunConfig, data) -> torch.nn.Module:
    """The problem's model, initialised from the run seed (the same under every schedule)."""
    from uncertainty_lr.models import build_model as build

    problem = get_problem(cfg.problem)
    options = dict(cfg.model_options)
    if problem.model == "bert" and cfg.pretrained and "bert_config" not in options:
        options["pretrained"] = cfg.pretrained
    torch.manual_seed(cfg.seed)
    shape = tuple(data.x_train.shape[1:])
    return build(
        problem.model,
        num_classes=data.num_classes,
        in_channels=shape[0] if data.kind == "image" else None,
        image_size=shape[-1] if data.kind == "image" else None,
        vocab_size=data.vocab_size or None,
        pad_id=data.pad_id,
        max_length=shape[0] if data.kind == "text" else None,
        dropout=cfg.dropout,
        **options,
    )


def build_optimizer(cfg: RunConfig, model: torch.nn.Module) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)


def _call(hooks, method: str, *args) -> None:
    for hook in hooks:
        fn = getattr(hook, method, None)
        if fn is not None:
            fn(*args)


def train(
    problem: str | None = None,
    schedule: str | None = None,
    config: RunConfig | None = None,
    *,
    store=None,
    hooks=(),
    data=None,
    progress: bool = False,
    keep_checkpoint: bool = False,
) -> RunResult:
    """Train one run. ``problem`` / ``schedule`` override the config's.

    With a ``store`` (experiments.store.Store), every epoch is written as it ends, a
    checkpoint is kept in ``<store>/checkpoints`` until the run finishes, a finished run
    is skipped and an interrupted one resumes. ``hooks`` get ``on_run_start(run)``,
    ``on_epoch_end(run, epoch, record)`` and ``on_run_end(run, status, test)``.
    """
    cfg = config or RunConfig()
    cfg = resolve(replace(cfg, problem=problem or cfg.problem, schedule=schedule or cfg.schedule))
    from uncertainty_lr.experiments.store import Store, is_finished

    label = schedule_label(cfg)
    run_id = Store.run_id(cfg.problem, label, cfg.seed, run_key(cfg))
    if distributed.setup(cfg.device):  # under torchrun: one run, data-parallel; rank 0 writes
        distributed.check_batch_size(cfg.batch_size)
        store = distributed.follower_view(store)
        if not distributed.is_main_process():
            hooks, progress = (), False
    if store is not None:
        existing = store.get_run(run_id)
        if is_finished(existing):
            if distributed.is_main_process():  # a kill after finish_run left its checkpoint
                ckpt = Path(store.out_dir) / "checkpoints" / f"{run_id}.pt"
                _remove_checkpoint(ckpt, keep_checkpoint)
            history = [_clean(row) for row in store.epochs(run_id)]
            return RunResult(run_id, existing["status"], existing["config"], history,
                             existing["test"] or {}, existing["wall_time"] or 0.0, skipped=True,
                             stopped_epoch=existing["stopped_epoch"], tested_epoch=existing["tested_epoch"])  # fmt: skip
    device = pick_device(cfg.device)
    data = data if data is not None else load_problem_data(cfg, progress=progress)
    config_record = {
        **cfg.to_dict(),
        "data_sizes": data.sizes(),
        "model": get_problem(cfg.problem).model,
        "optimizer_used": optimizer_description(cfg.optimizer, cfg.schedule, cfg.weight_decay),
    }
    run = {
        "run_id": run_id,
        "problem": cfg.problem,
        "schedule": label,
        "seed": cfg.seed,
        "config": config_record,
    }
    if store is not None:
        store.start_run(run_id, problem=cfg.problem, schedule=label, seed=cfg.seed, config=config_record,
                        hardware=distributed.describe(hardware(device)), version=uncertainty_lr.__version__, git_sha=git_sha())  # fmt: skip
    _call(hooks, "on_run_start", run)
    fault_point("run_start")
    try:
        result = _train(cfg, run_id, data, device, store, hooks, run, progress, keep_checkpoint)
    except Exception as e:
        if store is not None:
            store.finish_run(run_id, "failed", error=f"{type(e).__name__}: {e}".splitlines()[0])
        _call(hooks, "on_run_end", run, "failed", {})
        raise
    return result


def _train(cfg, run_id, data, device, store, hooks, run, progress, keep_checkpoint) -> RunResult:
    model = build_model(cfg, data).to(device)
    image = data.kind == "image"
    channels_last = cfg.channels_last and image and device.type == "cuda"
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    net = distributed.wrap_model(model, device)  # DDP under torchrun: train through net,
    model = distributed.unwrap(net)  # evaluate and checkpoint model (the same weights)
    x_train, y_train = data.x_train.to(device), data.y_train.to(device)
    x_val, y_val = data.x_val.to(device), data.y_val.to(device)
    steps = steps_per_epoch(len(y_train), cfg.batch_size)
    schedule = make_schedule(cfg.schedule, build_optimizer(cfg, model), epochs=cfg.epochs,
                             steps_per_epoch=steps, **cfg.schedule_options)  # fmt: skip
    optimizer = schedule.optimizer
    amp = torch.autocast(
        device.type, dtype=torch.bfloat16, enabled=cfg.bf16 and device.type == "cuda"
    )

    def transform(xb):
        xb = data.normalise(xb.to(device, non_blocking=True))
        return xb.contiguous(memory_format=torch.channels_last) if channels_last else xb

    extra_signals = tuple(cfg.signals) + schedule.val_signals
    ckpt_path = Path(store.out_dir) / "checkpoints" / f"{run_id}.pt" if store is not None else None
    writes = distributed.is_main_process()  # under DDP only rank 0 writes checkpoints
    start, history, wall = 0, [], 0.0
    best = {"loss": math.inf, "state": None, "bad": 0, "epoch": None}
    if ckpt_path is not None and ckpt_path.exists():
        state = load_checkpoint(
            ckpt_path, expected={"problem": cfg.problem, "schedule": cfg.schedule}
        )
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        set_rng_state(state["rng"])
        start, wall = state["epoch"], state["wall_time"]
        best = {
            "loss": state["best_loss"],
            "state": state["best_state"],
            "bad": state["bad_epochs"],
            "epoch": state.get("best_epoch"),  # absent from checkpoints of older versions
        }
    if store is not None:
        store.truncate_epochs(run_id, start)
        history = [_clean(row) for row in store.epochs(run_id)]
    status = "done"
    bar = _progress(
        range(start + 1, cfg.epochs + 1), progress, f"{cfg.problem}/{cfg.schedule}/s{cfg.seed}"
    )
    for epoch in bar:
        record = {}
        try:
            record, seconds = _one_epoch(cfg, epoch, model, schedule, x_train, y_train, x_val, y_val, data,
                                         transform, amp, extra_signals, device, net)  # fmt: skip
        except Diverged as d:
            record = {"train_loss": math.nan, "diverged_at": str(d)}
            status, seconds = "diverged", 0.0
        wall += seconds
        record["wall_time"] = wall
        if status == "done" and cfg.test_every_epoch:
            record.update(evaluate(model, data.x_test, data.y_test, num_classes=data.num_classes, transform=transform,
                                   batch_size=cfg.eval_batch_size, prefix="test"))  # fmt: skip
        history.append(_clean({"epoch": epoch, **record}))
        if store is not None:
            store.log_epoch(run_id, epoch, record)
        if status == "diverged":
            _call(hooks, "on_epoch_end", run, epoch, record)
            break
        if progress:
            bar.set_postfix(val_acc=f"{record['val_accuracy']:.4f}", lr=f"{record['lr']:.2e}")
        stop = False
        if cfg.early_stopping:
            if record["val_loss"] < best["loss"]:
                best = {"loss": record["val_loss"], "bad": 0, "epoch": epoch,
                        "state": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}}  # fmt: skip
            else:
                best["bad"] += 1
                stop = best["bad"] >= cfg.early_stopping
        if ckpt_path is not None and epoch < cfg.epochs and not stop and writes:
            save_checkpoint(ckpt_path, {
                "meta": {"problem": cfg.problem, "schedule": cfg.schedule, "seed": cfg.seed, "run_id": run_id},
                "epoch": epoch, "wall_time": wall, "model": model.state_dict(),
                "optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(), "rng": rng_state(),
                "best_loss": best["loss"], "best_state": best["state"], "bad_epochs": best["bad"],
                "best_epoch": best["epoch"],
            })  # fmt: skip
        _call(hooks, "on_epoch_end", run, epoch, record)  # after the epoch is durable
        if stop:
            break
    test, stopped = {}, (history[-1]["epoch"] if history else None)
    tested = None
    if status == "done":
        tested = stopped
        if best["state"] is not None:  # early stopping: test the best validation epoch
            model.load_state_dict(best["state"])
            tested = best["epoch"]
        schedule.eval()
        test = evaluate(model, data.x_test, data.y_test, num_classes=data.num_classes, transform=transform,
                        batch_size=cfg.eval_batch_size, prefix="test")  # fmt: skip
        test["epochs"] = len(history)
    if store is not None:
        store.finish_run(run_id, status, test=test, wall_time=wall, stopped_epoch=stopped,
                         tested_epoch=tested)  # fmt: skip
        if ckpt_path is not None and writes:
            _remove_checkpoint(ckpt_path, keep_checkpoint)
    _call(hooks, "on_run_end", run, status, test)
    return RunResult(run_id, status, run["config"], history, test, wall, resumed_from=start,
                     stopped_epoch=stopped, tested_epoch=tested)  # fmt: skip


def _remove_checkpoint(path: Path, keep: bool) -> None:
    """Delete a finished run's checkpoint (unless ``keep``) and any stray ``.tmp`` of it."""
    path.with_name(path.name + ".tmp").unlink(missing_ok=True)
    if not keep:
        path.unlink(missing_ok=True)


def _one_epoch(
    cfg,
    epoch,
    model,
    schedule,
    x_train,
    y_train,
    x_val,
    y_val,
    data,
    transform,
    amp,
    extra_signals,
    device,
    net=None,
):
    """Train one epoch, evaluate on validation, step the schedule; return (record, seconds).

    ``net`` is what the batches go through (``model`` wrapped in DDP under torchrun; each
    rank then takes its shard of every global batch).
    """
    net = model if net is None else net
    torch.manual_seed(epoch_seed(cfg.seed, epoch))
    order = torch.randperm(
        len(y_train), generator=torch.Generator().manual_seed(epoch_seed(cfg.seed, epoch))
    )
    order = order.to(device)
    optimizer = schedule.optimizer
    t0 = time.perf_counter()
    schedule.train()
    net.train()
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    batches = steps_per_epoch(len(order), cfg.batch_size)
    seen = torch.zeros((), dtype=torch.int64, device=device)
    lr_sums, lr_first = None, None
    for i in range(0, batches * cfg.batch_size, cfg.batch_size):
        idx = distributed.shard_batch(order[i : i + cfg.batch_size])
        xb, yb = transform(x_train[idx]), y_train[idx]
        with amp:
            logits = net(xb)
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
        schedule.after_batch(logits)
        loss_sum += loss.detach() * len(yb)
        seen += len(yb)
        correct += (logits.argmax(-1) == yb).sum()
    # Totals of the examples actually trained on (full batches only), over all ranks.
    distributed.all_reduce_sum(loss_sum, correct, seen)
    lr = [total / batches for total in lr_sums]
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t1 = time.perf_counter()
    schedule.eval()
    if schedule.recalibrate_batchnorm:
        _recalibrate_batchnorm(model, x_train, order, transform, cfg.batch_size)
    metrics = evaluate(model, x_val, y_val, num_classes=data.num_classes, transform=transform,
                       batch_size=cfg.eval_batch_size, extra_signals=extra_signals, mc_samples=cfg.mc_samples,
                       mc_seed=epoch_seed(cfg.seed, epoch))  # fmt: skip
    if not math.isfinite(metrics["val_loss"]):
        raise Diverged(f"val_loss at epoch {epoch}")
    n = seen.item()
    record: dict[str, Any] = {
        "train_loss": loss_sum.item() / n,
        "train_accuracy": correct.item() / n,
        **metrics,
    }
    schedule.after_epoch(metrics)
    tracker = getattr(schedule, "tracker", None)
    record["train_signal"] = tracker.value if tracker is not None else None
    record["signal"] = schedule.last_signal
    record["lr"] = lr[0]  # the mean LR over the epoch's steps
    record["lr_first"] = lr_first[0]  # the LR of the epoch's first step
    if len(lr) > 1:
        record.update({f"lr_group{i}": v for i, v in enumerate(lr)})
    record["train_time"] = t1 - t0
    record["eval_time"] = time.perf_counter() - t1
    return record, record["train_time"] + record["eval_time"]


def _clean(row: dict) -> dict:
    """An epoch record without empty values, the same whether it came from memory or the store."""
    return {k: v for k, v in row.items() if v is not None and k not in ("run_id", "nonfinite")}


def _recalibrate_batchnorm(model, x_train, order, transform, batch_size, batches: int = 50) -> None:
    """Schedule-free evaluates at averaged weights; BatchNorm statistics must follow them."""
    if not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        return
    model.train()
    with torch.no_grad():
        for i in range(0, min(len(order), batches * batch_size), batch_size):
            model(transform(x_train[order[i : i + batch_size]]))
    model.eval()


def _progress(iterable, enabled: bool, desc: str):
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, leave=False, disable=not sys.stderr.isatty())

"""train(problem, schedule, config) -> RunResult: one run, every epoch on disk as it ends.

Seed k fixes the split, subset, initial weights, batch order and dropout masks,
identically under every schedule, so results are paired. With a store, each epoch is
written as it ends and a checkpoint kept until the run finishes, so a killed run resumes
from its last epoch and ends with exactly the metrics of an uninterrupted one. The epoch
itself is `loop.train_epoch`.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import uncertainty_lr
from uncertainty_lr import distributed
from uncertainty_lr.experiments.build import load_problem_data
from uncertainty_lr.experiments.checkpoint import (
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from uncertainty_lr.experiments.config import (
    RunConfig,
    resolve,
    resolved_schedule_options,
    run_id,
    schedule_label,
)
from uncertainty_lr.experiments.files import write_refusal
from uncertainty_lr.experiments.hooks import call_hooks, run_info
from uncertainty_lr.experiments.loop import Diverged, EpochContext, epoch_context, train_epoch
from uncertainty_lr.experiments.results import RunResult, epoch_record, stored_result
from uncertainty_lr.experiments.runtime import git_sha, hardware, pick_device
from uncertainty_lr.experiments.store import is_finished
from uncertainty_lr.faults import fault_point
from uncertainty_lr.problems import get_problem
from uncertainty_lr.schedulers.registry import optimizer_description


@dataclass
class RunContext:
    """One run's identity and where it reports: the resolved config, its id, the ``run``
    dict hooks get (`hooks.run_info`), the store (or None), hooks and output settings."""

    cfg: RunConfig
    run_id: str
    info: dict
    store: object | None
    hooks: tuple
    progress: bool
    keep_checkpoint: bool

    @property
    def checkpoint(self) -> Path | None:
        """``<store>/checkpoints/<run_id>.pt``, or None without a store."""
        if self.store is None:
            return None
        return Path(self.store.out_dir) / "checkpoints" / f"{self.run_id}.pt"


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
    ``data``: the run's DataBundle if already loaded (default: `load_problem_data`).
    """
    cfg = config or RunConfig()
    cfg = resolve(replace(cfg, problem=problem or cfg.problem, schedule=schedule or cfg.schedule))
    label, rid = schedule_label(cfg), run_id(cfg)
    if distributed.setup(cfg.device):  # under torchrun: one run, data-parallel; rank 0 writes
        distributed.check_batch_size(cfg.batch_size)
        store = distributed.follower_view(store)
        if not distributed.is_main_process():
            hooks, progress = (), False
    if store is not None:
        existing = store.get_run(rid)
        if is_finished(existing):
            if distributed.is_main_process():  # a kill after finish_run left its checkpoint
                ckpt = Path(store.out_dir) / "checkpoints" / f"{rid}.pt"
                _remove_checkpoint(ckpt, keep_checkpoint)
            return stored_result(store, existing)
    device = pick_device(cfg.device)
    data = data if data is not None else load_problem_data(cfg, progress=progress)
    config_record = {
        **cfg.to_dict(),
        "resolved_schedule_options": resolved_schedule_options(cfg),
        "num_classes": data.num_classes,
        "data_sizes": data.sizes(),
        "model": get_problem(cfg.problem).model,
        "optimizer_used": optimizer_description(cfg.optimizer, cfg.schedule, cfg.weight_decay),
    }
    run = RunContext(cfg, rid, run_info(rid, cfg.problem, label, cfg.seed, config_record),
                     store, tuple(hooks), progress, keep_checkpoint)  # fmt: skip
    if store is not None:
        store.start_run(rid, problem=cfg.problem, schedule=label, seed=cfg.seed, config=config_record,
                        hardware=distributed.describe(hardware(device)), version=uncertainty_lr.__version__, git_sha=git_sha())  # fmt: skip
    call_hooks(run.hooks, "on_run_start", run.info)
    fault_point("run_start")
    try:
        return _train(run, epoch_context(cfg, data, device))
    except Exception as e:
        if store is not None:
            try:
                store.finish_run(rid, "failed", error=f"{type(e).__name__}: {e}".splitlines()[0])
            except Exception:
                if not write_refusal(e):
                    raise
                # the full disk refuses this write too: the run stays 'running', the rerun
                # resumes it, and the error raised is the cause, not this follow-up
        call_hooks(run.hooks, "on_run_end", run.info, "failed", {})
        raise


def _train(run: RunContext, ctx: EpochContext) -> RunResult:
    """The epochs of a started run: resume, train, early-stop, checkpoint, test, finish."""
    cfg, store, ckpt_path = run.cfg, run.store, run.checkpoint
    writes = distributed.is_main_process()  # under DDP only rank 0 writes checkpoints
    start, history, wall = 0, [], 0.0
    best = {"loss": math.inf, "state": None, "bad": 0, "epoch": None}
    if ckpt_path is not None and ckpt_path.exists():
        start, wall, best = _resume(ckpt_path, ctx)
    if store is not None:
        store.truncate_epochs(run.run_id, start)
        history = [epoch_record(row) for row in store.epochs(run.run_id)]
    status = "done"
    bar = _progress(range(start + 1, cfg.epochs + 1), run.progress,
                    f"{cfg.problem}/{cfg.schedule}/s{cfg.seed}")  # fmt: skip
    for epoch in bar:
        record = {}
        try:
            record, seconds = train_epoch(ctx, epoch)
        except Diverged as d:
            record = {"train_loss": math.nan, "diverged_at": str(d)}
            status, seconds = "diverged", 0.0
        wall += seconds
        record["wall_time"] = wall
        if status == "done" and cfg.test_every_epoch:
            record.update(ctx.evaluate_test())
        history.append(epoch_record({"epoch": epoch, **record}))
        if store is not None:
            store.log_epoch(run.run_id, epoch, record)
        if status == "diverged":
            call_hooks(run.hooks, "on_epoch_end", run.info, epoch, record)
            break
        if run.progress:
            bar.set_postfix(val_acc=f"{record['val_accuracy']:.4f}", lr=f"{record['lr']:.2e}")
        stop = False
        if cfg.early_stopping:
            if record["val_loss"] < best["loss"]:
                best = {"loss": record["val_loss"], "bad": 0, "epoch": epoch,
                        "state": {k: v.detach().cpu().clone() for k, v in ctx.model.state_dict().items()}}  # fmt: skip
            else:
                best["bad"] += 1
                stop = best["bad"] >= cfg.early_stopping
        if ckpt_path is not None and epoch < cfg.epochs and not stop and writes:
            _save(ckpt_path, run, ctx, epoch, wall, best)
        call_hooks(run.hooks, "on_epoch_end", run.info, epoch, record)  # after the epoch is durable
        if stop:
            break
    test, stopped = {}, (history[-1]["epoch"] if history else None)
    tested = None
    if status == "done":
        tested = stopped
        if best["state"] is not None:  # early stopping: test the best validation epoch
            ctx.model.load_state_dict(best["state"])
            tested = best["epoch"]
        ctx.schedule.eval()
        test = ctx.evaluate_test()
        test["epochs"] = len(history)
    if store is not None:
        store.finish_run(run.run_id, status, test=test, wall_time=wall, stopped_epoch=stopped,
                         tested_epoch=tested)  # fmt: skip
        if ckpt_path is not None and writes:
            _remove_checkpoint(ckpt_path, run.keep_checkpoint)
    call_hooks(run.hooks, "on_run_end", run.info, status, test)
    return RunResult(run.run_id, status, run.info["config"], history, test, wall,
                     resumed_from=start, stopped_epoch=stopped, tested_epoch=tested)  # fmt: skip


def _resume(path: Path, ctx: EpochContext) -> tuple[int, float, dict]:
    """Load a checkpoint into the model, optimizer, schedule and RNGs; (epoch, wall, best)."""
    state = load_checkpoint(
        path, expected={"problem": ctx.cfg.problem, "schedule": ctx.cfg.schedule}
    )
    ctx.model.load_state_dict(state["model"])
    ctx.optimizer.load_state_dict(state["optimizer"])
    ctx.schedule.load_state_dict(state["schedule"])
    set_rng_state(state["rng"])
    best = {
        "loss": state["best_loss"],
        "state": state["best_state"],
        "bad": state["bad_epochs"],
        "epoch": state.get("best_epoch"),  # absent from checkpoints of older versions
    }
    return state["epoch"], state["wall_time"], best


def _save(
    path: Path, run: RunContext, ctx: EpochContext, epoch: int, wall: float, best: dict
) -> None:
    cfg = run.cfg
    save_checkpoint(path, {
        "meta": {"problem": cfg.problem, "schedule": cfg.schedule, "seed": cfg.seed, "run_id": run.run_id},
        "epoch": epoch, "wall_time": wall, "model": ctx.model.state_dict(),
        "optimizer": ctx.optimizer.state_dict(), "schedule": ctx.schedule.state_dict(), "rng": rng_state(),
        "best_loss": best["loss"], "best_state": best["state"], "bad_epochs": best["bad"],
        "best_epoch": best["epoch"],
    })  # fmt: skip


def _remove_checkpoint(path: Path, keep: bool) -> None:
    """Delete a finished run's checkpoint (unless ``keep``) and any stray ``.tmp`` of it."""
    path.with_name(path.name + ".tmp").unlink(missing_ok=True)
    if not keep:
        path.unlink(missing_ok=True)


def _progress(iterable, enabled: bool, desc: str):
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, leave=False, disable=not sys.stderr.isatty())

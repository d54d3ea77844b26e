"""A grid of runs (problems x schedules x seeds) into one results store, resumable.

Every config is resolved and checked, every dataset opened and the output folder and
store checked writable, before the store is created, so a bad value or a read-only store
fails with nothing written. Runs already finished are skipped; an interrupted one resumes
from its checkpoint; a run that fails is marked ``failed`` and the sweep goes on, unless
the file system refused a write (full disk, read-only): then every later run would fail
the same way, so the sweep stops with ``files.OutputError`` and the rerun resumes.
"""

from __future__ import annotations

import dataclasses
import sys
from contextlib import nullcontext
from pathlib import Path

import torch

from uncertainty_lr import distributed
from uncertainty_lr.experiments import local_workers
from uncertainty_lr.experiments.build import load_problem_data
from uncertainty_lr.experiments.config import RunConfig, data_key, run_id, schedule_label
from uncertainty_lr.experiments.executors import (
    Execution,
    default_threads,
    pending_runs,
    run_parallel,
)
from uncertainty_lr.experiments.files import OutputError, write_refusal
from uncertainty_lr.experiments.grid import (  # noqa: F401 - imported from here too
    check_writable,
    expand_grid,
    parse_schedule_spec,
    parse_value,
)
from uncertainty_lr.experiments.progress import SweepProgress
from uncertainty_lr.experiments.run import train
from uncertainty_lr.experiments.store import check_store_writable, is_finished, open_for_sweep


def run_sweep(
    configs: list[RunConfig],
    out_dir: str | Path,
    execution: Execution | None = None,
    *,
    progress: bool = True,
    hooks=(),
    log=None,
    **fields,
):
    """Train every config into ``out_dir``'s store; returns the RunResults in order.

    ``execution`` (`executors.Execution`; default: one run after another in this process)
    says where runs train: more than one worker or ``executor="ray"`` trains them in
    parallel, see experiments.executors. Its fields may be given by name instead or over
    it: ``run_sweep(configs, out, workers=4, threads_per_worker=2)``. Under torchrun
    every rank calls this and trains each run data-parallel (uncertainty_lr.distributed);
    only rank 0 writes.
    """
    execution = dataclasses.replace(execution or Execution(), **fields)
    if execution.parallel and distributed.env_world_size() > 1:
        raise ValueError("workers > 1 or executor 'ray' cannot run under torchrun; use one or the other")  # fmt: skip
    if execution.threads_per_worker is not None and not execution.parallel:
        before = torch.get_num_threads()
        torch.set_num_threads(execution.threads_per_worker)
        try:
            return run_sweep(configs, out_dir, progress=progress, hooks=hooks, log=log)
        finally:
            torch.set_num_threads(before)
    progress = progress and distributed.is_main_process()
    log = log or (lambda msg: print(msg, file=sys.stderr))
    out = check_store_writable(out_dir)
    if not execution.parallel:
        bundles = load_every_dataset(configs, progress)  # before anything is written
        return run_one_by_one(configs, out, bundles, progress=progress, hooks=hooks, log=log)
    pool, workers = None, execution.workers
    todo = pending_runs(configs, out) if execution.executor == "local" else 0
    if todo:  # workers start (imports, warm-up) while this process loads the data below
        pool = local_workers.start_pool(
            min(workers, todo), execution.threads_per_worker or default_threads(workers)
        )
    with pool or nullcontext():  # shut down here, also when a dataset fails to load
        bundles = load_every_dataset(configs, progress)
        try:
            return run_parallel(configs, out, execution, progress=progress, hooks=hooks,
                                log=log, data=bundles, pool=pool)  # fmt: skip
        except Exception as e:
            if write_refusal(e):
                raise stopped_by(e, out, "in a worker") from e
            raise


def load_every_dataset(configs: list[RunConfig], progress: bool) -> dict:
    """``config.data_key`` -> DataBundle: every dataset of the sweep opened (one seed's
    split each: a config whose key differs only in the seed reuses the first's dataset)."""
    bundles = {}
    for cfg in configs:
        key = data_key(cfg)
        first = next((k for k in bundles if k[0] == key[0] and k[2:] == key[2:]), None)
        if first is None:
            bundles[key] = load_problem_data(cfg, progress=progress)
    return bundles


def run_one_by_one(configs: list[RunConfig], out: Path, bundles: dict, *, progress: bool,
                   hooks, log) -> list:  # fmt: skip
    """The sequential sweep: each config trained in this process, in order (on every rank
    under torchrun; rank 0 writes). A failed run is logged and marked; the sweep goes on,
    unless the file system refused a write."""
    results = []
    shown = None
    try:
        with open_for_sweep(out, lock=distributed.is_main_process()) as store:  # rank 0 writes
            # Finished runs are read back, not trained: counted as done, left out of the ETA.
            # Only the process that shows progress reads the store for them (not other ranks).
            finished = [progress and is_finished(store.get_run(run_id(cfg))) for cfg in configs]
            shown = SweepProgress(len(configs), sum(finished), enabled=progress)
            for cfg, was_finished in zip(configs, finished):
                key = data_key(cfg)
                if key not in bundles:
                    bundles = {key: load_problem_data(cfg)}  # one seed's split at a time
                label = schedule_label(cfg)
                try:
                    result = train(
                        config=cfg, store=store, hooks=hooks, data=bundles[key], progress=progress
                    )
                except Exception as e:  # noqa: BLE001 - recorded as failed; the sweep goes on
                    if write_refusal(e):
                        raise stopped_by(e, out, f"{cfg.problem}/{label}/seed {cfg.seed}") from e
                    if distributed.is_distributed():
                        raise  # the other ranks cannot skip in step: end them all (torchrun)
                    log(
                        f"run {cfg.problem}/{label}/seed {cfg.seed} failed: {type(e).__name__}: {e}"
                    )
                    shown.run_finished(cfg.problem, label, cfg.seed, "failed")
                    continue
                results.append(result)
                if not was_finished:
                    shown.run_finished(cfg.problem, label, cfg.seed, result.status)
    finally:
        if shown is not None:
            shown.close()
    return results


def stopped_by(error: BaseException, out: Path, run: str) -> OutputError:
    """The one line that ends a sweep whose write the file system refused."""
    return OutputError(
        f"{write_refusal(error)} in {out} (run {run}); the finished runs are stored: free "
        "space (or make it writable) and rerun the same command to resume"
    )

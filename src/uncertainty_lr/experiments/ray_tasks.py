"""The Ray executor: one Ray task per run, on a local instance or an existing cluster.

Each task asks for ``num_cpus=T`` (its torch threads) and a GPU for CUDA runs; Ray retries
a task whose worker process died up to ``max_retries`` times. Tasks train WITHOUT a store
(nodes need not share a disk; the data goes through Ray's object store) and return the
result; the driver writes the run and all its epochs as each result arrives, so a task
lost for good, or raising, marks only its own run failed.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from pathlib import Path

import torch

import uncertainty_lr
from uncertainty_lr.experiments.build import load_problem_data
from uncertainty_lr.experiments.config import RunConfig, data_key, run_id, schedule_label
from uncertainty_lr.experiments.results import RunResult
from uncertainty_lr.experiments.run import train
from uncertainty_lr.experiments.runtime import git_sha, hardware, pick_device

#: Ray retries of a task whose worker process died (exceptions are not retried: runs are
#: seeded, so a run that raised would raise again).
MAX_RETRIES = 2


def ray_task_options(
    cfg: RunConfig, threads: int, max_retries: int = MAX_RETRIES, gpus_per_run: float = 1.0
) -> dict:
    """The resource request of one run's Ray task: CPUs = its torch threads, a GPU if CUDA."""
    return {
        "num_cpus": threads,
        "num_gpus": gpus_per_run if cfg.device == "cuda" else 0,
        "max_retries": max_retries,
    }


def _train_task(cfg: RunConfig, data, threads: int) -> dict:
    """Ray task: train one run without a store; the result as plain dicts."""
    torch.set_num_threads(threads)
    result = train(config=cfg, data=data)
    return {
        "result": dataclasses.asdict(result),
        "hardware": hardware(pick_device(cfg.device)),
        "version": uncertainty_lr.__version__,
        "git_sha": git_sha(),
    }


def record_result(store, cfg: RunConfig, payload: dict):
    """Write a finished task's run and all its epochs to the store; its RunResult.

    Epochs of an earlier, unfinished attempt are dropped first, so the store holds
    exactly this result's epochs; a leftover local checkpoint of the run is removed.
    """
    r = payload["result"]
    if r["run_id"] != run_id(cfg):
        raise ValueError(f"task result for run {r['run_id']} does not match run {run_id(cfg)}")
    store.start_run(r["run_id"], problem=cfg.problem, schedule=schedule_label(cfg), seed=cfg.seed,
                    config=r["config"], hardware=payload["hardware"], version=payload["version"],
                    git_sha=payload["git_sha"])  # fmt: skip
    store.truncate_epochs(r["run_id"], 0)
    for row in r["history"]:
        record = {k: v for k, v in row.items() if k != "epoch"}
        store.log_epoch(r["run_id"], row["epoch"], record)
    store.finish_run(r["run_id"], r["status"], test=r["test"], wall_time=r["wall_time"],
                     stopped_epoch=r["stopped_epoch"], tested_epoch=r["tested_epoch"])  # fmt: skip
    (Path(store.out_dir) / "checkpoints" / f"{r['run_id']}.pt").unlink(missing_ok=True)
    return RunResult(**r)


def run_ray(pending, store, workers, threads, address, max_retries, finished) -> None:
    """Submit one task per run (at most ``workers`` in flight) and record each as it lands."""
    if not pending:
        return
    import ray

    started = not ray.is_initialized()
    if started:
        if address is None:  # a local cluster for this sweep, sized to it when workers is set
            sized = {"num_cpus": workers * threads} if workers else {}
            ray.init(include_dashboard=False, **sized)
        else:
            try:
                ray.init(address=address)
            except ConnectionError as e:
                raise ValueError(f"no Ray cluster at address {address!r}: {e}") from None
    try:
        gpus = ray.cluster_resources().get("GPU", 0)
        for cfg in pending:
            if cfg.device == "cuda" and gpus < 1:
                raise ValueError(f"run {cfg.problem}/seed {cfg.seed} asks for device 'cuda' but "
                                 "the Ray cluster has no GPU; use device cpu or auto")  # fmt: skip
        task = ray.remote(_train_task)
        uses = {}  # data key -> runs still to submit; its object is dropped after the last
        for cfg in pending:
            uses[data_key(cfg)] = uses.get(data_key(cfg), 0) + 1
        shipped, refs, todo = {}, {}, deque(pending)
        while todo or refs:
            while todo and (workers is None or len(refs) < workers):
                cfg = todo.popleft()
                key = data_key(cfg)
                if key not in shipped:  # the driver's disk cache makes this cheap
                    shipped[key] = ray.put(load_problem_data(cfg))
                options = ray_task_options(cfg, threads, max_retries)
                refs[task.options(**options).remote(cfg, shipped[key], threads)] = cfg
                uses[key] -= 1
                if not uses[key]:
                    del shipped[key]  # pending tasks keep the object alive
            ready, _ = ray.wait(list(refs), num_returns=1)
            cfg = refs.pop(ready[0])
            try:
                payload = ray.get(ready[0])
            except Exception as e:  # noqa: BLE001 - RayTaskError, WorkerCrashedError, ...
                cause = getattr(e, "cause", None) or e
                finished(cfg, None, f"{type(cause).__name__}: {cause}".splitlines()[0])
                continue
            finished(cfg, record_result(store, cfg, payload), None)
    finally:
        if started:
            ray.shutdown()

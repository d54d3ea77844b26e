"""Run a sweep's runs in parallel: local worker processes, or tasks on a Ray cluster.

``run_sweep(..., workers=N)`` (N > 1) or ``executor="ray"`` lands here, after every config
was checked and every dataset opened. The parent process holds the store's sweep lock for
the whole sweep and skips runs the store already has as done / diverged, so rerunning the
same command finishes what is missing and nothing more.

- ``local`` (experiments.local_workers): N spawned worker processes on this machine, each
  writing its runs' epochs to the store as they end.
- ``ray`` (experiments.ray_tasks): one Ray task per run; the driver writes each result.

Hooks (TensorBoard, MLflow) run in the parent, replayed from each result as it arrives.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from uncertainty_lr.checks import check_int, check_text
from uncertainty_lr.experiments.config import RunConfig, run_id, schedule_label
from uncertainty_lr.experiments.hooks import call_hooks, run_info
from uncertainty_lr.experiments.local_workers import run_local
from uncertainty_lr.experiments.progress import SweepProgress
from uncertainty_lr.experiments.ray_tasks import MAX_RETRIES, run_ray
from uncertainty_lr.experiments.results import stored_result
from uncertainty_lr.experiments.store import is_finished, open_for_sweep, store_exists
from uncertainty_lr.experiments.store_reader import StoreReader
from uncertainty_lr.problems import get_problem

EXECUTORS = ("local", "ray")
#: A run's id from its resolved config (`config.run_id`), under the name the executors use.
run_id_of = run_id


def default_threads(workers: int | None) -> int:
    """Torch threads per worker when not given: this machine's cores split over the workers."""
    return max(1, (os.cpu_count() or 1) // (workers or os.cpu_count() or 1))


def check_execution(
    workers: int | None, threads_per_worker: int | None, executor: str, address: str | None
) -> None:
    """ValueError naming the first bad execution setting."""
    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {', '.join(EXECUTORS)}, got {executor!r}")
    check_int("workers", workers, optional=True)
    check_int("threads_per_worker", threads_per_worker, optional=True)
    check_text("address", address, optional=True, strip=True, why=" ('auto' or HOST:PORT)")
    if address is not None and executor != "ray":
        raise ValueError(f"address {address!r} is for the ray executor; add executor='ray'")
    if executor == "ray" and importlib.util.find_spec("ray") is None:
        raise ValueError("executor 'ray' needs Ray: pip install 'uncertainty-lr[ray]' (or 'ray[default]')")  # fmt: skip


@dataclass(frozen=True)
class Execution:
    """Where a sweep's runs train, and how many at once; checked when made.

    Attributes:
        workers: runs in parallel: local worker processes (None: 1, the runs one after
            another in this process) or the most Ray tasks in flight (None: as many as the
            cluster takes).
        threads_per_worker: torch threads, and Ray CPUs, per run (None: unchanged for one
            local worker, else ``default_threads(workers)``).
        executor: "local" (default) or "ray".
        address: the Ray cluster, "auto" or HOST:PORT (None: a local Ray instance).
        max_retries: times Ray restarts a run whose worker died (default ``MAX_RETRIES``).
    """

    workers: int | None = None
    threads_per_worker: int | None = None
    executor: str = "local"
    address: str | None = None
    max_retries: int = MAX_RETRIES

    def __post_init__(self) -> None:
        check_execution(self.workers, self.threads_per_worker, self.executor, self.address)
        check_int("max_retries", self.max_retries, 0)

    @property
    def parallel(self) -> bool:
        """Whether runs train outside this process (Ray, or more than one local worker)."""
        return self.executor == "ray" or (self.workers or 1) > 1


def run_parallel(
    configs: list[RunConfig],
    out_dir: str | Path,
    execution: Execution | None = None,
    *,
    progress: bool = True,
    hooks=(),
    log=None,
    data: dict | None = None,
    pool=None,
) -> list:
    """Train every (resolved) config into ``out_dir``'s store; the RunResults in config order.

    Runs that fail are logged, marked failed in the store and left out, as in the
    sequential sweep. ``execution``: where and how many at once (`Execution`; default:
    one local worker). ``data``: DataBundles the caller already loaded, by
    ``config.data_key``. ``pool``: local workers the caller started with `start_pool` and
    shuts down, used for the first runs.
    """
    execution = execution or Execution()
    log = log or (lambda msg: print(msg, file=sys.stderr))
    workers = execution.workers
    if execution.executor == "local":
        workers = workers or 1
    threads = execution.threads_per_worker or default_threads(workers)
    with open_for_sweep(out_dir) as store:
        done, pending = plan(configs, store)
        shown = SweepProgress(len(done) + len(pending), len(done), enabled=progress)

        def finished(cfg: RunConfig, result, error: str | None) -> None:
            if error is not None:
                record_failure(store, cfg, error)
                log(f"run {cfg.problem}/{schedule_label(cfg)}/seed {cfg.seed} failed: {error}")
                _replay(hooks, cfg, None)
            else:
                done[result.run_id] = result
                _replay(hooks, cfg, result)
            status = "failed" if error else result.status
            shown.run_finished(cfg.problem, schedule_label(cfg), cfg.seed, status)

        try:
            if execution.executor == "local":
                run_local(pending, Path(out_dir), workers, threads, finished, data or {}, pool)
            else:
                run_ray(pending, store, workers, threads, execution.address,
                        execution.max_retries, finished)  # fmt: skip
        finally:
            shown.close()
    ids = [run_id(cfg) for cfg in configs]
    return [done[i] for i in ids if i in done]


def plan(configs: list[RunConfig], store) -> tuple[dict, list[RunConfig]]:
    """({run_id: RunResult} of runs already finished, [configs still to run, each once])."""
    done, pending, seen = {}, [], set()
    for cfg in configs:
        rid = run_id(cfg)
        if rid in seen:
            continue
        seen.add(rid)
        row = store.get_run(rid)
        if is_finished(row):
            done[rid] = stored_result(store, row)
        else:
            pending.append(cfg)
    return done, pending


def pending_runs(configs: list[RunConfig], out_dir: str | Path) -> int:
    """How many of ``configs`` the store in ``out_dir`` lacks as finished (all if none).

    Reads only the run rows (`plan` also reads the finished runs' epochs)."""
    ids = {run_id(cfg) for cfg in configs}
    if not store_exists(out_dir):
        return len(ids)
    with StoreReader(out_dir) as store:
        return sum(not is_finished(store.get_run(rid)) for rid in ids)


def record_failure(store, cfg: RunConfig, error: str) -> None:
    """Mark the run failed with ``error`` (one line), creating its row if it has none.

    A run whose worker raised inside ``train`` is already failed (``train`` did it); one
    whose process died is still 'running', one that never started has no row.
    """
    rid = run_id(cfg)
    row = store.get_run(rid)
    if row is not None and row["status"] == "failed":
        return
    if row is None:
        config = {**cfg.to_dict(), "model": get_problem(cfg.problem).model}
        store.start_run(rid, problem=cfg.problem, schedule=schedule_label(cfg), seed=cfg.seed,
                        config=config)  # fmt: skip
    store.finish_run(rid, "failed", error=error.splitlines()[0] if error else "failed")


# ----- hooks ---------------------------------------------------------------------------


def _replay(hooks, cfg: RunConfig, result) -> None:
    """The hook calls a sequential sweep would have made, from a finished (or failed) run."""
    if not hooks:
        return
    run = run_info(run_id(cfg), cfg.problem, schedule_label(cfg), cfg.seed,
                   result.config if result else cfg.to_dict())  # fmt: skip
    call_hooks(hooks, "on_run_start", run)
    if result is None:
        call_hooks(hooks, "on_run_end", run, "failed", {})
        return
    for row in result.history:
        if row["epoch"] > result.resumed_from:
            call_hooks(hooks, "on_epoch_end", run, row["epoch"], {k: v for k, v in row.items() if k != "epoch"})  # fmt: skip
    call_hooks(hooks, "on_run_end", run, result.status, result.test)

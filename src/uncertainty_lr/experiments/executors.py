"""Run a sweep's runs in parallel: local worker processes, or tasks on a Ray cluster.

``run_sweep(..., workers=N)`` (N > 1) or ``executor="ray"`` lands here, after every config
was checked and every dataset opened. The parent process holds the store's sweep lock for
the whole sweep and skips runs the store already has as done / diverged, so rerunning the
same command finishes what is missing and nothing more.

- ``local``: N spawned processes, each with ``torch.set_num_threads(T)``, each opening the
  store itself and running ``train(config=cfg, store=store)``, so epochs stream into the
  store (SQLite WAL, one transaction per write) and checkpoints into ``<out>/checkpoints``
  as they end; an interrupted run resumes from its checkpoint in whichever worker gets it.
- ``ray``: one Ray task per run (``num_cpus=T``, ``num_gpus`` for CUDA runs, Ray retries a
  task whose worker process died up to ``max_retries`` times). Tasks train WITHOUT a store
  (nodes need not share a disk; the data goes through Ray's object store) and return the
  result; the driver writes the run and all its epochs as each result arrives. A task
  lost for good, or raising, marks only its own run failed.

Hooks (TensorBoard, MLflow) run in the parent, replayed from each result as it arrives.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import sys
from collections import deque
from pathlib import Path

from uncertainty_lr.experiments.config import RunConfig, run_key, schedule_label

EXECUTORS = ("local", "ray")
#: Ray retries of a task whose worker process died (exceptions are not retried: runs are
#: seeded, so a run that raised would raise again).
MAX_RETRIES = 2


def default_threads(workers: int | None) -> int:
    """Torch threads per worker when not given: this machine's cores split over the workers."""
    return max(1, (os.cpu_count() or 1) // (workers or os.cpu_count() or 1))


def check_execution(
    workers: int | None, threads_per_worker: int | None, executor: str, address: str | None
) -> None:
    """ValueError naming the first bad execution setting."""
    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {', '.join(EXECUTORS)}, got {executor!r}")
    for name, value in (("workers", workers), ("threads_per_worker", threads_per_worker)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if address is not None and (not isinstance(address, str) or not address.strip()):
        raise ValueError(f"address must be 'auto' or HOST:PORT, got {address!r}")
    if address is not None and executor != "ray":
        raise ValueError(f"address {address!r} is for the ray executor; add executor='ray'")
    if executor == "ray" and importlib.util.find_spec("ray") is None:
        raise ValueError("executor 'ray' needs Ray: pip install 'uncertainty-lr[ray]' (or 'ray[default]')")  # fmt: skip


def ray_task_options(
    cfg: RunConfig, threads: int, max_retries: int = MAX_RETRIES, gpus_per_run: float = 1.0
) -> dict:
    """The resource request of one run's Ray task: CPUs = its torch threads, a GPU if CUDA."""
    return {
        "num_cpus": threads,
        "num_gpus": gpus_per_run if cfg.device == "cuda" else 0,
        "max_retries": max_retries,
    }


def run_parallel(
    configs: list[RunConfig],
    out_dir: str | Path,
    *,
    workers: int | None = None,
    threads_per_worker: int | None = None,
    executor: str = "local",
    address: str | None = None,
    max_retries: int = MAX_RETRIES,
    progress: bool = True,
    hooks=(),
    log=None,
    data: dict | None = None,
    pool=None,
) -> list:
    """Train every (resolved) config into ``out_dir``'s store; the RunResults in config order.

    Runs that fail are logged, marked failed in the store and left out, as in the
    sequential sweep. ``workers``: processes (local; default 1) or the most Ray tasks in
    flight (default: as many as the cluster takes). ``threads_per_worker``: torch threads
    and Ray CPUs per run (default ``default_threads(workers)``). ``data``: DataBundles the
    caller already loaded, by ``sweep.data_key``. ``pool``: local workers the caller
    started with `start_pool` (then owned, and shut down, here).
    """
    from uncertainty_lr.experiments.store import Store

    try:
        check_execution(workers, threads_per_worker, executor, address)
        store = Store(out_dir)
    except BaseException:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        raise
    log = log or (lambda msg: print(msg, file=sys.stderr))
    if executor == "local":
        workers = workers or 1
    threads = threads_per_worker or default_threads(workers)
    try:
        with store.lock():
            done, pending = plan(configs, store)
            bar = _bar(len(configs), len(configs) - len(pending), progress)

            def finished(cfg: RunConfig, result, error: str | None) -> None:
                if error is not None:
                    record_failure(store, cfg, error)
                    log(f"run {cfg.problem}/{schedule_label(cfg)}/seed {cfg.seed} failed: {error}")
                    _replay(hooks, cfg, None)
                else:
                    done[result.run_id] = result
                    _replay(hooks, cfg, result)
                if bar is not None:
                    status = "failed" if error else result.status
                    bar.update(1)
                    bar.set_postfix_str(
                        f"{cfg.problem} {schedule_label(cfg)} s{cfg.seed}: {status}"
                    )

            if executor == "local":
                _run_local(pending, Path(out_dir), workers, threads, finished, data or {}, pool)
            else:
                _run_ray(pending, store, workers, threads, address, max_retries, finished)
            if bar is not None:
                bar.close()
    finally:
        store.close()
        if pool is not None:
            pool.shutdown(cancel_futures=True)  # no-op if _run_local used it
    ids = [run_id_of(cfg) for cfg in configs]
    return [done[i] for i in ids if i in done]


def run_id_of(cfg: RunConfig) -> str:
    from uncertainty_lr.experiments.store import Store

    return Store.run_id(cfg.problem, schedule_label(cfg), cfg.seed, run_key(cfg))


def plan(configs: list[RunConfig], store) -> tuple[dict, list[RunConfig]]:
    """({run_id: RunResult} of runs already finished, [configs still to run, each once])."""
    from uncertainty_lr.train import RunResult, _clean

    done, pending, seen = {}, [], set()
    for cfg in configs:
        run_id = run_id_of(cfg)
        if run_id in seen:
            continue
        seen.add(run_id)
        row = store.get_run(run_id)
        if row is not None and row["status"] in ("done", "diverged"):
            history = [_clean(r) for r in store.epochs(run_id)]
            done[run_id] = RunResult(run_id, row["status"], row["config"], history,
                                     row["test"] or {}, row["wall_time"] or 0.0, skipped=True)  # fmt: skip
        else:
            pending.append(cfg)
    return done, pending


def record_failure(store, cfg: RunConfig, error: str) -> None:
    """Mark the run failed with ``error`` (one line), creating its row if it has none.

    A run whose worker raised inside ``train`` is already failed (``train`` did it); one
    whose process died is still 'running', one that never started has no row.
    """
    from uncertainty_lr.problems import get_problem

    run_id = run_id_of(cfg)
    row = store.get_run(run_id)
    if row is not None and row["status"] == "failed":
        return
    if row is None:
        config = {**cfg.to_dict(), "model": get_problem(cfg.problem).model}
        store.start_run(run_id, problem=cfg.problem, schedule=schedule_label(cfg), seed=cfg.seed,
                        config=config)  # fmt: skip
    store.finish_run(run_id, "failed", error=error.splitlines()[0] if error else "failed")


# ----- local processes ----------------------------------------------------------------

_WORKER_DATA: dict = {}  # one DataBundle per worker process: consecutive runs share a seed
#: Datasets up to this size (all splits) go to local workers with each run; a worker loads
#: larger ones itself, from the on-disk data cache. Small sets are the ones where a
#: worker's own load (imports, decoding) would cost more than the run.
SHIP_BYTES = 32 * 2**20


def bundle_bytes(bundle) -> int:
    """Bytes of a DataBundle's six tensors."""
    tensors = (bundle.x_train, bundle.y_train, bundle.x_val, bundle.y_val, bundle.x_test,
               bundle.y_test)  # fmt: skip
    return sum(t.numel() * t.element_size() for t in tensors)


def _data_to_ship(cfg: RunConfig, loaded: dict):
    """The run's DataBundle if it is small (loading it here if its problem's data is small),
    else None. ``loaded`` (data key -> bundle) keeps the small ones for later runs."""
    from uncertainty_lr.experiments.sweep import data_key
    from uncertainty_lr.train import load_problem_data

    key = data_key(cfg)
    if key not in loaded and any(k[0] == cfg.problem for k in loaded):
        loaded[key] = load_problem_data(cfg)  # another seed's split of a small dataset
    bundle = loaded.get(key)
    if bundle is not None and bundle_bytes(bundle) > SHIP_BYTES:
        del loaded[key]  # large: the workers load it; do not hold it here for the sweep
        return None
    return bundle


def _init_worker(threads: int) -> None:
    """Set the worker's threads and pay its one-off costs before it gets a run.

    A fresh process spends ~2 s importing torch and the package and, on its first
    optimizer, torch._dynamo; done here, that overlaps the parent's own set-up (see
    `start_pool`). `gc.freeze` then moves those ~10^6 import-time objects out of the
    collector's sight, so later collections and the process's exit skip them.
    """
    import gc

    import torch

    import uncertainty_lr.train  # noqa: F401 - models, signals, schedules, store

    torch.set_num_threads(threads)
    param = torch.nn.Parameter(torch.zeros(1))
    torch.optim.Adam([param]).step()  # the first optimizer imports torch._dynamo
    gc.freeze()


def _ready() -> None:
    """A no-op task: submitting one per worker makes the pool start them all now."""


def start_pool(workers: int, threads: int):
    """A pool of ``workers`` spawned processes, started now (their imports begin at once).

    Starting it before the parent checks and loads the data lets both happen at the
    same time; the pool is the one `run_parallel(pool=...)` then runs on.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("spawn")  # fork would copy torch's thread pools
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                               initargs=(threads,))  # fmt: skip
    for _ in range(workers):
        pool.submit(_ready)
    return pool


def pending_runs(configs: list[RunConfig], out_dir: str | Path) -> int:
    """How many of ``configs`` the store in ``out_dir`` lacks as finished (all if none)."""
    from uncertainty_lr.experiments.store import DB_NAME, Store

    if not (Path(out_dir) / DB_NAME).is_file():
        return len({run_id_of(cfg) for cfg in configs})
    with Store(out_dir, create=False) as store:
        return len(plan(configs, store)[1])


def _train_in_worker(cfg: RunConfig, out_dir: str, data=None):
    """Worker side: open the store, load the data unless sent (disk cache), train."""
    from uncertainty_lr.experiments.store import Store
    from uncertainty_lr.experiments.sweep import data_key
    from uncertainty_lr.train import load_problem_data, train

    if data is None:
        key = data_key(cfg)
        if key not in _WORKER_DATA:
            _WORKER_DATA.clear()
            _WORKER_DATA[key] = load_problem_data(cfg)
        data = _WORKER_DATA[key]
    with Store(out_dir) as store:
        return train(config=cfg, store=store, data=data)


def _run_local(pending, out: Path, workers: int, threads: int, finished, loaded: dict,
               pool=None) -> None:  # fmt: skip
    """At most ``workers`` runs in flight; a dead worker process fails the runs in flight
    (a rerun resumes them from their checkpoints) and a fresh pool takes the rest.
    ``pool``: one `start_pool` already started, used first."""
    from concurrent.futures import FIRST_COMPLETED, wait
    from concurrent.futures.process import BrokenProcessPool

    todo = deque(pending)
    while todo:
        size = min(workers, len(todo))
        pool = pool or start_pool(size, threads)
        with pool:
            in_flight: dict = {}
            broken = None
            while (todo or in_flight) and broken is None:
                while todo and len(in_flight) < size:
                    cfg = todo.popleft()
                    data = _data_to_ship(cfg, loaded)
                    in_flight[pool.submit(_train_in_worker, cfg, str(out), data)] = cfg
                ready, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in ready:
                    cfg = in_flight.pop(future)
                    try:
                        finished(cfg, future.result(), None)
                    except BrokenProcessPool as e:
                        broken = e
                        finished(cfg, None, f"worker process died: {e}")
                    except Exception as e:  # noqa: BLE001 - the run fails, the sweep goes on
                        finished(cfg, None, f"{type(e).__name__}: {e}")
            if broken is not None:
                for cfg in in_flight.values():
                    finished(cfg, None, f"worker process died: {broken}")
        pool = None


# ----- Ray ----------------------------------------------------------------------------


def _train_task(cfg: RunConfig, data, threads: int) -> dict:
    """Ray task: train one run without a store; the result as plain dicts."""
    import torch

    import uncertainty_lr
    from uncertainty_lr.experiments.runtime import git_sha, hardware, pick_device
    from uncertainty_lr.train import train

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
    from uncertainty_lr.train import RunResult

    r = payload["result"]
    if r["run_id"] != run_id_of(cfg):
        raise ValueError(f"task result for run {r['run_id']} does not match run {run_id_of(cfg)}")
    store.start_run(r["run_id"], problem=cfg.problem, schedule=schedule_label(cfg), seed=cfg.seed,
                    config=r["config"], hardware=payload["hardware"], version=payload["version"],
                    git_sha=payload["git_sha"])  # fmt: skip
    store.truncate_epochs(r["run_id"], 0)
    for row in r["history"]:
        record = {k: v for k, v in row.items() if k != "epoch"}
        store.log_epoch(r["run_id"], row["epoch"], record)
    store.finish_run(r["run_id"], r["status"], test=r["test"], wall_time=r["wall_time"])
    (Path(store.out_dir) / "checkpoints" / f"{r['run_id']}.pt").unlink(missing_ok=True)
    return RunResult(**r)


def _run_ray(pending, store, workers, threads, address, max_retries, finished) -> None:
    """Submit one task per run (at most ``workers`` in flight) and record each as it lands."""
    from uncertainty_lr.experiments.sweep import data_key
    from uncertainty_lr.train import load_problem_data

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


# ----- progress and hooks --------------------------------------------------------------


def _bar(total: int, initial: int, enabled: bool):
    if not enabled or not sys.stderr.isatty():
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc="runs", unit="run")


def _replay(hooks, cfg: RunConfig, result) -> None:
    """The hook calls a sequential sweep would have made, from a finished (or failed) run."""
    if not hooks:
        return
    from uncertainty_lr.train import _call

    run = {"run_id": run_id_of(cfg), "problem": cfg.problem, "schedule": schedule_label(cfg),
           "seed": cfg.seed, "config": result.config if result else cfg.to_dict()}  # fmt: skip
    _call(hooks, "on_run_start", run)
    if result is None:
        _call(hooks, "on_run_end", run, "failed", {})
        return
    for row in result.history:
        if row["epoch"] > result.resumed_from:
            _call(hooks, "on_epoch_end", run, row["epoch"], {k: v for k, v in row.items() if k != "epoch"})  # fmt: skip
    _call(hooks, "on_run_end", run, result.status, result.test)

"""The local executor: runs in spawned worker processes on this machine.

Each worker sets ``torch.set_num_threads(T)``, warms up once (`_init_worker`), then takes
runs one at a time: it opens the store itself and runs ``train(config=cfg, store=store)``,
so epochs stream into the store (SQLite WAL, one transaction per write) and checkpoints
into ``<out>/checkpoints`` as they end; an interrupted run resumes from its checkpoint in
whichever worker gets it. Small datasets travel with each run; workers load large ones
from the on-disk data cache.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
from collections import deque
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import torch

from uncertainty_lr.experiments.build import load_problem_data
from uncertainty_lr.experiments.config import RunConfig, data_key
from uncertainty_lr.experiments.files import write_refusal
from uncertainty_lr.experiments.run import train
from uncertainty_lr.experiments.store import Store

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

    A fresh process spends ~2 s importing torch and the package (this module imports
    the run loop: models, signals, schedules, store) and, on its first
    optimizer, torch._dynamo; done here, that overlaps the parent's own set-up (see
    `start_pool`). `gc.freeze` then moves those ~10^6 import-time objects out of the
    collector's sight, so later collections and the process's exit skip them.
    """
    torch.set_num_threads(threads)
    param = torch.nn.Parameter(torch.zeros(1))
    torch.optim.Adam([param]).step()  # the first optimizer imports torch._dynamo
    gc.freeze()


def _ready() -> None:
    """A no-op task: submitting one per worker makes the pool start them all now."""


def start_pool(workers: int, threads: int):
    """A pool of ``workers`` spawned processes, started now (their imports begin at once).

    Starting it before the parent checks and loads the data lets both happen at the
    same time; `run_parallel(pool=...)` then runs on it, and the caller shuts it down.
    """
    context = multiprocessing.get_context("spawn")  # fork would copy torch's thread pools
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                               initargs=(threads,))  # fmt: skip
    for _ in range(workers):
        pool.submit(_ready)
    return pool


def _train_in_worker(cfg: RunConfig, out_dir: str, data=None):
    """Worker side: open the store, load the data unless sent (disk cache), train."""
    if data is None:
        key = data_key(cfg)
        if key not in _WORKER_DATA:
            _WORKER_DATA.clear()
            _WORKER_DATA[key] = load_problem_data(cfg)
        data = _WORKER_DATA[key]
    with Store(out_dir) as store:
        return train(config=cfg, store=store, data=data)


@contextlib.contextmanager
def _workers_stopped_on_interrupt(pool) -> Iterator[None]:
    """On Ctrl-C or SIGTERM, end ``pool``'s worker processes now rather than wait for their
    runs (the pool's shutdown would): as after a kill, each run resumes on the rerun."""
    try:
        yield
    except KeyboardInterrupt:
        # the executor keeps its processes in `_processes` (no public way to stop them)
        for process in list((getattr(pool, "_processes", None) or {}).values()):
            process.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        raise


def run_local(pending, out: Path, workers: int, threads: int, finished, loaded: dict,
               pool=None) -> None:  # fmt: skip
    """At most ``workers`` runs in flight; a dead worker process fails the runs in flight
    (a rerun resumes them from their checkpoints) and a fresh pool takes the rest.
    ``pool``: one `start_pool` already started, used first."""
    todo = deque(pending)
    while todo:
        size = min(workers, len(todo))
        pool = pool or start_pool(size, threads)
        with pool, _workers_stopped_on_interrupt(pool):
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
                        if write_refusal(e):
                            raise  # a full or read-only disk would fail every later run too
                        finished(cfg, None, f"{type(e).__name__}: {e}")
            if broken is not None:
                for cfg in in_flight.values():
                    finished(cfg, None, f"worker process died: {broken}")
        pool = None

"""Parallel sweeps: local worker processes and a local Ray cluster give the sequential
sweep's metrics, stream into one store without lost or duplicated rows, fail only the
failing run, and resume (finish what is missing and nothing more).

Each pool or Ray start costs seconds of process start-up, so the expensive sweeps run once
per module (fixtures) and several tests read them.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import replace

import pytest
import torch

import uncertainty_lr.experiments.sweep as sweep_module
from uncertainty_lr.experiments import local_workers, ray_tasks
from uncertainty_lr.experiments.config import RunConfig
from uncertainty_lr.experiments.executors import (
    Execution,
    check_execution,
    default_threads,
    pending_runs,
    run_id_of,
    run_parallel,
)
from uncertainty_lr.experiments.ray_tasks import ray_task_options
from uncertainty_lr.experiments.run import train
from uncertainty_lr.experiments.store import Store
from uncertainty_lr.experiments.sweep import expand_grid, run_sweep

TIMES = ("train_time", "eval_time", "wall_time")
BASE = RunConfig(problem="digits_mlp", epochs=2)
# hidden_dim=0 passes config checks and data loading, then fails when the model is built.
BAD = replace(
    expand_grid(["digits_mlp"], ["constant"], [5], BASE)[0], model_options={"hidden_dim": 0}
)


def grid() -> list[RunConfig]:
    return expand_grid(["digits_mlp"], ["constant", "uncertainty"], [0, 1], BASE)


def metrics(out) -> dict:
    """{run_id: (status, test, [epoch rows without timings or empty values])} of a store."""
    with Store(out, create=False) as store:
        runs = {r["run_id"]: r for r in store.runs()}
        rows = {}
        for row in store.epochs():
            clean = {k: v for k, v in row.items() if k not in TIMES and v is not None}
            rows.setdefault(row["run_id"], []).append(clean)
    return {i: (r["status"], r["test"], rows.get(i, [])) for i, r in runs.items()}


def row_counts(out) -> tuple[int, int]:
    conn = sqlite3.connect(out / "results.sqlite")
    try:
        return tuple(
            conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("runs", "epochs")
        )
    finally:
        conn.close()


@pytest.fixture(scope="module")
def sequential(tmp_path_factory):
    out = tmp_path_factory.mktemp("sequential")
    run_sweep(grid() + [BAD], out, progress=False, log=lambda msg: None)
    return out


class Recorder:
    """A hook that lists the calls it gets, as (method, schedule, seed[, epoch, lr | status])."""

    def __init__(self):
        self.calls = []

    def on_run_start(self, run):
        self.calls.append(("start", run["schedule"], run["seed"]))

    def on_epoch_end(self, run, epoch, record):
        self.calls.append(("epoch", run["schedule"], run["seed"], epoch, record["lr"]))

    def on_run_end(self, run, status, test):
        self.calls.append(("end", run["schedule"], run["seed"], status))


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    out = tmp_path_factory.mktemp("local")
    logged, hook = [], Recorder()
    results = run_sweep(grid() + [BAD], out, progress=False, log=logged.append, hooks=[hook],
                        workers=2, threads_per_worker=1)  # fmt: skip
    return out, results, logged, hook


def test_bad_execution_settings_are_one_line_value_errors():
    with pytest.raises(ValueError, match="executor must be one of local, ray, got 'dask'"):
        check_execution(2, 1, "dask", None)
    with pytest.raises(ValueError, match="workers must be a positive integer, got 0"):
        check_execution(0, 1, "local", None)
    with pytest.raises(ValueError, match="threads_per_worker must be a positive integer, got 1.5"):
        check_execution(2, 1.5, "local", None)
    with pytest.raises(ValueError, match="address 'auto' is for the ray executor"):
        check_execution(2, 1, "local", "auto")
    with pytest.raises(ValueError, match="workers must be a positive integer, got -1"):
        run_sweep(grid(), "unused", workers=-1)


def test_cli_execution_flags_reach_the_checks(capsys, tmp_path):
    from uncertainty_lr.cli import main

    base = ["run", "--problem", "digits_mlp", "--epochs", "1", "--out", str(tmp_path / "o")]
    assert main([*base, "--workers", "0"]) == 2
    assert "workers must be a positive integer, got 0" in capsys.readouterr().err
    assert main([*base, "--workers", "2", "--address", "auto"]) == 2
    assert "address 'auto' is for the ray executor" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_ray_executor_without_ray_says_how_to_install(monkeypatch):
    import uncertainty_lr.experiments.executors as ex

    real = ex.importlib.util.find_spec
    monkeypatch.setattr(ex.importlib.util, "find_spec", lambda n: None if n == "ray" else real(n))
    with pytest.raises(ValueError, match=r"executor 'ray' needs Ray: pip install"):
        check_execution(None, None, "ray", "auto")


def test_threads_default_splits_the_cores_over_the_workers():
    cores = os.cpu_count()
    assert default_threads(1) == cores
    assert default_threads(cores * 4) == 1


def test_ray_task_asks_for_its_threads_and_a_gpu_only_for_cuda_runs():
    cpu = ray_task_options(BASE, threads=3)
    assert cpu == {"num_cpus": 3, "num_gpus": 0, "max_retries": 2}
    gpu = ray_task_options(replace(BASE, device="cuda"), threads=1, max_retries=0)
    assert gpu == {"num_cpus": 1, "num_gpus": 1.0, "max_retries": 0}


def test_local_workers_match_the_sequential_sweep(local, sequential):
    out, results, _, _ = local
    assert metrics(out) == metrics(sequential)
    assert [r.run_id for r in results] == [run_id_of(c) for c in grid()]  # config order
    assert all(r.status == "done" and len(r.history) == 2 for r in results)


def test_hooks_run_in_the_parent_as_each_run_lands(local):
    out, results, _, hook = local
    for r in results:
        schedule, seed = r.config["schedule"], r.config["seed"]
        mine = [c for c in hook.calls if c[1:3] == (schedule, seed)]
        epochs = [("epoch", schedule, seed, h["epoch"], h["lr"]) for h in r.history]
        assert mine == [("start", schedule, seed), *epochs, ("end", schedule, seed, "done")]
    assert ("end", "constant", 5, "failed") in hook.calls and len(hook.calls) == 4 * 4 + 2


def test_one_worker_with_threads_sets_them_for_the_sweep_only(tmp_path):
    seen = []

    class Threads:
        def on_run_start(self, run):
            seen.append(torch.get_num_threads())

    run_sweep(grid()[:1], tmp_path, progress=False, hooks=[Threads()], threads_per_worker=2)
    assert seen == [2] and torch.get_num_threads() == 1


def test_local_failure_marks_only_that_run_failed_and_no_row_is_lost(local):
    out, results, logged, _ = local
    assert row_counts(out) == (5, 8)  # 4 done runs x 2 epochs; the failed run has none
    with Store(out, create=False) as store:
        failed = store.runs("failed")
        assert [r["run_id"] for r in failed] == [run_id_of(BAD)]
        assert "hidden_dim must be a positive integer, got 0" in failed[0]["error"]
        assert len(store.runs("done")) == 4
    assert len(logged) == 1 and "failed" in logged[0]


def test_local_rerun_finishes_what_is_missing_and_nothing_more(tmp_path, local, monkeypatch):
    # Imported here, not at the top: Ray workers import this module by name (to unpickle
    # _crash_on_seed below), and tests/support, where testkit lives, is not on their path.
    from testkit import StopAfter

    first, second, third = grid()[:3]
    with Store(tmp_path) as store:
        train(config=first, store=store)  # finished before the sweep
        with pytest.raises(KeyboardInterrupt):  # interrupted after epoch 1, checkpoint kept
            train(config=replace(second, epochs=3), store=store, hooks=[StopAfter(1)])
    configs = [first, replace(second, epochs=3), third]
    results = run_sweep(configs, tmp_path, progress=False, workers=2, threads_per_worker=1)
    assert [r.skipped for r in results] == [True, False, False]
    assert [r.resumed_from for r in results] == [0, 1, 0]
    uninterrupted = train(config=replace(second, epochs=3))
    strip = [{k: v for k, v in h.items() if k not in TIMES} for h in uninterrupted.history]
    assert [{k: v for k, v in h.items() if k not in TIMES} for h in results[1].history] == strip
    assert row_counts(tmp_path) == (3, 2 + 3 + 2)
    assert not list((tmp_path / "checkpoints").glob("*.pt"))
    monkeypatch.setattr(local_workers, "start_pool", None)  # nothing to run: no worker starts
    again = run_sweep(configs, tmp_path, progress=False, workers=2)
    assert all(r.skipped for r in again) and row_counts(tmp_path) == (3, 7)


def test_pending_runs_counts_what_the_store_lacks(tmp_path, local):
    out = local[0]
    assert pending_runs(grid(), tmp_path / "no-store") == 4
    assert pending_runs(grid() + grid(), out) == 0  # each run once, all done
    assert pending_runs(grid() + [BAD], out) == 1  # failed runs are run again


def test_workers_started_early_are_stopped_when_the_data_fails(tmp_path, monkeypatch):
    pools, start_pool = [], local_workers.start_pool
    monkeypatch.setattr(
        local_workers, "start_pool", lambda *a: pools.append(start_pool(*a)) or pools[-1]
    )

    def no_data(cfg, progress=False):
        raise ValueError("data folder not found: /nowhere")

    monkeypatch.setattr(sweep_module, "load_problem_data", no_data)
    with pytest.raises(ValueError, match="data folder not found"):
        run_sweep(grid(), tmp_path / "out", progress=False, workers=2, threads_per_worker=1)
    assert len(pools) == 1
    with pytest.raises(RuntimeError, match="shutdown"):  # the pool was shut down
        pools[0].submit(print)
    assert not (tmp_path / "out").exists()


# ----- Ray ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ray_cluster():
    """A local Ray instance on loopback with 2 CPUs, shut down after the module."""
    ray = pytest.importorskip("ray")
    saved = os.environ.pop("RAY_ADDRESS", None)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()
    if saved is not None:
        os.environ["RAY_ADDRESS"] = saved


@pytest.fixture(scope="module")
def ray_sweep(ray_cluster, tmp_path_factory):
    out = tmp_path_factory.mktemp("ray")
    logged = []
    results = run_sweep(grid() + [BAD], out, progress=False, log=logged.append, executor="ray",
                        workers=2, threads_per_worker=1)  # fmt: skip
    return out, results, logged


def test_ray_gives_the_local_executors_metrics(ray_sweep, local):
    out, results, logged = ray_sweep
    assert metrics(out) == metrics(local[0])
    assert [r.run_id for r in results] == [run_id_of(c) for c in grid()]
    assert row_counts(out) == (5, 8)
    with Store(out, create=False) as store:
        (failed,) = store.runs("failed")
        assert "hidden_dim must be a positive integer, got 0" in failed["error"]
        assert all(r["hardware"]["torch_threads"] == 1 for r in store.runs("done"))
    assert len(logged) == 1


def test_ray_rerun_submits_nothing_already_finished(ray_sweep):
    out, first, _ = ray_sweep
    before = metrics(out)
    extra = replace(grid()[0], seed=2)
    again = run_sweep(grid() + [extra], out, progress=False, executor="ray", workers=2)
    assert [r.skipped for r in again] == [True] * 4 + [False]
    assert row_counts(out) == (6, 10)
    after = metrics(out)
    assert {k: v for k, v in after.items() if k in before} == before


def _crash_on_seed(cfg, data, threads):
    """Ray task stand-in: seed 7 kills its worker once (a marker file remembers), seed 8 always."""
    import os as _os
    from pathlib import Path as _Path

    marker = _Path(_os.environ["ULR_TEST_MARKERS"]) / str(cfg.seed)
    if cfg.seed == 8 or not marker.exists():
        marker.touch()
        _os._exit(1)
    from uncertainty_lr.experiments.ray_tasks import _train_task as real

    return real(cfg, data, threads)


def test_ray_retries_a_dead_worker_then_marks_the_run_failed(ray_cluster, tmp_path, monkeypatch):
    # The Ray workers are already running and do not see this process's environment:
    # the marker path travels in each task's runtime environment.
    monkeypatch.setattr(ray_tasks, "_train_task", _crash_on_seed)
    markers = tmp_path / "crashed"
    markers.mkdir()
    monkeypatch.setattr(
        ray_tasks, "ray_task_options", lambda cfg, threads, retries: {
            **ray_task_options(cfg, threads, retries),
            "runtime_env": {"env_vars": {"ULR_TEST_MARKERS": str(markers)}},
        },
    )  # fmt: skip
    once, always = (replace(grid()[0], seed=s, epochs=1) for s in (7, 8))
    logged = []
    ray = Execution(executor="ray", threads_per_worker=1, max_retries=1)
    results = run_parallel([once, always], tmp_path / "out", ray, progress=False, log=logged.append)
    assert [r.run_id for r in results] == [run_id_of(once)] and results[0].status == "done"
    assert sorted(p.name for p in markers.iterdir()) == ["7", "8"]  # seed 7 died once, then ran
    with Store(tmp_path / "out", create=False) as store:
        (failed,) = store.runs("failed")
        assert failed["run_id"] == run_id_of(always)
        assert failed["error"].startswith("WorkerCrashedError: The worker died unexpectedly")
    assert len(logged) == 1

"""A sweep whose disk fills up: one line, exit 1, the store intact, the rerun resumes.

Real where this user may mount a tmpfs (too small for the run's first checkpoints); where
it may not, the same refusal is injected as ``OSError(ENOSPC)`` at a store write and at
a checkpoint write. Either way the sweep stops at the first refused write (every later
run would fail the same way), the store passes ``integrity_check``, and once there is
space the same command finishes the run with exactly the numbers of an uninterrupted one.
"""

from __future__ import annotations

import sqlite3

import pytest

from uncertainty_lr.experiments.files import write_refusal
from uncertainty_lr.experiments.store import Store
from uncertainty_lr.faults import FAULT_ENV

EPOCHS = 3


def reference_of_one_run(sweep_reference) -> dict:
    (rid,) = [r for r, run in sweep_reference["snapshot"].items() if run["label"] == "constant/seed 0"]  # fmt: skip
    return {rid: sweep_reference["snapshot"][rid]}


def check_stopped(result, out, helpers) -> None:
    assert result.returncode == 1, result.stderr
    assert result.stderr == (
        f"uncertainty-lr: error: no space left on device in {out} (run digits_mlp/constant/"
        "seed 0); the finished runs are stored: free space (or make it writable) and rerun "
        "the same command to resume\n"
    )
    assert helpers.integrity(out / "results.sqlite") == "ok"


def test_run_on_a_full_tmpfs_stops_in_one_line_and_resumes(tmp_path, sweep_reference, helpers) -> None:  # fmt: skip
    with helpers.mounted_tmpfs(tmp_path / "disk", "448k") as disk:
        out = disk / "out"
        check_stopped(
            helpers.cli("run", *helpers.ONE_RUN, "--out", out, cwd=tmp_path), out, helpers
        )
        helpers.resize_tmpfs(disk, "4m")
        rerun = helpers.cli("run", *helpers.ONE_RUN, "--out", out, cwd=tmp_path)
        assert rerun.returncode == 0, rerun.stderr
        assert helpers.survivor_problems(out, reference_of_one_run(sweep_reference), EPOCHS) == []


@pytest.fixture
def no_tmpfs(tmp_path, helpers) -> None:
    if helpers.can_mount(tmp_path):
        pytest.skip("a real full disk is tested here (test_run_on_a_full_tmpfs_...)")


@pytest.mark.parametrize("plan", ["commit:4:ENOSPC", "checkpoint:1:ENOSPC"])
def test_run_with_an_injected_full_disk_stops_in_one_line_and_resumes(no_tmpfs, plan, tmp_path, sweep_reference, helpers) -> None:  # fmt: skip
    out = tmp_path / "out"
    stopped = helpers.cli(
        "run", *helpers.ONE_RUN, "--out", out, cwd=tmp_path, env={FAULT_ENV: plan}
    )
    check_stopped(stopped, out, helpers)
    rerun = helpers.cli("run", *helpers.ONE_RUN, "--out", out, cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    assert helpers.survivor_problems(out, reference_of_one_run(sweep_reference), EPOCHS) == []


def test_a_store_write_on_a_full_tmpfs_is_refused_by_sqlite_and_named(tmp_path, helpers) -> None:
    """SQLite's own wording of a full disk (the checkpoint fills it first in the sweep)."""
    with helpers.mounted_tmpfs(tmp_path / "disk", "256k") as disk:
        store = Store(disk / "out")
        store.start_run("r1", problem="p", schedule="s", seed=0, config={})
        helpers.fill(disk)
        with pytest.raises(sqlite3.OperationalError) as caught:
            for epoch in range(1, 200):
                store.log_epoch("r1", epoch, {"note": "x" * 4000})
        assert write_refusal(caught.value) == "no space left on device"
        store.close()
        assert helpers.integrity(disk / "out" / "results.sqlite") == "ok"

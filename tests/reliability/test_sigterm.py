"""SIGTERM, what a batch scheduler sends to preempt a job, is handled like Ctrl-C.

The run is sent a real SIGTERM mid-epoch (``UNCERTAINTY_LR_FAULT=epoch:N:sigterm`` has the
process signal itself) and must print the same single line as Ctrl-C, exit 143 (128 +
SIGTERM), leave a store that passes ``integrity_check`` with the finished epochs kept and
the run still ``running``, and no temporary file; the same command then resumes the run
and ends with exactly the numbers of an uninterrupted one.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from uncertainty_lr.experiments.store import Store
from uncertainty_lr.faults import COUNTS_ENV, FAULT_ENV

EPOCHS = 3
BATCHES = 9  # 300 training images minus validation, batch 32


def test_sigterm_mid_run_interrupts_like_ctrl_c_and_the_rerun_resumes(tmp_path, sweep_reference, helpers) -> None:  # fmt: skip
    out = tmp_path / "out"
    sweep = ("run", *helpers.ONE_RUN, "--out", out)
    plan = f"epoch:{BATCHES + 4}:sigterm"  # four batches into epoch 2
    stopped = helpers.cli(*sweep, cwd=tmp_path, env={FAULT_ENV: plan})
    assert stopped.returncode == 128 + signal.SIGTERM, stopped.stderr
    assert stopped.stderr == "uncertainty-lr: interrupted; rerun the same command to resume\n"
    assert helpers.integrity(out / "results.sqlite") == "ok"
    assert not list(out.rglob("*.tmp"))
    with Store(out, create=False) as store:
        (run,) = store.runs()
        assert (run["status"], run["epochs_done"]) == ("running", 1)
    resumed = helpers.cli(*sweep, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    reference = {k: v for k, v in sweep_reference["snapshot"].items() if k == run["run_id"]}
    assert helpers.survivor_problems(out, reference, EPOCHS) == []


def epoch_rows(out) -> int:
    try:
        with sqlite3.connect(f"file:{out / 'results.sqlite'}?mode=ro", uri=True) as conn:
            return conn.execute("SELECT count(*) FROM epochs").fetchone()[0]
    except sqlite3.Error:
        return 0


@pytest.mark.slow
def test_sigterm_to_a_parallel_sweep_stops_its_workers_at_once(tmp_path, sweep_reference, helpers) -> None:  # fmt: skip
    """Only the parent gets SIGTERM (as from a container runtime): it must end its worker
    processes instead of waiting for their runs, and the rerun must finish them."""
    out = tmp_path / "out"
    sweep = ("run", *helpers.SMALL_SWEEP, "--workers", "2", "--out", str(out))
    env = {k: v for k, v in os.environ.items() if k not in (FAULT_ENV, COUNTS_ENV)}
    parent = subprocess.Popen([sys.executable, "-m", "uncertainty_lr", *sweep], cwd=tmp_path,
                              env=env, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while epoch_rows(out) < 2 and parent.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        workers = subprocess.run(["pgrep", "-P", str(parent.pid)], capture_output=True,
                                 text=True).stdout.split()  # fmt: skip
        parent.send_signal(signal.SIGTERM)
        _, err = parent.communicate(timeout=30)
    finally:
        parent.kill()
    assert parent.returncode == 128 + signal.SIGTERM, err
    assert err == "uncertainty-lr: interrupted; rerun the same command to resume\n"
    deadline = time.monotonic() + 10  # the resource tracker follows its parent in a moment
    while [
        pid for pid in workers if os.path.exists(f"/proc/{pid}")
    ] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in workers if os.path.exists(f"/proc/{pid}")], "workers left running"
    assert helpers.integrity(out / "results.sqlite") == "ok"
    resumed = helpers.cli(*sweep, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert helpers.survivor_problems(out, sweep_reference["snapshot"], EPOCHS) == []


def test_sigterm_leaves_the_handler_it_found(monkeypatch) -> None:
    from uncertainty_lr import exits

    before = signal.getsignal(signal.SIGTERM)
    with exits.sigterm_interrupts():
        assert signal.getsignal(signal.SIGTERM) is not before
    assert signal.getsignal(signal.SIGTERM) is before

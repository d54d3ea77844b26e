"""Two sweeps on one output folder at once: one runs, the other is refused naming the holder.

Both are real processes started together on the same ``--out``. The store's
``sweep.lock`` (flock) admits one; the other must exit 2 with one stderr line that names
the holder (pid, host, command) and must not have written a row. Afterwards the store
passes ``PRAGMA integrity_check`` and holds every run and epoch exactly once.

The tiny sweep finishes in about a second once it holds the lock, so the second process
could arrive after the first is done (and rightly skip every finished run). To make the
overlap certain, the holder is paused with SIGSTOP as soon as the lock file names it and
resumed with SIGCONT once the other has been turned away.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time

from uncertainty_lr.faults import COUNTS_ENV, FAULT_ENV


def _start(args, cwd) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in (FAULT_ENV, COUNTS_ENV)}
    return subprocess.Popen(
        [sys.executable, "-m", "uncertainty_lr", *map(str, args)],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_holder(lock_file, pids, timeout=120.0) -> int:
    """The pid named in ``sweep.lock`` once one of ``pids`` holds it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = lock_file.read_text() if lock_file.exists() else ""
        match = re.match(r"pid (\d+) ", text)
        if match and int(match.group(1)) in pids:
            return int(match.group(1))
        time.sleep(0.005)
    raise AssertionError(f"no sweep took the lock within {timeout} s")


def test_second_sweep_on_the_same_store_is_refused_with_the_holder(tmp_path, helpers) -> None:
    out = tmp_path / "out"
    args = ("run", *helpers.SMALL_SWEEP, "--out", out)
    procs = {p.pid: p for p in (_start(args, tmp_path), _start(args, tmp_path))}
    holder_pid = _wait_for_holder(out / "sweep.lock", set(procs))
    os.kill(holder_pid, signal.SIGSTOP)
    try:
        (other,) = [p for pid, p in procs.items() if pid != holder_pid]
        _, err = other.communicate(timeout=120)
    finally:
        os.kill(holder_pid, signal.SIGCONT)
    holder_out, holder_err = procs[holder_pid].communicate(timeout=120)

    assert procs[holder_pid].returncode == 0, holder_err
    assert "results:" in holder_out
    assert other.returncode == 2, err
    assert err.count("\n") == 1 and err.startswith("uncertainty-lr: error: "), err
    assert "is in use by" in err and f"pid {holder_pid} on {socket.gethostname()}" in err, err
    assert "uncertainty_lr" in err and f"--out {out}" in err, err  # the holder's command
    assert "Traceback" not in err

    _assert_each_row_once(out, helpers)
    # The lock went with its holder: the same command runs again, skipping every run.
    again = helpers.cli(*args, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    _assert_each_row_once(out, helpers)


def _assert_each_row_once(out, helpers) -> None:
    assert helpers.integrity(out / "results.sqlite") == "ok"
    conn = sqlite3.connect(out / "results.sqlite")
    try:
        runs = conn.execute("SELECT run_id, status, epochs_done FROM runs").fetchall()
        epochs = conn.execute("SELECT run_id, epoch FROM epochs").fetchall()
    finally:
        conn.close()
    assert len(runs) == 4 and {(s, n) for _, s, n in runs} == {("done", 3)}, runs
    assert len(epochs) == len(set(epochs)) == 4 * 3

"""Helpers for the reliability suite: run the real CLI in a subprocess, read a store back.

Every sweep here is the tiny embedded-digits problem (300 training images, batch 32), so
one subprocess costs about as much as importing torch. The helpers reach the tests as
fixtures (``--import-mode=importlib`` makes a conftest unimportable by name).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from uncertainty_lr.faults import COUNTS_ENV, FAULT_ENV

# Two schedules (one of them the uncertainty one) x two seeds x three epochs = 4 runs.
SMALL_SWEEP = ("--problem", "digits_mlp", "--schedule", "constant", "uncertainty",
               "--seeds", "0", "1", "--epochs", "3", "--train-size", "300", "--batch-size", "32",
               "--threads", "1", "--quiet", "--no-report")  # fmt: skip
# Columns that measure time: they differ between any two runs, resumed or not.
TIMING = frozenset({"train_time", "eval_time", "wall_time"})


def cli(*args, cwd: Path, env: dict | None = None, timeout: float = 120):
    """``python -m uncertainty_lr ARGS`` in a fresh interpreter; the CompletedProcess.

    ``env`` adds to this process's environment, which loses any fault variables first.
    """
    full_env = {k: v for k, v in os.environ.items() if k not in (FAULT_ENV, COUNTS_ENV)}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "uncertainty_lr", *map(str, args)],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def folder_checksums(folder: Path) -> dict[str, str]:
    """{relative path: sha256} of every file under ``folder``."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def integrity(db: Path) -> str:
    """``PRAGMA integrity_check`` of a SQLite file, read with a plain sqlite3 connection."""
    conn = sqlite3.connect(db)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


def snapshot(out: Path) -> dict[str, dict]:
    """run_id -> {status, test, epochs: [non-timing metrics per epoch]} of a store."""
    from uncertainty_lr.experiments.store import Store

    with Store(out, create=False) as store:
        runs = {}
        for run in store.runs():
            epochs = [
                {k: v for k, v in row.items() if k not in TIMING}
                for row in store.epochs(run["run_id"])
            ]
            runs[run["run_id"]] = {
                "label": f"{run['schedule']}/seed {run['seed']}",
                "status": run["status"],
                "epochs_done": run["epochs_done"],
                "test": run["test"],
                "test_columns": tuple(run[f"test_{k}"] for k in ("accuracy", "loss", "f1", "ece")),
                "epochs": epochs,
            }
    return runs


@pytest.fixture(scope="session")
def helpers():
    """The helper functions and constants of this file, as attributes."""
    from types import SimpleNamespace

    return SimpleNamespace(
        cli=cli,
        folder_checksums=folder_checksums,
        integrity=integrity,
        snapshot=snapshot,
        SMALL_SWEEP=SMALL_SWEEP,
        TIMING=TIMING,
    )

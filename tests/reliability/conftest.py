"""Helpers for the reliability suite: run the real CLI in a subprocess, read a store back,
mount a tiny or read-only file system.

Every sweep here is the tiny embedded-digits problem (300 training images, batch 32), so
one subprocess costs about as much as importing torch. The helpers reach the tests as
fixtures (``--import-mode=importlib`` makes a conftest unimportable by name).

Full and read-only disks are real where this user may mount file systems (root on a
Linux machine, as in CI): a tmpfs of a few hundred KB, a read-only bind mount. Where it
may not, those fixtures skip with the reason, and the tests that inject the same errno
at each write (``UNCERTAINTY_LR_FAULT=NAME:N:ENOSPC``) stand in.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from uncertainty_lr.faults import COUNTS_ENV, FAULT_ENV, SWEEP_POINTS

# Two schedules (one of them the uncertainty one) x two seeds x three epochs = 4 runs.
SMALL_SWEEP = ("--problem", "digits_mlp", "--schedule", "constant", "uncertainty",
               "--seeds", "0", "1", "--epochs", "3", "--train-size", "300", "--batch-size", "32",
               "--threads", "1", "--quiet", "--no-report")  # fmt: skip
# Its first run alone (constant, seed 0): the same run id, so the same numbers.
ONE_RUN = ("--problem", "digits_mlp", "--schedule", "constant", "--seeds", "0", "--epochs", "3",
           "--train-size", "300", "--batch-size", "32", "--threads", "1", "--quiet", "--no-report")  # fmt: skip
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


def survivor_problems(out: Path, reference: dict, epochs: int) -> list[str]:
    """Everything wrong with a store after a fault and a rerun, against an uninterrupted
    ``reference`` snapshot with the same run ids (empty = fine): integrity, stray files,
    runs missing or doubled, statuses, epoch rows, and every non-timing metric bit for bit.
    """
    problems = []
    if (ok := integrity(out / "results.sqlite")) != "ok":
        problems.append(f"integrity_check: {ok}")
    strays = [str(p.relative_to(out)) for p in out.rglob("*.tmp")]
    strays += [str(p.relative_to(out)) for p in (out / "checkpoints").glob("*")]
    if strays:
        problems.append(f"files left behind: {strays}")
    got = snapshot(out)
    if sorted(got) != sorted(reference):
        return [*problems, f"runs {sorted(got)} != reference {sorted(reference)}"]
    for run_id, run in got.items():
        ref, label = reference[run_id], run["label"]
        if run["status"] != "done":
            problems.append(f"{label}: status {run['status']}")
        numbers = [row["epoch"] for row in run["epochs"]]
        if numbers != list(range(1, epochs + 1)) or run["epochs_done"] != epochs:
            problems.append(f"{label}: epoch rows {numbers}, epochs_done {run['epochs_done']}")
        elif run["epochs"] != ref["epochs"]:
            diff = [
                (row["epoch"], k, row[k], ref_row.get(k))
                for row, ref_row in zip(run["epochs"], ref["epochs"])
                for k in row
                if row[k] != ref_row.get(k)
            ]
            problems.append(f"{label}: epoch metrics differ (epoch, key, got, want): {diff[:3]}")
        if (run["test"], run["test_columns"]) != (ref["test"], ref["test_columns"]):
            problems.append(f"{label}: test {run['test']} != reference {ref['test']}")
    return problems


def _root_command(*args: str) -> str | None:
    """Run a mount-type command; None on success, else why it failed (one line)."""
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"{args[0]}: {error}"
    return (
        None if done.returncode == 0 else " ".join(done.stderr.split()) or f"exit {done.returncode}"
    )


def unmount(target: Path) -> None:
    _root_command("umount", "-l", str(target))


def can_mount(folder: Path) -> bool:
    """Whether this user may mount a tmpfs (tried once, under ``folder``)."""
    target = folder / "mount_probe"
    target.mkdir(parents=True, exist_ok=True)
    if _root_command("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(target)):
        return False
    unmount(target)
    return True


@contextlib.contextmanager
def mounted_tmpfs(target: Path, size: str):
    """A tmpfs of ``size`` (e.g. "448k") at ``target``; pytest.skip when it cannot mount."""
    target.mkdir(parents=True, exist_ok=True)
    why = _root_command("mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(target))
    if why:
        pytest.skip(f"cannot mount a tmpfs here ({why}); the injected-errno tests stand in")
    try:
        yield target
    finally:
        unmount(target)


def resize_tmpfs(target: Path, size: str) -> None:
    """Grow (free space on) a tmpfs mounted by ``mounted_tmpfs``."""
    assert _root_command("mount", "-o", f"remount,size={size}", str(target)) is None


def fill(folder: Path, leave: int = 0) -> Path:
    """A file in ``folder`` taking all its file system's free space but ``leave`` bytes."""
    stat = os.statvfs(folder)
    filler = folder / "filler"
    filler.write_bytes(b"\0" * max(stat.f_bavail * stat.f_frsize - leave, 0))
    return filler


@contextlib.contextmanager
def read_only_view(source: Path, target: Path):
    """``source`` bind-mounted read-only at ``target``; pytest.skip when it cannot mount."""
    target.mkdir(parents=True, exist_ok=True)
    why = _root_command("mount", "--bind", str(source), str(target))
    if why:
        pytest.skip(f"cannot bind-mount here ({why}); the injected-errno tests stand in")
    try:
        why = _root_command("mount", "-o", "remount,ro,bind", str(target))
        if why:
            pytest.skip(f"cannot remount read-only here ({why})")
        yield target
    finally:
        unmount(target)


@contextlib.contextmanager
def read_only_file(path: Path):
    """``path`` made read-only for this user: chmod 0444, and for root (whom file modes do
    not stop) the immutable attribute; pytest.skip when neither holds."""
    mode = path.stat().st_mode
    path.chmod(0o444)
    immutable = os.geteuid() == 0
    try:
        if immutable and (why := _root_command("chattr", "+i", str(path))):
            pytest.skip(f"root ignores file modes and chattr +i failed ({why})")
        yield path
    finally:
        if immutable:
            _root_command("chattr", "-i", str(path))
        path.chmod(mode)


def output_checksums(folder: Path) -> dict[str, str]:
    """``folder_checksums`` with the report's "Generated <time>" stamp and store path, and the
    command's ``--out FOLDER``, blanked: two reports of one store into two folders agree."""
    sums = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            data = p.read_bytes()
            if p.suffix in (".md", ".html", ".csv"):
                data = re.sub(rb"Store: [^<\n]*?\. Generated [0-9T:+-]+\.", b"Store: -", data)
                data = re.sub(rb"--out [^\s|<,]+", b"--out -", data)
            sums[str(p.relative_to(folder))] = hashlib.sha256(data).hexdigest()
    return sums


@pytest.fixture(scope="session")
def sweep_reference(tmp_path_factory) -> dict:
    """The truth: ``SMALL_SWEEP`` run once without a fault: its folder (never modify it;
    copy it), its snapshot and how often it passed each fault point."""
    root = tmp_path_factory.mktemp("reference")
    counts_file = root / "counts.json"
    result = cli("run", *SMALL_SWEEP, "--out", root / "out", cwd=root,
                 env={COUNTS_ENV: str(counts_file)})  # fmt: skip
    assert result.returncode == 0, result.stderr
    counts = json.loads(counts_file.read_text())
    assert set(counts) == set(SWEEP_POINTS), counts
    return {"out": root / "out", "snapshot": snapshot(root / "out"), "counts": counts}


@pytest.fixture(scope="session")
def helpers():
    """The helper functions and constants of this file, as attributes."""
    from types import SimpleNamespace

    return SimpleNamespace(
        cli=cli,
        folder_checksums=folder_checksums,
        output_checksums=output_checksums,
        integrity=integrity,
        snapshot=snapshot,
        survivor_problems=survivor_problems,
        can_mount=can_mount,
        mounted_tmpfs=mounted_tmpfs,
        resize_tmpfs=resize_tmpfs,
        fill=fill,
        read_only_view=read_only_view,
        read_only_file=read_only_file,
        SMALL_SWEEP=SMALL_SWEEP,
        ONE_RUN=ONE_RUN,
        TIMING=TIMING,
    )

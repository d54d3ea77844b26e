"""SIGKILL a real sweep at seeded random points, rerun it, and find nothing lost or doubled.

Each scenario: a fresh folder; the CLI sweep started with ``UNCERTAINTY_LR_FAULT=POINT:N``
dies by SIGKILL on the N-th pass through POINT (mid-epoch, inside a checkpoint write,
inside or right after a database commit, at a run's start); the store must still pass
``PRAGMA integrity_check``; the same command rerun without the fault exits 0; then every
run is there exactly once, done, with exactly ``epochs`` epoch rows, no temporary or
stale checkpoint file is left, and every metric except the timing columns equals, bit
for bit, the uninterrupted reference sweep's.
"""

from __future__ import annotations

import errno
import json
import random
import signal
from pathlib import Path

import pytest

from uncertainty_lr import faults
from uncertainty_lr.faults import (
    COUNTS_ENV,
    FAULT_ENV,
    SWEEP_POINTS,
    fault_point,
    parse_plan,
)

EPOCHS = 3
RUNS = 4  # constant + uncertainty, seeds 0 and 1
RANDOM_KILLS = 10
# Chosen by hand on top of the random ones: the corners most likely to hide a bug.
EDGE_KILLS = (
    ("commit", 1),  # inside the transaction that creates the schema of a brand-new store
    ("after_commit", 7),  # just after the first run's finish_run commit, before its cleanup
    ("checkpoint", 8),  # the sweep's last checkpoint write, before the rename
)


@pytest.fixture(scope="module")
def reference(sweep_reference) -> dict:
    """The truth: the small sweep run once without a fault, plus pass counts."""
    return sweep_reference


def kill_plan(counts: dict[str, int]) -> list[tuple[str, int]]:
    """RANDOM_KILLS (point, N) pairs from random.Random(1234), every point at least once."""
    rng = random.Random(1234)
    plan = []
    for i in range(RANDOM_KILLS):
        point = SWEEP_POINTS[i % len(SWEEP_POINTS)]
        plan.append((point, rng.randint(1, counts[point])))
    return plan


def check_survivor(out: Path, reference: dict, helpers) -> list[str]:
    """Everything wrong with a rerun store, compared with the reference (empty = fine)."""
    return helpers.survivor_problems(out, reference["snapshot"], EPOCHS)


def test_plan_is_seeded_and_covers_every_point(reference) -> None:
    plan = kill_plan(reference["counts"])
    assert plan == kill_plan(reference["counts"])
    assert len(plan) >= 10 and len(set(plan + list(EDGE_KILLS))) == len(plan) + len(EDGE_KILLS)
    assert {point for point, _ in plan} == set(SWEEP_POINTS)
    counts = reference["counts"]
    # at least: 1 schema write + per run: start, one per epoch, finish
    assert counts["commit"] == counts["after_commit"] >= 1 + RUNS * (EPOCHS + 2)
    assert counts["run_start"] == RUNS and counts["checkpoint"] == RUNS * (EPOCHS - 1)


def test_sigkill_anywhere_then_rerun_loses_and_doubles_nothing(
    reference, tmp_path, helpers
) -> None:
    plan = kill_plan(reference["counts"]) + list(EDGE_KILLS)
    report, failed = [], 0
    for point, n in plan:
        out = tmp_path / f"{point}_{n}" / "out"
        out.parent.mkdir()
        sweep = ("run", *helpers.SMALL_SWEEP, "--out", out)
        killed = helpers.cli(*sweep, cwd=out.parent, env={FAULT_ENV: f"{point}:{n}"})
        problems = []
        if killed.returncode != -signal.SIGKILL:
            problems.append(f"fault run exited {killed.returncode}, not SIGKILL: {killed.stderr}")
        elif (out / "results.sqlite").exists() and helpers.integrity(
            out / "results.sqlite"
        ) != "ok":
            problems.append("store corrupt right after the kill")
        rerun = helpers.cli(*sweep, cwd=out.parent)
        if rerun.returncode != 0:
            problems.append(f"rerun exited {rerun.returncode}: {rerun.stderr.strip()[-300:]}")
        else:
            problems += check_survivor(out, reference, helpers)
        failed += bool(problems)
        report.append(f"{point}:{n}: " + ("survived" if not problems else "; ".join(problems)))
    assert failed == 0, f"{failed} of {len(plan)} kill points lost something:\n" + "\n".join(report)


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("epoch", "'epoch' must look like NAME:N with N a positive integer"),
        ("epoch:0", "'epoch:0' must look like NAME:N"),
        ("epoch:x", "'epoch:x' must look like NAME:N"),
        ("warp:3", "unknown fault point 'warp' in 'warp:3'; known: run_start, epoch"),
        ("epoch:1,epoch:2", "fault point 'epoch' is named twice"),
        ("epoch:1:boom", "unknown action 'boom' in 'epoch:1:boom'; known: sigkill, sigterm"),
    ],
)
def test_bad_fault_plan_is_one_clear_line(text, fragment) -> None:
    with pytest.raises(ValueError) as caught:
        parse_plan(text)
    assert fragment in str(caught.value) and "\n" not in str(caught.value)


def test_fault_plan_parses_several_points() -> None:
    assert parse_plan(" epoch:7, commit:3 ,") == {"epoch": (7, "sigkill"), "commit": (3, "sigkill")}
    assert parse_plan("file_write:2:ENOSPC,epoch:5:sigterm") == {
        "file_write": (2, "ENOSPC"),
        "epoch": (5, "sigterm"),
    }
    assert parse_plan("") == {}


def test_fault_point_raises_the_planned_errno(monkeypatch) -> None:
    monkeypatch.setenv(FAULT_ENV, "file_write:2:EROFS")
    faults.reset()
    try:
        fault_point("file_write")
        with pytest.raises(OSError) as caught:
            fault_point("file_write")
        assert caught.value.errno == errno.EROFS and "fault point file_write" in str(caught.value)
        fault_point("file_write")  # only the planned pass
    finally:
        monkeypatch.delenv(FAULT_ENV)
        faults.reset()


def test_fault_point_does_nothing_without_the_variable(monkeypatch) -> None:
    monkeypatch.delenv(FAULT_ENV, raising=False)
    monkeypatch.delenv(COUNTS_ENV, raising=False)
    faults.reset()
    try:
        for _ in range(1000):
            fault_point("epoch")
        assert faults._plan == {} and faults._counts == {}  # not even counted
    finally:
        faults.reset()


# One run that early stopping ends well before its 20 epochs (about 5 with these settings).
EARLY_SWEEP = ("--problem", "digits_mlp", "--schedule", "constant", "--seeds", "0",
               "--epochs", "20", "--early-stopping", "2", "--lr", "0.03", "--train-size", "300",
               "--batch-size", "32", "--threads", "1", "--quiet", "--no-report")  # fmt: skip


def _stop_epochs(out: Path) -> tuple:
    from uncertainty_lr.experiments.store import Store

    with Store(out, create=False) as store:
        (run,) = store.runs()
        return run["status"], run["stopped_epoch"], run["tested_epoch"], run["test"]


def test_sigkill_after_the_best_epoch_keeps_the_early_stopping_epochs(tmp_path, helpers) -> None:
    counts_file = tmp_path / "counts.json"
    ref = tmp_path / "reference"
    result = helpers.cli("run", *EARLY_SWEEP, "--out", ref, cwd=tmp_path,
                         env={COUNTS_ENV: str(counts_file)})  # fmt: skip
    assert result.returncode == 0, result.stderr
    status, stopped, tested, test = _stop_epochs(ref)
    assert status == "done" and tested is not None and tested + 1 < stopped < 20
    batches = json.loads(counts_file.read_text())["epoch"] // stopped
    # Mid-way through the epoch after the best one, and inside that epoch's checkpoint write:
    # the resumed run must restore the best weights it saved before the kill.
    for point, n in (("epoch", batches * tested + 2), ("checkpoint", tested + 1)):
        out = tmp_path / f"{point}_{n}"
        killed = helpers.cli("run", *EARLY_SWEEP, "--out", out, cwd=tmp_path,
                             env={FAULT_ENV: f"{point}:{n}"})  # fmt: skip
        assert killed.returncode == -signal.SIGKILL, (point, n, killed.stderr)
        rerun = helpers.cli("run", *EARLY_SWEEP, "--out", out, cwd=tmp_path)
        assert rerun.returncode == 0, rerun.stderr
        assert _stop_epochs(out) == (status, stopped, tested, test), (point, n)
        assert helpers.snapshot(out) == helpers.snapshot(ref)

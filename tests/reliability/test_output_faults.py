"""Faults while ``report`` and ``export`` write: kills at every write, full disks.

Each scenario starts from an output folder holding the previous report (or export) of
an older store, then writes the new one from the full store (the small sweep's):

- killed (SIGKILL, a forked child of this process) at each write, counted by the fault
  points: the store's file is byte-identical afterwards; the folder holds no file of the
  old set beside one of the new; ``report.html`` stands only beside a whole report; the
  same command run again gives exactly the new set and leaves no staging folder or
  temporary file behind;
- a full disk (``OSError(ENOSPC)`` injected at each write, and a real, filled tmpfs): one
  line, exit code 1, the previous files byte-identical, nothing left behind.

The first, a middle and the last of each kind of write run here; every write of the
report runs under ``-m slow``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
from pathlib import Path

import pytest

from uncertainty_lr import faults
from uncertainty_lr.cli import main
from uncertainty_lr.experiments.store import Store
from uncertainty_lr.faults import FAULT_ENV, OUTPUT_POINTS

KINDS = {  # command -> (extra arguments, the file that marks a whole set, or None)
    "report": ((), "report.html"),
    "export": ((), None),
}


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def command(kind: str, store: Path, target: Path) -> list[str]:
    return [kind, str(store), "--out", str(target)]


def pass_counts(argv: list[str]) -> dict[str, int]:
    """How often one clean run of ``argv`` (in this process) passes each output fault point."""
    os.environ[faults.COUNTS_ENV] = os.devnull
    faults.reset()
    try:
        assert main(argv) == 0
        return {name: faults._counts.get(name, 0) for name in OUTPUT_POINTS}
    finally:
        del os.environ[faults.COUNTS_ENV]
        faults.reset()


@pytest.fixture(scope="module")
def stores(tmp_path_factory, sweep_reference, helpers):
    """The full store, an older one (one run fewer), and for each kind the old and new
    output (checksums) and the fault-point counts of writing the new one."""
    root = tmp_path_factory.mktemp("output_faults")
    full, older = root / "full", root / "older"
    shutil.copytree(sweep_reference["out"], full)
    shutil.copytree(sweep_reference["out"], older)
    with Store(older) as store:
        store.delete_run(store.runs()[-1]["run_id"])
    found = {"full": full, "older": older, "root": root}
    for kind in KINDS:
        old, new = root / f"old_{kind}", root / f"new_{kind}"
        assert main(command(kind, older, old)) == 0
        shutil.copytree(old, new)  # written over the old set, as in every test below
        found[kind] = {
            "old_dir": old,
            "old": helpers.output_checksums(old),
            "counts": pass_counts(command(kind, full, new)),
            "new": helpers.output_checksums(new),
        }
        assert found[kind]["old"] != found[kind]["new"]
    return found


def mixing_problems(got: dict, old: dict, new: dict, marker: str | None) -> list[str]:
    """What is wrong with a folder seen between two writes of a set (empty = fine)."""
    seen = {k: v for k, v in got.items() if not any(p.startswith(".") for p in Path(k).parts)}
    only_old = sorted(k for k, v in seen.items() if old.get(k) == v != new.get(k))
    only_new = sorted(k for k, v in seen.items() if new.get(k) == v != old.get(k))
    foreign = sorted(k for k, v in seen.items() if v not in (old.get(k), new.get(k)))
    problems = []
    if foreign:
        problems.append(f"files of neither set: {foreign}")
    if only_old and only_new:
        problems.append(f"old {only_old} beside new {only_new}")
    if marker in seen:
        whole = old if seen[marker] == old[marker] else new
        if missing := sorted(set(whole) - set(seen)):
            problems.append(f"{marker} beside an incomplete set, missing {missing}")
    return problems


def kill_child(argv: list[str], plan: str) -> int:
    """``main(argv)`` in a forked child with fault ``plan``; its wait status."""
    pid = os.fork()
    if pid == 0:  # the child never returns into pytest
        code = 1
        try:
            os.environ[FAULT_ENV] = plan
            faults.reset()
            code = main(argv)
        finally:
            os._exit(code)
    return os.waitpid(pid, 0)[1]


def sample(count: int) -> list[int]:
    return sorted({1, (count + 1) // 2, count})


def kill_plans(counts: dict[str, int], every: bool) -> list[str]:
    """Every (point, N) a run passes; else one mid-way write and one mid-way move step
    (test_files kills the move at each of its steps)."""
    if every:
        return [f"{point}:{n}" for point in OUTPUT_POINTS for n in range(1, counts[point] + 1)]
    return [f"{point}:{(counts[point] + 1) // 2}" for point in OUTPUT_POINTS]


def check_kills(kind: str, stores, tmp_path, helpers, every: bool) -> None:
    marker = KINDS[kind][1]
    facts = stores[kind]
    store_sum = sha(stores["full"] / "results.sqlite")
    report = []
    for plan in kill_plans(facts["counts"], every):
        target = tmp_path / plan.replace(":", "_")
        shutil.copytree(facts["old_dir"], target)
        argv = command(kind, stores["full"], target)
        status = kill_child(argv, plan)
        problems = []
        if not (os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL):
            problems.append(f"not killed (wait status {status})")
        problems += mixing_problems(helpers.output_checksums(target), facts["old"], facts["new"], marker)  # fmt: skip
        if main(argv) != 0:
            problems.append("the rerun failed")
        elif (got := helpers.output_checksums(target)) != facts["new"]:
            problems.append(f"rerun left {sorted(set(got) ^ set(facts['new']))} / changed files")
        if sha(stores["full"] / "results.sqlite") != store_sum:
            problems.append("the store changed")
        report.append(f"{plan}: " + ("; ".join(problems) or "ok"))
    assert all(line.endswith(": ok") for line in report), "\n".join(report)


@pytest.fixture(autouse=True)
def no_faults(monkeypatch):
    monkeypatch.delenv(FAULT_ENV, raising=False)
    faults.reset()
    yield
    faults.reset()


def test_the_writes_are_counted(stores) -> None:
    for kind, files in (("export", 4), ("report", len(stores["report"]["new"]))):
        counts, old, new = stores[kind]["counts"], stores[kind]["old"], stores[kind]["new"]
        # every file staged once; then each old copy of a new name removed, each new one renamed in
        assert counts == {"file_write": files, "file_commit": files + len(old.keys() & new.keys())}, kind  # fmt: skip


def test_kill_at_every_write_of_export(stores, tmp_path, helpers) -> None:
    check_kills("export", stores, tmp_path, helpers, every=True)


def test_kill_at_writes_of_report(stores, tmp_path, helpers) -> None:
    check_kills("report", stores, tmp_path, helpers, every=False)


@pytest.mark.slow
def test_kill_at_every_write_of_report(stores, tmp_path, helpers) -> None:
    check_kills("report", stores, tmp_path, helpers, every=True)


def full_disk_problems(kind: str, stores, target: Path, plan: str, capfd, helpers) -> list[str]:
    """Run ``kind`` into ``target`` under fault ``plan`` (or a real full disk when empty)."""
    before = helpers.folder_checksums(target)
    if plan:
        os.environ[FAULT_ENV] = plan
        faults.reset()
    try:
        code = main(command(kind, stores["full"], target))
    finally:
        os.environ.pop(FAULT_ENV, None)
        faults.reset()
    out, err = capfd.readouterr()
    want = (f"uncertainty-lr: error: no space left on device: could not write {kind} folder "
            f"{target}; the files already there are untouched\n")  # fmt: skip
    problems = [] if code == 1 else [f"exit code {code}"]
    if err != want:
        problems.append(f"stderr {err!r}")
    if helpers.folder_checksums(target) != before:
        problems.append("the previous files changed (or strays were left)")
    return problems


@pytest.mark.parametrize("kind", list(KINDS))
def test_full_disk_at_writes_keeps_the_previous_files(kind, stores, tmp_path, capfd, helpers) -> None:  # fmt: skip
    count = stores[kind]["counts"]["file_write"]
    every = range(1, count + 1) if kind == "export" else sample(count)
    report = []
    for n in every:
        target = tmp_path / f"{kind}_{n}"
        shutil.copytree(stores[kind]["old_dir"], target)
        problems = full_disk_problems(kind, stores, target, f"file_write:{n}:ENOSPC", capfd, helpers)  # fmt: skip
        report.append(f"file_write:{n}: " + ("; ".join(problems) or "ok"))
    assert all(line.endswith(": ok") for line in report), "\n".join(report)


@pytest.mark.slow
def test_full_disk_at_every_write_of_report(stores, tmp_path, capfd, helpers) -> None:
    for n in range(1, stores["report"]["counts"]["file_write"] + 1):
        target = tmp_path / f"report_{n}"
        shutil.copytree(stores["report"]["old_dir"], target)
        assert not full_disk_problems("report", stores, target, f"file_write:{n}:ENOSPC", capfd, helpers), n  # fmt: skip


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_real_full_tmpfs_keeps_the_previous_files(kind, stores, tmp_path, capfd, helpers) -> None:  # fmt: skip
    with helpers.mounted_tmpfs(tmp_path / "disk", "2m") as disk:
        target = disk / kind
        shutil.copytree(stores[kind]["old_dir"], target)
        filler = helpers.fill(disk)
        assert not full_disk_problems(kind, stores, target, "", capfd, helpers)
        filler.unlink()  # space again: the same command now writes the new set
        assert main(command(kind, stores["full"], target)) == 0
        assert helpers.output_checksums(target) == stores[kind]["new"]

"""experiments.files: atomic single files, staged sets of files, refused writes named.

The staged move is killed (a forked child SIGKILLs itself through the fault points) at
every one of its steps; whatever moment the kill hits, the folder never shows a file of
the old set beside one of the new, and a present ``report.html`` means a whole set.
"""

from __future__ import annotations

import errno
import os
import signal
import sqlite3
from pathlib import Path

import pytest

from uncertainty_lr import faults
from uncertainty_lr.experiments.files import (
    OutputError,
    check_writable,
    staged_folder,
    write_csv,
    write_file,
    write_refusal,
)
from uncertainty_lr.faults import FAULT_ENV

OLD = {"a.csv": "old a", "figures/p.png": "old p", "report.md": "old md", "report.html": "old html"}
NEW = {"a.csv": "new a", "b.csv": "new b", "figures/p.png": "new p", "report.md": "new md",
       "report.html": "new html"}  # fmt: skip
MARKERS = ("report.md", "report.html")


@pytest.fixture(autouse=True)
def no_faults(monkeypatch):
    monkeypatch.delenv(FAULT_ENV, raising=False)
    faults.reset()
    yield
    faults.reset()


def put(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)


def contents(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): p.read_text() for p in folder.rglob("*") if p.is_file()}


def write_set(final: Path, files: dict[str, str]) -> None:
    with staged_folder(final, last=MARKERS) as staging:
        for name, text in files.items():
            write_file(staging / name, text)


def killed_at(final: Path, plan: str) -> int:
    """Run ``write_set(final, NEW)`` in a forked child with fault ``plan``; its wait status."""
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            os.environ[FAULT_ENV] = plan
            faults.reset()
            write_set(final, NEW)
        finally:
            os._exit(0)
    return os.waitpid(pid, 0)[1]


def test_write_file_replaces_atomically_and_cleans_up_on_error(tmp_path, monkeypatch) -> None:
    target = write_file(tmp_path / "sub" / "t.txt", "first")
    assert target.read_text() == "first" and oct(target.stat().st_mode & 0o777) == "0o644"
    monkeypatch.setenv(FAULT_ENV, "file_write:1:ENOSPC")
    faults.reset()
    with pytest.raises(OSError) as caught:
        write_file(target, "second")
    assert caught.value.errno == errno.ENOSPC
    assert target.read_text() == "first" and os.listdir(target.parent) == ["t.txt"]


def test_write_csv_writes_the_rows(tmp_path) -> None:
    path = write_csv(tmp_path / "t.csv", [["a", "b"], [1, "x,y"]])
    assert path.read_bytes() == b'a,b\r\n1,"x,y"\r\n'


def test_staged_set_replaces_the_old_set_and_removes_strays(tmp_path) -> None:
    final = tmp_path / "report"
    put(final, OLD)
    dead = final / ".staging-999999999-abcd"  # a killed writer's staging folder (no such pid)
    put(dead, {"x.csv": "half"})
    alive = final / f".staging-{os.getpid()}-beef"  # a live writer's: left alone
    alive.mkdir()
    put(final, {".a.csv.k2j3.tmp": "torn", "keep.txt": "user file"})
    write_set(final, NEW)
    assert contents(final) == {**NEW, "keep.txt": "user file"}
    assert not dead.exists() and alive.is_dir()


def test_nothing_written_means_nothing_created(tmp_path) -> None:
    final = tmp_path / "a" / "b"
    with pytest.raises(ValueError, match="bad argument"), staged_folder(final) as staging:
        raise ValueError("bad argument")
    assert not (tmp_path / "a").exists() and not staging.exists()
    with staged_folder(final):
        pass
    assert not (tmp_path / "a").exists()


@pytest.mark.parametrize("n", [1, 3, 5])
def test_a_full_disk_while_writing_leaves_the_old_set(tmp_path, monkeypatch, n) -> None:
    final = tmp_path / "report"
    put(final, OLD)
    monkeypatch.setenv(FAULT_ENV, f"file_write:{n}:ENOSPC")
    faults.reset()
    with pytest.raises(OutputError) as caught:
        write_set(final, NEW)
    assert str(caught.value) == (
        f"no space left on device: could not write output folder {final}; the files already "
        "there are untouched"
    )
    assert contents(final) == OLD and sorted(os.listdir(final)) == ["a.csv", "figures", "report.html", "report.md"]  # fmt: skip


def test_a_full_disk_in_a_new_folder_removes_the_folders_it_made(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(FAULT_ENV, "file_write:2:ENOSPC")
    faults.reset()
    with pytest.raises(OutputError):
        write_set(tmp_path / "new" / "report", NEW)
    assert os.listdir(tmp_path) == []


def test_a_kill_at_any_step_never_mixes_two_sets(tmp_path) -> None:
    # 5 staged writes, then 4 removals (old copies of new names) and 5 renames
    steps = [f"file_write:{n}" for n in range(1, 6)] + [f"file_commit:{n}" for n in range(1, 10)]
    for plan in steps:
        final = tmp_path / plan.replace(":", "_") / "report"
        put(final, OLD)
        status = killed_at(final, plan)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, (plan, status)
        seen = {k: v for k, v in contents(final).items() if not k.startswith(".")}
        old = {k for k, v in seen.items() if OLD.get(k) == v}
        new = {k for k, v in seen.items() if NEW.get(k) == v}
        assert old | new == set(seen) and not (old and new), (plan, seen)
        if "report.html" in seen:  # the marker stands only beside a whole set
            assert seen in (OLD, NEW), (plan, seen)
        if plan.startswith("file_write"):
            assert seen == OLD, plan
        write_set(final, NEW)  # the rerun: the new set, and the killed one's strays gone
        assert contents(final) == NEW, plan
    assert os.WIFEXITED(killed_at(tmp_path / "clean", "file_commit:10"))  # no 10th step


@pytest.mark.parametrize(
    "error, cause",
    [
        (OSError(errno.ENOSPC, "No space left on device"), "no space left on device"),
        (OSError(errno.EDQUOT, "Disk quota exceeded"), "disk quota exceeded"),
        (OSError(errno.EROFS, "Read-only file system"), "read-only file system"),
        (sqlite3.OperationalError("database or disk is full"), "no space left on device"),
        (
            sqlite3.OperationalError("attempt to write a readonly database"),
            "read-only results store",
        ),  # fmt: skip
        (OSError(errno.EACCES, "Permission denied"), None),
        (ValueError("bad"), None),
    ],
)
def test_write_refusal_names_the_cause(error, cause) -> None:
    assert write_refusal(error) == cause


def test_write_refusal_sees_through_torchs_wrapper() -> None:
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError:
            message = "[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598"
            raise RuntimeError(message)  # noqa: B904 - the shape torch gives it
    except RuntimeError as wrapped:
        assert write_refusal(wrapped) == "no space left on device"


def test_check_writable_refuses_a_file_and_a_path_under_a_file(tmp_path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(ValueError, match="output folder .*f exists and is not a folder"):
        check_writable(tmp_path / "f")
    with pytest.raises(ValueError, match="cannot be created: .*f is not a folder"):
        check_writable(tmp_path / "f" / "sub", hint="; elsewhere")
    assert check_writable(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"

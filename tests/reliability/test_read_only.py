"""Read-only stores: ``run`` refuses them up front; ``report`` and ``export`` read them.

Two shapes: a whole folder on a read-only file system (a read-only bind mount of a
finished sweep), and a writable folder whose ``results.sqlite`` is read-only (chmod 0444,
plus the immutable attribute for root, whom file modes do not stop). In both the store's
files are byte-identical afterwards. ``run`` exits 2 in one line before any work;
``report`` / ``export`` read the store (SQLite ``mode=ro``, or ``immutable=1`` on a
read-only file system) and write where there is room, or refuse in one line that says
how to write elsewhere.
"""

from __future__ import annotations

import shutil
import sqlite3

import pytest

from uncertainty_lr import faults
from uncertainty_lr.cli import main
from uncertainty_lr.faults import FAULT_ENV


@pytest.fixture
def finished(tmp_path, sweep_reference, helpers):
    """A copy of the small finished sweep and the checksums of its files."""
    folder = tmp_path / "finished"
    shutil.copytree(sweep_reference["out"], folder)
    return folder, helpers.folder_checksums(folder)


def refused(argv, capfd, code: int = 2) -> str:
    """Run the CLI in-process; assert exit ``code`` and one stderr line; return the line."""
    got = main([str(a) for a in argv])
    out, err = capfd.readouterr()
    assert got == code and err.count("\n") == 1 and err.startswith("uncertainty-lr: error: "), (got, out, err)  # fmt: skip
    return err.strip().removeprefix("uncertainty-lr: error: ")


def test_a_store_on_a_read_only_file_system(finished, tmp_path, capfd, helpers) -> None:
    source, before = finished
    with helpers.read_only_view(source, tmp_path / "view") as view:
        line = refused(["run", *helpers.ONE_RUN, "--out", view], capfd)
        assert line == f"output folder {view} is on a read-only file system"
        line = refused(["report", view], capfd)
        assert line == (f"report folder {view / 'report'} is on a read-only file system; write "
                        "it elsewhere (report --out FOLDER)")  # fmt: skip
        line = refused(["export", view], capfd)
        assert line == (f"export folder {view} is on a read-only file system; pass another "
                        "folder (export --out FOLDER)")  # fmt: skip
        assert main(["report", str(view), "--out", str(tmp_path / "report")]) == 0
        assert main(["export", str(view), "--out", str(tmp_path / "tables")]) == 0
    assert (tmp_path / "report" / "report.html").is_file()
    runs = (tmp_path / "tables" / "runs.csv").read_text().splitlines()
    assert len(runs) == 1 + 4  # the header and the sweep's four runs
    assert helpers.folder_checksums(source) == before


def test_a_read_only_file_system_hiding_unmerged_writes_is_refused(finished, tmp_path, capfd, helpers) -> None:  # fmt: skip
    """A copy taken mid-sweep: writes still in results.sqlite-wal, no -shm to read them by."""
    source, _ = finished
    writer = sqlite3.connect(source / "results.sqlite")
    writer.execute("PRAGMA wal_autocheckpoint = 0")  # keep the write in the -wal file
    writer.execute("INSERT INTO meta (key, value) VALUES ('note', 'not merged yet')")
    writer.commit()
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("results.sqlite", "results.sqlite-wal"):
        shutil.copy(source / name, copy / name)
    writer.close()
    with helpers.read_only_view(copy, tmp_path / "view") as view:
        line = refused(["export", view, "--out", tmp_path / "tables"], capfd)
    assert line == (f"results store {view / 'results.sqlite'} has writes in results.sqlite-wal "
                    "that SQLite cannot read on a read-only file system; copy the folder "
                    "somewhere writable and read the copy")  # fmt: skip


def test_a_read_only_store_file(finished, tmp_path, capfd, helpers) -> None:
    source, before = finished
    with helpers.read_only_file(source / "results.sqlite"):
        line = refused(["run", *helpers.ONE_RUN, "--out", source], capfd)
        assert line == (f"results store file {source / 'results.sqlite'} is read-only; make "
                        "it writable or pass another --out")  # fmt: skip
        assert helpers.folder_checksums(source) == before  # not even SQLite's -shm file
        assert main(["report", str(source)]) == 0  # the folder is writable: report/ goes there
        assert main(["export", str(source), "--out", str(tmp_path / "tables")]) == 0
        capfd.readouterr()
    assert (source / "report" / "report.html").is_file()
    after = helpers.folder_checksums(source)
    assert {k: after[k] for k in before} == before


def test_a_folder_that_turns_read_only_mid_report_keeps_the_old_report(finished, monkeypatch, capfd, helpers) -> None:  # fmt: skip
    """The same refusal part-way (injected EROFS at the first file): exit 1, one line."""
    source, _ = finished
    assert main(["report", str(source)]) == 0
    before = helpers.folder_checksums(source)
    capfd.readouterr()
    monkeypatch.setenv(FAULT_ENV, "file_write:1:EROFS")
    faults.reset()
    try:
        line = refused(["report", source], capfd, code=1)
    finally:
        monkeypatch.delenv(FAULT_ENV)
        faults.reset()
    assert line == (f"read-only file system: could not write report folder {source / 'report'}; "
                    "the files already there are untouched")  # fmt: skip
    assert helpers.folder_checksums(source) == before

"""Output files that survive a kill, a full disk and a read-only folder.

- ``write_file(path, data)`` (and ``write_csv``): one file, written to a temporary name beside it, fsynced and
  renamed into place, so a reader sees the old file or the new one, never half of one.
- ``staged_folder(final, last=...)``: a set of files (a report, an export) written into a
  hidden staging folder inside ``final`` and then moved into place together. Until the
  move starts ``final`` holds its previous files untouched, so a full disk or a kill while
  writing costs nothing. The move removes the previous copies first (``last``, the files
  that say a set is complete, before the others), then renames the new ones in (``last``
  after the others): at no moment does a file of the old set sit beside one of the new, and
  a present ``report.html`` means every other file beside it belongs to the same report.
  Staging folders and temporary files a killed process left behind are removed by the
  next move into the same folder.
- ``write_refusal(error)``: "no space left on device" and the like when the file system
  refused a write (also through SQLite's and torch's wrappers of that error), else None.
- ``check_writable(folder)``: refuse an output folder that cannot be written, up front.

No torch; imports only ``faults``.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import fcntl
import io
import os
import re
import secrets
import shutil
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from uncertainty_lr.faults import fault_point

STAGING_PREFIX = ".staging-"
_STAGING_NAME = re.compile(re.escape(STAGING_PREFIX) + r"(\d+)-[0-9a-f]+")
#: errno -> what the user is told.
REFUSED_ERRNOS = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
}
#: SQLite reports the same refusals in its own words (SQLITE_FULL, SQLITE_READONLY).
_SQLITE_REFUSALS = {
    "database or disk is full": "no space left on device",
    "attempt to write a readonly database": "read-only results store",
}


class OutputError(Exception):
    """A write the file system refused part-way (full, over quota, read-only); one line.

    The command line exits 1 with it; nothing finished before it is lost.
    """


def write_refusal(error: BaseException | None) -> str | None:
    """The refusal behind ``error`` ("no space left on device", ...), or None.

    Follows ``__cause__`` / ``__context__``: torch reports a full disk while saving as a
    RuntimeError raised while handling the OSError(ENOSPC), SQLite as its own error.
    """
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in REFUSED_ERRNOS:
            return REFUSED_ERRNOS[error.errno]
        if isinstance(error, sqlite3.Error):
            for text, cause in _SQLITE_REFUSALS.items():
                if text in str(error):
                    return cause
        error = error.__cause__ or error.__context__
    return None


def _read_only_fs(path: Path) -> bool:
    return bool(os.statvfs(path).f_flag & os.ST_RDONLY)


def check_writable(folder: str | Path, what: str = "output folder", hint: str = "") -> Path:
    """``folder``, if it exists and is writable or can be created; else one-line ValueError.

    ``what`` names the folder in the message; ``hint`` is appended to a refusal (say how
    to write elsewhere).
    """
    out = Path(folder).expanduser()
    if out.exists() and not out.is_dir():
        raise ValueError(f"{what} {out} exists and is not a folder")
    probe = out
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise ValueError(f"{what} {out} cannot be created: {probe} is not a folder")
    if _read_only_fs(probe):
        raise ValueError(f"{what} {out} is on a read-only file system{hint}")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ValueError(f"{what} {out} is not writable (no write permission on {probe}){hint}")
    return out


def fsync_path(path: Path) -> None:
    """fsync a file or a folder (a rename is only durable once its folder entry is on disk)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_file(path: str | Path, data: bytes | str) -> Path:
    """Write ``data`` (text as UTF-8) to ``path`` atomically; create the folder; return path.

    The bytes go to ``.NAME.XXXX.tmp`` beside ``path``, are fsynced, and the temporary file
    is renamed over ``path`` (removed again on any error, e.g. a full disk).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; reports and tables are meant to be shared
        fault_point("file_write")  # a kill here leaves the old file and a stray .tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_csv(path: str | Path, rows: Iterable[Sequence[object]]) -> Path:
    """Write ``rows`` (the header first) as UTF-8 CSV to ``path`` with ``write_file``."""
    text = io.StringIO(newline="")
    csv.writer(text).writerows(rows)
    return write_file(path, text.getvalue())


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive flock on ``folder`` itself: two moves into it never interleave."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing drops the lock


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def _remove_strays(final: Path, names: Sequence[Path]) -> None:
    """Staging folders of dead processes and ``.NAME.*.tmp`` files of ``names`` in ``final``."""
    for child in final.iterdir():
        match = _STAGING_NAME.fullmatch(child.name)
        if match and child.is_dir() and not _pid_alive(int(match.group(1))):
            shutil.rmtree(child, ignore_errors=True)
    for rel in names:
        folder = final / rel.parent
        for stray in folder.glob(f".{glob_escape(rel.name)}.*.tmp"):
            stray.unlink(missing_ok=True)


def glob_escape(name: str) -> str:
    """``name`` with glob's special characters taken literally."""
    return re.sub(r"([*?\[])", r"[\1]", name)


def _commit(staging: Path, final: Path, last: Sequence[str], touched: list[bool]) -> None:
    """Move every file of ``staging`` into ``final``: old copies out, then new ones in.

    ``touched`` gets True appended once ``final`` starts to change."""
    files = sorted(p.relative_to(staging) for p in staging.rglob("*") if p.is_file())
    markers = [Path(name) for name in last if Path(name) in files]
    order = [rel for rel in files if rel not in markers] + markers
    for rel in files:  # on disk before any old file goes: a crash after this loses nothing
        fsync_path(staging / rel)
    with _folder_lock(final):
        for rel in reversed(order):  # the markers first: no marker beside a partial set
            if (final / rel).is_file() or (final / rel).is_symlink():
                fault_point("file_commit")
                touched.append(True)
                (final / rel).unlink()
        folders = {final}
        for rel in order:
            (final / rel).parent.mkdir(parents=True, exist_ok=True)
            folders.add((final / rel).parent)
            fault_point("file_commit")
            touched.append(True)
            os.replace(staging / rel, final / rel)
        for folder in folders:
            fsync_path(folder)
        _remove_strays(final, order)
    shutil.rmtree(staging, ignore_errors=True)


@contextlib.contextmanager
def staged_folder(final: str | Path, last: Sequence[str] = (), what: str = "output folder",
                  hint: str = "") -> Iterator[Path]:  # fmt: skip
    """Yield a staging folder to write a set of files into; move them into ``final`` after.

    ``last``: file names (relative to ``final``) moved in after all others and taken out
    before them, e.g. ``("report.md", "report.html")``. ``final`` is checked up front
    (``check_writable(final, what, hint)``: ValueError) and created only when something
    is written. On any error the staging folder goes, ``final`` keeps its previous files,
    and a refused write (full disk, read-only) is raised as ``OutputError``.
    """
    final = check_writable(final, what, hint)
    missing = final
    while not missing.parent.exists():
        missing = missing.parent
    created = None if missing.exists() else missing  # the top folder this call may create
    staging = final / f"{STAGING_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
    touched: list[bool] = []
    try:
        yield staging
        if staging.is_dir():
            _commit(staging, final, last, touched)
    except BaseException as error:
        shutil.rmtree(staging, ignore_errors=True)
        if created is not None:
            _remove_empty(final, created)
        cause = write_refusal(error)
        if cause is not None and not isinstance(error, OutputError):
            kept = ("part of the previous files there are gone; run the command again"
                    if touched else "the files already there are untouched")  # fmt: skip
            raise OutputError(f"{cause}: could not write {what} {final}; {kept}") from error
        raise


def _remove_empty(folder: Path, top: Path) -> None:
    """Remove ``folder`` and its parents up to ``top`` while they are empty."""
    while True:
        try:
            folder.rmdir()
        except OSError:
            return
        if folder == top:
            return
        folder = folder.parent

"""The read side of the results store: ``StoreReader`` opens ``results.sqlite`` read-only.

Reports, exports, tuning picks and the CLI's look-ups read through it; ``store.Store``
(the write side) is a ``StoreReader`` with a read-write connection. No torch.

A reader never writes, and reads beside a running sweep (WAL: it sees whole committed
transactions). A store it could write is opened ``mode=rw`` with ``query_only``: as the
last connection to close, it then removes the ``-wal`` / ``-shm`` files as a writer does,
where a ``mode=ro`` connection would leave them behind. A read-only store file or folder
is opened ``mode=ro``. On a read-only file system SQLite cannot create the ``-shm`` index
a WAL reader needs, so the reader falls back to ``immutable=1`` there (no writer can be
changing the file), unless ``results.sqlite-wal`` still holds writes the main file lacks,
which ``immutable`` would not see: that is refused with a line saying to copy the folder.

``snapshot()`` is one read transaction: every read inside it sees the same committed
state, so runs and epochs read one after the other agree even while a sweep writes.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

DB_NAME = "results.sqlite"
SCHEMA_VERSION = 1
BUSY_TIMEOUT_S = 30.0

RUN_STATUSES = ("running", "done", "diverged", "failed")
FINAL_STATUSES = ("done", "diverged", "failed")
# Columns added to `runs` since schema version 1 first shipped. An older store gets them
# (NULL for its old runs) when opened for writing and reads them as NULL when opened
# read-only; the version stays 1, as an older package reads the wider table unchanged.
ADDED_RUN_COLUMNS = (("stopped_epoch", "INTEGER"), ("tested_epoch", "INTEGER"))


def is_finished(run: dict | None) -> bool:
    """Whether a run row (``get_run``) is one a rerun skips: done or diverged."""
    return run is not None and run["status"] in ("done", "diverged")


def _folder_writable(folder: Path) -> bool:
    return not os.statvfs(folder).f_flag & os.ST_RDONLY and os.access(folder, os.W_OK)


def connect_read_only(path: Path) -> sqlite3.Connection:
    """An autocommit connection to the SQLite file ``path`` that never writes (module doc).

    Raises sqlite3.Error when the file cannot be read, ValueError when a read-only file
    system hides writes still in its ``-wal`` file.
    """
    uri = path.resolve().as_uri()
    writable = _folder_writable(path.parent) and os.access(path, os.W_OK)
    conn = sqlite3.connect(f"{uri}?mode={'rw' if writable else 'ro'}", uri=True,
                           timeout=BUSY_TIMEOUT_S, isolation_level=None)  # fmt: skip
    try:
        if writable:
            conn.execute("PRAGMA query_only = ON")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # opens the file now
        return conn
    except sqlite3.OperationalError:
        conn.close()
        if _folder_writable(path.parent):
            raise
    wal = path.with_name(path.name + "-wal")
    if wal.is_file() and wal.stat().st_size > 0:
        raise ValueError(
            f"results store {path} has writes in {wal.name} that SQLite cannot read on a "
            "read-only file system; copy the folder somewhere writable and read the copy"
        )
    conn = sqlite3.connect(f"{uri}?immutable=1", uri=True, isolation_level=None)
    conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    return conn


def store_exists(out_dir: str | Path) -> bool:
    """Whether ``out_dir`` holds a results store to read.

    False without ``results.sqlite``, and for a file with no tables at all: the store of
    a process killed while creating it, before its schema committed, which
    ``Store(out_dir)`` completes. Any other file counts, so opening it reports what is
    wrong with it.
    """
    path = Path(out_dir) / DB_NAME
    if not path.is_file():
        return False
    try:
        with contextlib.closing(connect_read_only(path)) as conn:
            return conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] > 0
    except (sqlite3.DatabaseError, ValueError):
        return True


class StoreReader:
    """The results store in ``out_dir`` (``out_dir/results.sqlite``), opened read-only.

    Raises ``ValueError`` when there is no store there or it is not one. Use one per
    process; close it (or use it as a context manager) when done.
    """

    def __init__(self, out_dir: str | Path) -> None:
        self._locate(out_dir, must_exist=True)
        try:
            self._conn = connect_read_only(self.path)
        except sqlite3.DatabaseError as error:
            raise self._unusable(error) from None
        self._set_up(self._read_rows)

    def _read_rows(self) -> None:
        self._conn.row_factory = sqlite3.Row
        self._check_schema(create=False)

    def _set_up(self, set_up: Callable[[], None]) -> None:
        """Run ``set_up()`` on the new connection; if it fails, close the connection and
        raise ValueError (a SQLite error: the file is not a usable store)."""
        try:
            set_up()
        except sqlite3.DatabaseError as error:
            self._conn.close()
            raise self._unusable(error) from None
        except ValueError:
            self._conn.close()
            raise

    def _unusable(self, error: sqlite3.DatabaseError) -> ValueError:
        return ValueError(f"{self.path} is not a usable SQLite results store: {error}")

    def _locate(self, out_dir: str | Path, must_exist: bool) -> None:
        """Set ``out_dir`` and ``path`` (its results.sqlite); ValueError if ``must_exist``
        and there is none."""
        self.out_dir = Path(out_dir)
        self.path = self.out_dir / DB_NAME
        if must_exist and not self.path.is_file():
            raise ValueError(f"no results store in {self.out_dir}")

    def _has_meta(self) -> bool:
        return bool(
            self._conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
            ).fetchone()
        )

    def _check_schema(self, create: bool) -> None:
        """ValueError unless the store has the meta table (or may get it) at our version."""
        if not create and not self._has_meta():
            raise ValueError(f"{self.path} is not an uncertainty-lr results store (no meta table)")
        row = self._conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        version = row["value"] if row else None
        if version != str(SCHEMA_VERSION):
            raise ValueError(
                f"results store {self.path} has schema version {version}; this uncertainty-lr "
                f"reads version {SCHEMA_VERSION} only (use the package version that wrote it)"
            )

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.out_dir)!r})"

    def close(self) -> None:
        """Close the connection (idempotent)."""
        self._conn.close()

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """One read transaction: every read inside sees the same committed state.

        Nested use joins the outer transaction. No writes inside (``Store``'s writes take
        their own transaction).
        """
        if self._conn.in_transaction:
            yield
            return
        self._conn.execute("BEGIN")
        try:
            yield
        finally:
            self._conn.execute("COMMIT")  # ends the read; there is nothing to write

    def get_run(self, run_id: str) -> dict | None:
        """The run's row as a dict (config/test/hardware decoded), or None if unknown."""
        row = self._conn.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return None if row is None else _decode_run(row)

    def runs(self, status: str | None = None) -> list[dict]:
        """All runs (or those with ``status``) in the order first started, JSON decoded."""
        if status is None:
            rows = self._conn.execute("SELECT * FROM runs ORDER BY rowid").fetchall()
        elif status in RUN_STATUSES:
            rows = self._conn.execute(
                "SELECT * FROM runs WHERE status = ? ORDER BY rowid", (status,)
            ).fetchall()
        else:
            raise ValueError(f"status must be one of {', '.join(RUN_STATUSES)}, got {status!r}")
        return [_decode_run(row) for row in rows]

    def meta(self, prefix: str = "") -> dict[str, str]:
        """Meta entries whose key starts with ``prefix`` (all when empty), sorted by key."""
        rows = self._conn.execute("SELECT key, value FROM meta ORDER BY key").fetchall()
        return {row["key"]: row["value"] for row in rows if row["key"].startswith(prefix)}

    def epochs(self, run_id: str | None = None) -> list[dict]:
        """Epoch rows (all runs, or one) ordered by run_id, epoch, with ``extra`` merged in.

        Each dict has run_id, epoch, every ``EPOCH_COLUMNS`` key (None when not logged)
        and the extra keys of that row.
        """
        if run_id is None:
            rows = self._conn.execute("SELECT * FROM epochs ORDER BY run_id, epoch").fetchall()
        else:
            rows = self._conn.execute(
                "SELECT * FROM epochs WHERE run_id = ? ORDER BY epoch", (run_id,)
            ).fetchall()
        out = []
        for row in rows:
            item = dict(zip(row.keys(), tuple(row), strict=True))
            extra = item.pop("extra")
            if extra:
                item.update(json.loads(extra))
            out.append(item)
        return out


def _decode_run(row: sqlite3.Row) -> dict:
    item = dict(zip(row.keys(), tuple(row), strict=True))
    for name, _ in ADDED_RUN_COLUMNS:  # an older store opened read-only lacks them
        item.setdefault(name, None)
    for key in ("config", "test", "hardware"):
        if item[key] is not None:
            item[key] = json.loads(item[key])
    return item

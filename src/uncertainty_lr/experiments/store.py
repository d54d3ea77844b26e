"""Crash-safe results store: one SQLite file, ``results.sqlite``, in an output folder.

Training writes to it; statistics and reports read it (``store_reader.StoreReader``, the
read side, which ``Store`` extends with the writes). This module imports no torch, so
readers stay light. Two tables hold everything:

- ``runs``: one row per run (problem x schedule x seed x config) with its status
  (running / done / diverged / failed), test metrics, versions and timing.
- ``epochs``: one row per (run, epoch) with the fixed metric columns of ``EPOCH_COLUMNS``
  plus an ``extra`` JSON column for any other key.

Durability: WAL journal, ``synchronous=FULL`` and one transaction per write, so a killed
process loses at most the write in flight and never corrupts the file. Two processes may
write to one store at once (different runs): SQLite serialises the writers and each waits
up to ``BUSY_TIMEOUT_S`` for the other.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from uncertainty_lr.checks import check_int, check_text, check_type
from uncertainty_lr.experiments.files import check_writable
from uncertainty_lr.experiments.lock import (  # noqa: F401 - part of the store's API
    LOCK_NAME,
    StoreLockedError,
    default_lock_owner,
    hold_lock,
)
from uncertainty_lr.experiments.records import (
    EPOCH_COLUMNS,
    Provenance,
    canonical_json,
    check_recordable,
    check_run_key,
    finite_or_none,
    hash_run_id,
    split_record,
)
from uncertainty_lr.experiments.store_reader import (  # noqa: F401 - part of the store's API
    ADDED_RUN_COLUMNS,
    BUSY_TIMEOUT_S,
    DB_NAME,
    FINAL_STATUSES,
    RUN_STATUSES,
    SCHEMA_VERSION,
    StoreReader,
    is_finished,
    store_exists,
)
from uncertainty_lr.faults import fault_point

# Test metrics copied out of the `test` JSON into their own columns for easy SQL.
TEST_COLUMNS = ("accuracy", "loss", "f1", "ece")
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, name TEXT, problem TEXT NOT NULL, schedule TEXT NOT NULL,
    seed INTEGER NOT NULL, config TEXT NOT NULL, status TEXT NOT NULL, error TEXT,
    epochs_done INTEGER NOT NULL DEFAULT 0, test TEXT, test_accuracy REAL, test_loss REAL,
    test_f1 REAL, test_ece REAL, wall_time REAL, version TEXT, git_sha TEXT, hardware TEXT,
    started_at TEXT, finished_at TEXT, stopped_epoch INTEGER, tested_epoch INTEGER
);
CREATE TABLE IF NOT EXISTS epochs (
    run_id TEXT NOT NULL, epoch INTEGER NOT NULL,
    {", ".join(f"{name} REAL" for name in EPOCH_COLUMNS)},
    extra TEXT, PRIMARY KEY (run_id, epoch)
);
"""


def _now() -> str:
    """UTC time as ISO 8601 with seconds, e.g. '2024-05-01T12:00:00+00:00'."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def check_store_writable(out_dir: str | Path) -> Path:
    """``out_dir`` if a sweep can write its store there, else one-line ValueError, up front.

    Refuses a folder that cannot be written (``files.check_writable``) and a store whose
    ``results.sqlite`` (or its ``-wal`` / ``-shm``) is read-only: SQLite would open it
    anyway and fail every write of every run.
    """
    out = check_writable(out_dir)
    for name in (DB_NAME, DB_NAME + "-wal", DB_NAME + "-shm"):
        path = out / name
        if path.exists() and not os.access(path, os.W_OK):
            raise ValueError(
                f"results store file {path} is read-only; make it writable or pass another --out"
            )
    return out


class Store(StoreReader):
    """The results store in ``out_dir`` (``out_dir/results.sqlite``), open for writing.

    ``create=True`` (default) makes the folder and database if missing; ``create=False``
    raises ``ValueError`` when there is no store there. Readers that never write use
    ``StoreReader``, which also reads a store on a read-only file system. Use one
    ``Store`` per process (a sqlite3 connection is not shared across processes).
    """

    def __init__(self, out_dir: str | Path, *, create: bool = True) -> None:
        self._locate(out_dir, must_exist=not create)
        if create:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN IMMEDIATE ourselves (see _write) so a
        # writer takes the write lock up front and waits on busy_timeout instead of
        # failing when it upgrades a read transaction that another writer overtook.
        self._conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        self._set_up(lambda: self._open(create))

    def _open(self, create: bool) -> None:
        conn = self._conn
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        if create and not self._has_meta():
            with self._write():
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(
                    "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
        self._check_schema(create)
        if create:
            self._add_missing_columns()

    def _add_missing_columns(self) -> None:
        """ALTER an older store up to ``ADDED_RUN_COLUMNS``; checked again under the write
        lock, since two processes may open the same old store at once."""
        if self._missing_columns():
            with self._write() as conn:
                for name, kind in self._missing_columns():
                    conn.execute(f"ALTER TABLE runs ADD COLUMN {name} {kind}")

    def _missing_columns(self) -> list[tuple[str, str]]:
        have = {row[1] for row in self._conn.execute("PRAGMA table_info(runs)")}
        return [(name, kind) for name, kind in ADDED_RUN_COLUMNS if name not in have]

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: BEGIN IMMEDIATE ... COMMIT, rolled back on any error."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            # SQLite may already have rolled back (e.g. on a full disk); don't mask the cause.
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise
        fault_point("commit")  # a kill inside the transaction: SQLite must roll it back
        self._conn.execute("COMMIT")
        fault_point("after_commit")

    # ----- runs -----------------------------------------------------------------

    @staticmethod
    def run_id(problem: str, schedule: str, seed: int, config: dict) -> str:
        """The run id of these four inputs (`records.hash_run_id`)."""
        return hash_run_id(problem, schedule, seed, config)

    def start_run(
        self,
        run_id: str,
        *,
        problem: str,
        schedule: str,
        seed: int,
        config: dict,
        provenance: Provenance | None = None,
        **fields: Any,
    ) -> None:
        """Insert the run as 'running', or resume it if it exists as running/failed.

        ``provenance`` (`records.Provenance`: name, hardware, version, git SHA; its fields
        may be given by name instead) is recorded with it. A resume marks it running
        again, clears the error and refreshes config and provenance (the machine may
        differ). A run already finished ('done' / 'diverged') raises ValueError: skip it,
        or ``delete_run`` to redo it.
        """
        provenance = dataclasses.replace(provenance or Provenance(), **fields)
        name, version, git_sha = provenance.name, provenance.version, provenance.git_sha
        hardware = provenance.hardware
        check_text("run_id", run_id)
        check_run_key(problem, schedule, seed, config)
        config_json = canonical_json(config)
        hardware_json = None if hardware is None else canonical_json(hardware)
        with self._write() as conn:
            row = conn.execute(
                "SELECT problem, schedule, seed, status FROM runs WHERE run_id = ?", (run_id,)
            ).fetchone()
            if row is None:
                conn.execute(
                    "INSERT INTO runs (run_id, name, problem, schedule, seed, config, status, "
                    "epochs_done, version, git_sha, hardware, started_at) VALUES "
                    "(?, ?, ?, ?, ?, ?, 'running', 0, ?, ?, ?, ?)",
                    (run_id, name, problem, schedule, seed, config_json, version, git_sha,
                     hardware_json, _now()),
                )  # fmt: skip
                return
            for key, new in (("problem", problem), ("schedule", schedule), ("seed", seed)):
                if row[key] != new:
                    raise ValueError(f"run {run_id} is for {key} {row[key]!r}, not {new!r}")
            if row["status"] not in ("running", "failed"):
                raise ValueError(
                    f"run {run_id} already finished with status {row['status']!r}; "
                    "skip it or delete_run it to run again"
                )
            conn.execute(
                "UPDATE runs SET status = 'running', error = NULL, finished_at = NULL, "
                "name = ?, config = ?, hardware = ?, version = ?, git_sha = ? WHERE run_id = ?",
                (name, config_json, hardware_json, version, git_sha, run_id),
            )

    def finish_run(
        self,
        run_id: str,
        status: str,
        test: dict[str, float | None] | None = None,
        error: str | None = None,
        wall_time: float | None = None,
        stopped_epoch: int | None = None,
        tested_epoch: int | None = None,
    ) -> None:
        """Close a run with status 'done', 'diverged' or 'failed'.

        ``test`` maps metric names to numbers (non-finite -> NULL); 'accuracy', 'loss',
        'f1', 'ece' (or the same with a 'test_' prefix) also fill the test_* columns.
        ``wall_time`` is in seconds. ``stopped_epoch`` is the last epoch trained (1-based;
        below the budget when early stopping ended the run) and ``tested_epoch`` the epoch
        whose weights the test metrics come from (the best validation loss under early
        stopping); None when unknown.
        """
        if status not in FINAL_STATUSES:
            raise ValueError(f"status must be one of {', '.join(FINAL_STATUSES)}, got {status!r}")
        check_recordable("wall_time", wall_time)
        for what, value in (("stopped_epoch", stopped_epoch), ("tested_epoch", tested_epoch)):
            check_int(what, value, 0, optional=True)
        clean_test = None
        if test is not None:
            check_type("test", test, dict, "a dict of metrics")
            for key, value in test.items():
                check_recordable(f"test[{key!r}]", value)
            clean_test = {
                key: None if value is None else finite_or_none(value) for key, value in test.items()
            }
        columns = {
            name: None
            if clean_test is None
            else clean_test.get(f"test_{name}", clean_test.get(name))
            for name in TEST_COLUMNS
        }
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE runs SET status = ?, test = ?, test_accuracy = ?, test_loss = ?, "
                "test_f1 = ?, test_ece = ?, error = ?, wall_time = ?, finished_at = ?, "
                "stopped_epoch = ?, tested_epoch = ? WHERE run_id = ?",
                (status, None if clean_test is None else canonical_json(clean_test),
                 columns["accuracy"], columns["loss"], columns["f1"], columns["ece"], error,
                 None if wall_time is None else finite_or_none(wall_time), _now(),
                 stopped_epoch, tested_epoch, run_id),
            )  # fmt: skip
            if cursor.rowcount == 0:
                raise ValueError(f"unknown run_id {run_id!r}; call start_run first")

    def delete_run(self, run_id: str) -> None:
        """Remove a run and its epochs (to redo a finished run from scratch)."""
        with self._write() as conn:
            conn.execute("DELETE FROM epochs WHERE run_id = ?", (run_id,))
            conn.execute("DELETE FROM runs WHERE run_id = ?", (run_id,))

    # ----- meta -----------------------------------------------------------------

    def set_meta(self, key: str, value: str) -> None:
        """Store ``value`` (text, e.g. JSON) under ``key`` in the meta table, replacing it."""
        check_text("meta key", key)
        if key == "schema_version":
            raise ValueError("meta 'schema_version' is the store's own; allowed: any other key")
        check_type(f"meta {key!r}", value, str, "a text value")
        with self._write() as conn:
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # ----- epochs ---------------------------------------------------------------

    def log_epoch(self, run_id: str, epoch: int, record: dict[str, float | None]) -> None:
        """Write one epoch row; re-logging an epoch replaces it (a resumed run redoes it).

        Keys in ``EPOCH_COLUMNS`` take numbers or None; NaN/inf are stored as NULL and
        named in ``extra['nonfinite']`` (comma-separated). Other keys take numbers, strings,
        booleans or None and are stored in ``extra``. ``epochs_done`` becomes the number of
        epoch rows of the run.
        """
        check_int("epoch", epoch, 0)
        check_type("record", record, dict, "a dict")
        columns, extra = split_record(record)
        names = ", ".join(EPOCH_COLUMNS)
        marks = ", ".join("?" for _ in EPOCH_COLUMNS)
        with self._write() as conn:
            if conn.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone() is None:
                raise ValueError(f"unknown run_id {run_id!r}; call start_run first")
            conn.execute(
                f"INSERT OR REPLACE INTO epochs (run_id, epoch, {names}, extra) "
                f"VALUES (?, ?, {marks}, ?)",
                (run_id, epoch, *(columns[name] for name in EPOCH_COLUMNS),
                 canonical_json(extra) if extra else None),
            )  # fmt: skip
            self._update_epochs_done(run_id)

    def truncate_epochs(self, run_id: str, after_epoch: int) -> None:
        """Delete the run's epoch rows with epoch > ``after_epoch`` (resume from a checkpoint)."""
        check_int("after_epoch", after_epoch, -math.inf)
        with self._write() as conn:
            conn.execute("DELETE FROM epochs WHERE run_id = ? AND epoch > ?", (run_id, after_epoch))
            self._update_epochs_done(run_id)

    def _update_epochs_done(self, run_id: str) -> None:
        self._conn.execute(
            "UPDATE runs SET epochs_done = (SELECT COUNT(*) FROM epochs WHERE run_id = ?) "
            "WHERE run_id = ?",
            (run_id, run_id),
        )

    def lock(self, owner: str | None = None) -> contextlib.AbstractContextManager[None]:
        """Hold the store folder's exclusive ``sweep.lock`` (see `experiments.lock.hold_lock`)."""
        return hold_lock(self.out_dir, owner)


@contextlib.contextmanager
def open_for_sweep(out_dir: str | Path, *, lock: bool = True) -> Iterator[Store]:
    """A sweep's store in ``out_dir`` (created if need be), opened only once this process
    holds the folder's ``sweep.lock`` (``lock=False``: a rank that does not write).

    Locking first means a second sweep is refused, naming the holder, before it touches the
    database: opened first, its set-up could wait on a write transaction of a holder that
    is paused mid-write and fail on SQLite's busy timeout instead.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with hold_lock(out_dir) if lock else contextlib.nullcontext(), Store(out_dir) as store:
        yield store

"""Tests for the SQLite results store and the table export (no torch needed)."""

from __future__ import annotations

import csv
import json
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from uncertainty_lr.experiments import store as store_module
from uncertainty_lr.experiments.export import RUN_COLUMNS, export_tables
from uncertainty_lr.experiments.lock import hold_lock
from uncertainty_lr.experiments.store import (
    EPOCH_COLUMNS,
    Store,
    StoreLockedError,
    open_for_sweep,
)

CONFIG = {"epochs": 3, "lr": 0.1, "batch_size": 128}


def _start(store: Store, schedule: str = "cosine", seed: int = 0, **kwargs) -> str:
    run_id = Store.run_id("mnist_cnn", schedule, seed, CONFIG)
    store.start_run(
        run_id, problem="mnist_cnn", schedule=schedule, seed=seed, config=CONFIG, **kwargs
    )
    return run_id


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path / "out") as opened:
        yield opened


def test_schema_tables_columns_and_pragmas(store: Store) -> None:
    conn = sqlite3.connect(store.path)
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"runs", "epochs", "meta"} <= tables
    epoch_cols = [row[1] for row in conn.execute("PRAGMA table_info(epochs)")]
    assert epoch_cols == ["run_id", "epoch", *EPOCH_COLUMNS, "extra"]
    run_cols = [row[1] for row in conn.execute("PRAGMA table_info(runs)")]
    assert tuple(run_cols) == RUN_COLUMNS
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == "1"
    conn.close()
    assert store.path.name == "results.sqlite"
    assert EPOCH_COLUMNS[:3] == ("train_loss", "train_accuracy", "val_loss")
    assert len(EPOCH_COLUMNS) == 21 and EPOCH_COLUMNS[-1] == "test_ece"


def test_open_missing_and_newer_schema(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no results store in"):
        Store(tmp_path / "nothing", create=False)
    assert not (tmp_path / "nothing").exists()
    Store(tmp_path / "s").close()
    conn = sqlite3.connect(tmp_path / "s" / "results.sqlite")
    with conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.close()
    with pytest.raises(ValueError, match="schema version 99"):
        Store(tmp_path / "s", create=False)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "results.sqlite").write_bytes(b"not a database at all" * 100)
    with pytest.raises(ValueError, match="not a usable SQLite"):
        Store(tmp_path / "junk")


def test_run_id_is_stable_and_sensitive() -> None:
    a = Store.run_id("mnist_cnn", "cosine", 0, {"lr": 0.1, "epochs": 3})
    assert a == Store.run_id("mnist_cnn", "cosine", 0, {"epochs": 3, "lr": 0.1})
    assert len(a) == 16 and int(a, 16) >= 0
    assert a != Store.run_id("mnist_cnn", "cosine", 1, {"lr": 0.1, "epochs": 3})
    assert a != Store.run_id("mnist_cnn", "step", 0, {"lr": 0.1, "epochs": 3})
    assert a != Store.run_id("mnist_cnn", "cosine", 0, {"lr": 0.2, "epochs": 3})
    # Computed in another interpreter: no hash randomisation leaks in.
    code = "from uncertainty_lr.experiments.store import Store; print(Store.run_id('mnist_cnn', 'cosine', 0, {'lr': 0.1, 'epochs': 3}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == a
    with pytest.raises(ValueError, match="seed must be an integer"):
        Store.run_id("mnist_cnn", "cosine", "0", {})
    with pytest.raises(ValueError, match="not JSON-serialisable"):
        Store.run_id("mnist_cnn", "cosine", 0, {"f": object()})


def test_start_get_finish_round_trip(store: Store) -> None:
    assert store.get_run("0" * 16) is None
    run_id = _start(
        store, name="mnist cosine", hardware={"cpu": "x86", "threads": 1}, version="0.1.0",
        git_sha="abc123",
    )  # fmt: skip
    run = store.get_run(run_id)
    assert run["status"] == "running" and run["config"] == CONFIG
    assert run["hardware"] == {"cpu": "x86", "threads": 1} and run["git_sha"] == "abc123"
    assert run["name"] == "mnist cosine" and run["seed"] == 0 and run["epochs_done"] == 0
    assert run["started_at"] and run["finished_at"] is None
    test = {"accuracy": 0.98, "loss": 0.05, "test_f1": 0.97, "ece": float("nan"), "nll": 0.1}
    store.finish_run(run_id, "done", test=test, wall_time=12.5)
    run = store.get_run(run_id)
    assert run["status"] == "done" and run["wall_time"] == 12.5 and run["finished_at"]
    assert (run["test_accuracy"], run["test_loss"], run["test_f1"]) == (0.98, 0.05, 0.97)
    assert run["test_ece"] is None
    assert run["test"] == {"accuracy": 0.98, "loss": 0.05, "test_f1": 0.97, "ece": None, "nll": 0.1}
    assert (run["stopped_epoch"], run["tested_epoch"]) == (None, None)


def test_finish_run_stores_stopped_and_tested_epochs(store: Store) -> None:
    run_id = _start(store)
    for bad, message in ((1.5, "stopped_epoch must be a non-negative integer, got 1.5"),
                         (-1, "stopped_epoch must be a non-negative integer, got -1")):  # fmt: skip
        with pytest.raises(ValueError, match=message):
            store.finish_run(run_id, "done", stopped_epoch=bad)
    assert store.get_run(run_id)["status"] == "running"  # nothing written
    store.finish_run(run_id, "done", test={"accuracy": 0.9}, stopped_epoch=7, tested_epoch=5)
    run = store.get_run(run_id)
    assert (run["stopped_epoch"], run["tested_epoch"]) == (7, 5)


# The runs table as schema version 1 first shipped, before stopped_epoch / tested_epoch.
_OLD_RUNS = """CREATE TABLE runs (
    run_id TEXT PRIMARY KEY, name TEXT, problem TEXT NOT NULL, schedule TEXT NOT NULL,
    seed INTEGER NOT NULL, config TEXT NOT NULL, status TEXT NOT NULL, error TEXT,
    epochs_done INTEGER NOT NULL DEFAULT 0, test TEXT, test_accuracy REAL, test_loss REAL,
    test_f1 REAL, test_ece REAL, wall_time REAL, version TEXT, git_sha TEXT, hardware TEXT,
    started_at TEXT, finished_at TEXT)"""


def test_older_store_without_the_epoch_columns_still_opens(tmp_path: Path) -> None:
    out = tmp_path / "old"
    with Store(out) as new:
        old_id = _start(new, seed=3)
        new.finish_run(old_id, "done", test={"accuracy": 0.9})
    conn = sqlite3.connect(out / "results.sqlite")
    with conn:  # rebuild runs as an older package wrote it, keeping its row
        conn.execute("ALTER TABLE runs RENAME TO runs_new")
        conn.execute(_OLD_RUNS)
        conn.execute("INSERT INTO runs SELECT run_id, name, problem, schedule, seed, config, "
                     "status, error, epochs_done, test, test_accuracy, test_loss, test_f1, "
                     "test_ece, wall_time, version, git_sha, hardware, started_at, finished_at "
                     "FROM runs_new")  # fmt: skip
        conn.execute("DROP TABLE runs_new")
    conn.close()

    def columns() -> list[str]:
        with sqlite3.connect(out / "results.sqlite") as c:
            return [row[1] for row in c.execute("PRAGMA table_info(runs)")]

    with Store(out, create=False) as reader:  # a reader changes nothing, sees NULLs
        old = reader.get_run(old_id)
        assert old["status"] == "done" and old["test_accuracy"] == 0.9
        assert (old["stopped_epoch"], old["tested_epoch"]) == (None, None)
        rows = export_tables(reader, tmp_path / "tables")
    assert "stopped_epoch" not in columns()
    with rows[0].open(newline="") as handle:
        exported = list(csv.DictReader(handle))
    assert exported[0]["stopped_epoch"] == "" and exported[0]["tested_epoch"] == ""
    with Store(out) as writer:  # a writer adds the columns; old rows keep NULL
        assert tuple(columns()) == RUN_COLUMNS
        assert writer.get_run(old_id)["stopped_epoch"] is None
        new_id = _start(writer, seed=4)
        writer.finish_run(new_id, "done", stopped_epoch=4, tested_epoch=2)
        assert (
            writer.get_run(new_id)["stopped_epoch"],
            writer.get_run(new_id)["tested_epoch"],
        ) == (4, 2)
    Store(out).close()  # opening again finds nothing to add
    assert tuple(columns()) == RUN_COLUMNS


def test_resume_never_duplicates_and_finished_runs_refuse(store: Store) -> None:
    run_id = _start(store)
    _start(store)  # still running (a crashed process): resume
    assert len(store.runs()) == 1
    store.finish_run(run_id, "failed", error="RuntimeError: boom")
    assert store.get_run(run_id)["error"] == "RuntimeError: boom"
    _start(store, hardware={"gpu": "H200"})
    run = store.get_run(run_id)
    assert run["status"] == "running" and run["error"] is None and run["finished_at"] is None
    assert run["hardware"] == {"gpu": "H200"} and len(store.runs()) == 1
    store.finish_run(run_id, "done")
    with pytest.raises(ValueError, match="already finished with status 'done'"):
        _start(store)
    with pytest.raises(ValueError, match="is for schedule 'cosine', not 'step'"):
        store.start_run(run_id, problem="mnist_cnn", schedule="step", seed=0, config=CONFIG)
    store.delete_run(run_id)
    _start(store)
    assert store.get_run(run_id)["status"] == "running"


def test_statuses_filter_and_invalid_status(store: Store) -> None:
    ids = [_start(store, seed=seed) for seed in range(4)]
    store.finish_run(ids[0], "done")
    store.finish_run(ids[1], "diverged")
    store.finish_run(ids[2], "failed", error="x")
    assert [run["run_id"] for run in store.runs()] == ids
    assert [run["run_id"] for run in store.runs("done")] == [ids[0]]
    assert [run["run_id"] for run in store.runs("diverged")] == [ids[1]]
    assert [run["run_id"] for run in store.runs("running")] == [ids[3]]
    with pytest.raises(ValueError, match="status must be one of done, diverged, failed, got 'ok'"):
        store.finish_run(ids[3], "ok")
    with pytest.raises(ValueError, match="status must be one of running"):
        store.runs("finished")
    with pytest.raises(ValueError, match="unknown run_id"):
        store.finish_run("f" * 16, "done")


def test_log_epoch_round_trip_extra_and_replace(store: Store) -> None:
    run_id = _start(store)
    store.log_epoch(run_id, 1, {"train_loss": 0.5, "lr": 0.1, "grad_norm": 2.5, "phase": "warm"})
    store.log_epoch(run_id, 2, {"train_loss": 0.4, "val_accuracy": 0.9})
    store.log_epoch(run_id, 1, {"train_loss": 0.45, "lr": 0.2})  # a resume redoes epoch 1
    rows = store.epochs(run_id)
    assert [row["epoch"] for row in rows] == [1, 2]
    assert rows[0]["train_loss"] == 0.45 and rows[0]["lr"] == 0.2
    assert "grad_norm" not in rows[0]  # replaced, not merged
    assert rows[1]["val_accuracy"] == 0.9 and rows[1]["lr"] is None
    assert set(EPOCH_COLUMNS) <= set(rows[1]) and "extra" not in rows[1]
    store.log_epoch(run_id, 3, {"grad_norm": 2.5, "phase": "warm", "steps": 7, "ok": True})
    row = store.epochs(run_id)[2]
    assert (row["grad_norm"], row["phase"], row["steps"], row["ok"]) == (2.5, "warm", 7, True)
    assert store.get_run(run_id)["epochs_done"] == 3
    conn = sqlite3.connect(store.path)
    assert conn.execute("SELECT COUNT(*) FROM epochs").fetchone()[0] == 3
    conn.close()


def test_log_epoch_rejects_bad_input(store: Store) -> None:
    run_id = _start(store)
    with pytest.raises(ValueError, match="unknown run_id"):
        store.log_epoch("nope", 1, {"train_loss": 1.0})
    with pytest.raises(ValueError, match=r"record\['lr'\] must be a number or None, got str"):
        store.log_epoch(run_id, 1, {"lr": "0.1"})
    with pytest.raises(ValueError, match="epoch must be a non-negative integer, got -1"):
        store.log_epoch(run_id, -1, {})
    with pytest.raises(ValueError, match="record key 'epoch' is reserved"):
        store.log_epoch(run_id, 1, {"epoch": 3})
    with pytest.raises(ValueError, match=r"record\['hist'\] must be a number, string"):
        store.log_epoch(run_id, 1, {"hist": [1, 2]})
    assert store.epochs(run_id) == []  # nothing half-written


def test_nonfinite_values_are_null_and_named(store: Store) -> None:
    run_id = _start(store)
    store.log_epoch(
        run_id,
        1,
        {"train_loss": float("nan"), "val_loss": float("inf"), "lr": 0.1, "g": -float("inf")},
    )
    row = store.epochs(run_id)[0]
    assert row["train_loss"] is None and row["val_loss"] is None and row["lr"] == 0.1
    assert row["g"] is None and row["nonfinite"] == "train_loss,val_loss,g"
    conn = sqlite3.connect(store.path)
    raw = conn.execute("SELECT train_loss, extra FROM epochs").fetchone()
    conn.close()
    assert raw[0] is None and "NaN" not in raw[1] and "Infinity" not in raw[1]


def test_truncate_epochs(store: Store) -> None:
    run_id = _start(store)
    other = _start(store, seed=1)
    for epoch in range(1, 6):
        store.log_epoch(run_id, epoch, {"train_loss": 1.0 / epoch})
        store.log_epoch(other, epoch, {"train_loss": 2.0 / epoch})
    store.truncate_epochs(run_id, after_epoch=2)
    assert [row["epoch"] for row in store.epochs(run_id)] == [1, 2]
    assert store.get_run(run_id)["epochs_done"] == 2
    assert len(store.epochs(other)) == 5  # other runs untouched
    all_rows = store.epochs()
    assert [(row["run_id"], row["epoch"]) for row in all_rows] == sorted(
        (row["run_id"], row["epoch"]) for row in all_rows
    )


_WORKER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from uncertainty_lr.experiments.store import Store
    folder, worker = Path(sys.argv[1]), sys.argv[2]
    store = Store(folder)
    (folder / f"ready-{worker}").touch()
    deadline = time.time() + 30
    while not (folder / "go").exists() and time.time() < deadline:
        time.sleep(0.005)
    for seed in range(3):
        config = {"worker": worker}
        run_id = Store.run_id("p", "s" + worker, seed, config)
        store.start_run(run_id, problem="p", schedule="s" + worker, seed=seed, config=config)
        for epoch in range(15):
            store.log_epoch(run_id, epoch, {"train_loss": float(epoch), "worker": worker})
        store.log_epoch(run_id, 14, {"train_loss": 14.0, "worker": worker})
        store.finish_run(run_id, "done")
    store.close()
    """
)


def test_two_processes_write_concurrently(tmp_path: Path) -> None:
    folder = tmp_path / "shared"
    Store(folder).close()
    procs = [
        subprocess.Popen([sys.executable, "-c", _WORKER, str(folder), name], stderr=subprocess.PIPE)
        for name in ("a", "b")
    ]
    deadline = time.time() + 30
    while not all((folder / f"ready-{n}").exists() for n in "ab") and time.time() < deadline:
        time.sleep(0.005)
    (folder / "go").touch()  # release both at once so their writes interleave
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()
    with Store(folder, create=False) as store:
        assert len(store.runs("done")) == 6
        rows = store.epochs()
        assert len(rows) == 6 * 15
        assert len({(row["run_id"], row["epoch"]) for row in rows}) == len(rows)
        assert sorted(row["worker"] for row in rows) == ["a"] * 45 + ["b"] * 45
    conn = sqlite3.connect(folder / "results.sqlite")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


def test_a_sweep_is_refused_by_the_lock_before_it_touches_a_database_held_mid_write(
    tmp_path: Path, monkeypatch
) -> None:
    folder = tmp_path / "s"
    Store(folder).close()
    # A holder paused inside a write transaction that keeps everyone else out.
    held = sqlite3.connect(folder / "results.sqlite", isolation_level=None)
    held.execute("PRAGMA locking_mode = EXCLUSIVE")
    held.execute("BEGIN EXCLUSIVE")
    monkeypatch.setattr(store_module, "BUSY_TIMEOUT_S", 0.2)  # what a waiting open would hit
    try:
        with pytest.raises(ValueError, match="database is locked"):
            Store(folder)  # opened first, the database answers, not the lock
        with (
            hold_lock(folder, "pid 1 on hostA: uncertainty-lr run"),
            pytest.raises(StoreLockedError, match="in use by pid 1 on hostA"),
            open_for_sweep(folder),
        ):
            pass
    finally:
        held.rollback()
        held.close()
    with open_for_sweep(folder) as store:  # lock and database free: it opens
        assert store.runs() == []
    assert not (folder / "sweep.lock").read_text()  # released, emptied


def test_lock_refuses_second_holder_and_names_it(tmp_path: Path) -> None:
    first, second = Store(tmp_path / "s"), Store(tmp_path / "s")
    with first.lock("pid 1 on hostA: uncertainty-lr sweep mnist"):
        # A second open file description in this process conflicts, like another process.
        holder = "pid 1 on hostA: uncertainty-lr sweep mnist"
        with pytest.raises(StoreLockedError, match=holder), second.lock("pid 2"):
            pass
        code = (
            "import sys\nfrom uncertainty_lr.experiments.store import Store, StoreLockedError\n"
            "try:\n    Store(sys.argv[1], create=False).lock('child').__enter__()\n"
            "except StoreLockedError as e:\n    print(e)\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", code, str(tmp_path / "s")], capture_output=True, text=True
        )
        assert "in use by pid 1 on hostA" in out.stdout, out.stderr
    assert issubclass(StoreLockedError, ValueError)
    with second.lock():  # released: the default owner names this process
        assert "pid" in (tmp_path / "s" / "sweep.lock").read_text()
    first.close()
    second.close()


def test_export_csv_and_parquet(store: Store, tmp_path: Path) -> None:
    run_id = _start(store)
    store.log_epoch(run_id, 1, {"train_loss": 0.5, "lr": 0.1, "grad_norm": 3.0})
    store.log_epoch(run_id, 2, {"train_loss": float("nan"), "phase": "cool"})
    store.finish_run(run_id, "diverged", test={"accuracy": 0.5}, stopped_epoch=2)
    paths = export_tables(store, tmp_path / "tables")
    assert [path.name for path in paths] == [
        "runs.csv", "epochs.csv", "runs.parquet", "epochs.parquet",
    ]  # fmt: skip
    with paths[0].open(newline="") as handle:
        runs = list(csv.DictReader(handle))
    assert len(runs) == 1 and runs[0]["run_id"] == run_id and runs[0]["status"] == "diverged"
    assert json.loads(runs[0]["config"]) == CONFIG and runs[0]["test_accuracy"] == "0.5"
    assert runs[0]["stopped_epoch"] == "2" and runs[0]["tested_epoch"] == ""
    with paths[1].open(newline="") as handle:
        reader = csv.DictReader(handle)
        header, epochs = reader.fieldnames, list(reader)
    assert header == ["run_id", "epoch", *EPOCH_COLUMNS, "grad_norm", "nonfinite", "phase"]
    assert [row["epoch"] for row in epochs] == ["1", "2"]
    assert epochs[0]["grad_norm"] == "3.0" and epochs[0]["phase"] == ""
    assert epochs[1]["train_loss"] == "" and epochs[1]["nonfinite"] == "train_loss"
    assert not list((tmp_path / "tables").glob("*.tmp"))

    import pyarrow.parquet as pq

    table = pq.read_table(paths[3]).to_pylist()
    assert table[0]["grad_norm"] == 3.0 and table[1]["phase"] == "cool"
    assert table[1]["train_loss"] is None and table[0]["epoch"] == 1
    run_row = pq.read_table(paths[2]).to_pylist()[0]
    assert (
        run_row["seed"] == 0 and run_row["stopped_epoch"] == 2 and run_row["tested_epoch"] is None
    )
    # Folder form opens the store read-side and gives the same CSV.
    again = export_tables(store.out_dir, tmp_path / "again")
    assert again[1].read_text() == paths[1].read_text()


def test_store_and_export_do_not_import_torch() -> None:
    code = (
        "import sys, uncertainty_lr.experiments.store, uncertainty_lr.experiments.export\n"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_store_exists_only_once_its_schema_committed(tmp_path):
    from uncertainty_lr.experiments.store import store_exists

    assert not store_exists(tmp_path / "nothing")
    empty = tmp_path / "killed"  # a process killed inside the schema transaction
    empty.mkdir()
    conn = sqlite3.connect(empty / "results.sqlite")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.close()
    assert (empty / "results.sqlite").is_file() and not store_exists(empty)
    with Store(empty):  # opening it for writing completes it
        pass
    assert store_exists(empty)
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "results.sqlite").write_bytes(b"not a database at all, just bytes" * 10)
    assert store_exists(garbage)  # so that reading it says what is wrong with it

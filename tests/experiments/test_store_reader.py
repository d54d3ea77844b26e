"""StoreReader: reads never write, and one snapshot holds while a sweep commits beside it."""

from __future__ import annotations

import csv
import hashlib

import pytest

from uncertainty_lr.experiments import store_reader
from uncertainty_lr.experiments.export import export_tables
from uncertainty_lr.experiments.store import Store
from uncertainty_lr.experiments.store_reader import StoreReader
from uncertainty_lr.report.load import load_study


def make_store(out) -> str:
    """One run with epochs 1 and 2; its run id."""
    with Store(out) as store:
        store.start_run("r1", problem="p", schedule="constant", seed=0, config={"lr": 0.1})
        for epoch in (1, 2):
            store.log_epoch("r1", epoch, {"train_loss": 1.0 / epoch, "val_accuracy": 0.5})
    return "r1"


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def writer_between_reads(monkeypatch):
    """After the reader reads ``runs``, another connection commits epoch 3 of run r1."""
    original = StoreReader.runs

    def runs_then_write(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        with Store(self.out_dir) as writer:
            writer.log_epoch("r1", 3, {"train_loss": 0.3, "val_accuracy": 0.9})
        return result

    monkeypatch.setattr(StoreReader, "runs", runs_then_write)


def test_reader_changes_nothing_and_leaves_no_wal_files(tmp_path) -> None:
    make_store(tmp_path)
    before = digest(tmp_path / "results.sqlite")
    with StoreReader(tmp_path) as reader:
        assert [r["run_id"] for r in reader.runs()] == ["r1"] and len(reader.epochs()) == 2
        with pytest.raises(Exception, match="readonly"):
            reader._conn.execute("DELETE FROM runs")
    assert digest(tmp_path / "results.sqlite") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.sqlite"]


def test_reader_refuses_a_missing_or_foreign_store(tmp_path) -> None:
    with pytest.raises(ValueError, match="no results store in"):
        StoreReader(tmp_path)
    (tmp_path / "results.sqlite").write_bytes(b"\0garbage" * 600)
    with pytest.raises(ValueError, match="results.sqlite is not a usable SQLite results store"):
        StoreReader(tmp_path)
    assert store_reader.store_exists(tmp_path)


def test_snapshot_does_not_see_a_commit_made_inside_it(tmp_path) -> None:
    make_store(tmp_path)
    with StoreReader(tmp_path) as reader:
        with reader.snapshot():
            (run,) = reader.runs()
            with Store(tmp_path) as writer:
                writer.log_epoch("r1", 3, {"train_loss": 0.3})
            assert len(reader.epochs()) == run["epochs_done"] == 2
            with reader.snapshot():  # nested: the same transaction
                assert len(reader.epochs("r1")) == 2
        assert len(reader.epochs()) == reader.runs()[0]["epochs_done"] == 3


def test_load_study_reads_runs_and_epochs_in_one_snapshot(tmp_path, writer_between_reads) -> None:
    make_store(tmp_path)
    (run,) = load_study(tmp_path).runs
    assert list(run.epochs) == [1, 2] and run.epochs_done == 2
    with StoreReader(tmp_path) as reader:  # the write did happen, after the snapshot
        assert len(reader.epochs()) == 3


def test_export_reads_runs_and_epochs_in_one_snapshot(tmp_path, writer_between_reads) -> None:
    make_store(tmp_path)
    export_tables(tmp_path, tmp_path / "tables")
    with (tmp_path / "tables" / "runs.csv").open() as handle:
        (run,) = list(csv.DictReader(handle))
    with (tmp_path / "tables" / "epochs.csv").open() as handle:
        epochs = [row["epoch"] for row in csv.DictReader(handle)]
    assert run["epochs_done"] == "2" and epochs == ["1", "2"]

"""Export the results store as flat tables: runs.csv, epochs.csv (+ Parquet with pyarrow).

CSV cells: numbers as Python writes them (full precision), NULL as an empty cell, the
run's config / test / hardware as canonical JSON text. In the epochs tables every key
ever stored in ``extra`` becomes its own column (sorted, after the fixed columns).
The tables are read in one read transaction (read-only, so also from a store on a
read-only file system) and written as one set (``files.staged_folder``): all files to a
hidden staging folder first, then moved into place together, so a kill or a full disk
never leaves ``runs.csv`` of one export beside ``epochs.csv`` of another. No torch import.
"""

from __future__ import annotations

import numbers
from pathlib import Path
from typing import Any

from uncertainty_lr.experiments.files import staged_folder, write_csv, write_file
from uncertainty_lr.experiments.store import EPOCH_COLUMNS, canonical_json
from uncertainty_lr.experiments.store_reader import StoreReader

RUN_COLUMNS: tuple[str, ...] = (
    "run_id", "name", "problem", "schedule", "seed", "config", "status", "error",
    "epochs_done", "test", "test_accuracy", "test_loss", "test_f1", "test_ece", "wall_time",
    "version", "git_sha", "hardware", "started_at", "finished_at", "stopped_epoch",
    "tested_epoch",
)  # fmt: skip
_JSON_RUN_COLUMNS = ("config", "test", "hardware")
_INT_RUN_COLUMNS = ("seed", "epochs_done", "stopped_epoch", "tested_epoch")
_REAL_RUN_COLUMNS = ("test_accuracy", "test_loss", "test_f1", "test_ece", "wall_time")


def _write_csv(path: Path, header: list[str], rows: list[dict[str, Any]]) -> None:
    cells = (["" if row.get(key) is None else row[key] for key in header] for row in rows)
    write_csv(path, [header, *cells])


def _table_rows(store: StoreReader) -> tuple[list[str], list[dict], list[str], list[dict]]:
    """(run header, run rows with JSON text, epoch header, epoch rows), one snapshot."""
    with store.snapshot():
        stored_runs, epochs = store.runs(), store.epochs()
    runs = []
    for run in stored_runs:
        row = dict(run)
        for key in _JSON_RUN_COLUMNS:
            if row[key] is not None:
                row[key] = canonical_json(row[key])
        runs.append(row)
    fixed = ("run_id", "epoch", *EPOCH_COLUMNS)
    extra_keys = sorted({key for row in epochs for key in row if key not in fixed})
    return list(RUN_COLUMNS), runs, [*fixed, *extra_keys], epochs


def _arrow_type(pa: Any, values: list[Any]) -> Any:
    """The narrowest Arrow type for an extra column: bool, int64, float64, else string."""
    present = [value for value in values if value is not None]
    if present and all(isinstance(value, bool) for value in present):
        return pa.bool_()
    if present and all(
        isinstance(value, numbers.Integral) and not isinstance(value, bool) for value in present
    ):
        return pa.int64()
    if all(isinstance(value, numbers.Real) and not isinstance(value, bool) for value in present):
        return pa.float64()
    return pa.string()


def _write_parquet(path: Path, header: list[str], rows: list[dict], types: dict[str, Any]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = {}
    for key in header:
        values = [row.get(key) for row in rows]
        kind = types.get(key) or _arrow_type(pa, values)
        if kind == pa.string():
            values = [None if value is None else str(value) for value in values]
        columns[key] = pa.array(values, type=kind)
    sink = pa.BufferOutputStream()
    pq.write_table(pa.table(columns), sink)
    write_file(path, sink.getvalue().to_pybytes())


def export_tables(store: StoreReader | str | Path, out_dir: str | Path) -> list[Path]:
    """Write runs.csv and epochs.csv (and runs.parquet, epochs.parquet if pyarrow imports).

    ``store`` is an open ``StoreReader`` / ``Store`` or the folder of one; ``out_dir`` is
    created if needed. Returns the paths written, CSV first. Raises ``ValueError`` for an
    ``out_dir`` that cannot be written (before reading anything) and
    ``files.OutputError`` when the disk fills part-way (the previous tables stay).
    """
    if not isinstance(store, StoreReader):
        with StoreReader(store) as opened:
            return export_tables(opened, out_dir)
    with staged_folder(out_dir, what="export folder",
                       hint="; pass another folder (export --out FOLDER)") as staging:  # fmt: skip
        names = _write_tables(store, staging)
    return [Path(out_dir) / name for name in names]


def _write_tables(store: StoreReader, out: Path) -> list[str]:
    """The tables of ``store`` into ``out``; their file names, CSV first."""
    run_header, runs, epoch_header, epochs = _table_rows(store)
    _write_csv(out / "runs.csv", run_header, runs)
    _write_csv(out / "epochs.csv", epoch_header, epochs)
    try:
        import pyarrow as pa
    except ImportError:  # Parquet is optional (extra "parquet"); CSV is always there
        return ["runs.csv", "epochs.csv"]
    run_types = {key: pa.string() for key in RUN_COLUMNS}
    run_types.update({key: pa.int64() for key in _INT_RUN_COLUMNS})
    run_types.update({key: pa.float64() for key in _REAL_RUN_COLUMNS})
    epoch_types = {"run_id": pa.string(), "epoch": pa.int64()}
    epoch_types.update({key: pa.float64() for key in EPOCH_COLUMNS})
    _write_parquet(out / "runs.parquet", run_header, runs, run_types)
    _write_parquet(out / "epochs.parquet", epoch_header, epochs, epoch_types)
    return ["runs.csv", "epochs.csv", "runs.parquet", "epochs.parquet"]

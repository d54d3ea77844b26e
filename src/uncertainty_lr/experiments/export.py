"""Export the results store as flat tables: runs.csv, epochs.csv (+ Parquet with pyarrow).

CSV cells: numbers as Python writes them (full precision), NULL as an empty cell, the
run's config / test / hardware as canonical JSON text. In the epochs tables every key
ever stored in ``extra`` becomes its own column (sorted, after the fixed columns).
Every file is written to a temporary name in the same folder and renamed into place,
so a reader never sees half a table. No torch import.
"""

from __future__ import annotations

import csv
import numbers
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from uncertainty_lr.experiments.store import EPOCH_COLUMNS, Store, canonical_json

RUN_COLUMNS: tuple[str, ...] = (
    "run_id", "name", "problem", "schedule", "seed", "config", "status", "error",
    "epochs_done", "test", "test_accuracy", "test_loss", "test_f1", "test_ece", "wall_time",
    "version", "git_sha", "hardware", "started_at", "finished_at", "stopped_epoch",
    "tested_epoch",
)  # fmt: skip
_JSON_RUN_COLUMNS = ("config", "test", "hardware")
_INT_RUN_COLUMNS = ("seed", "epochs_done", "stopped_epoch", "tested_epoch")
_REAL_RUN_COLUMNS = ("test_accuracy", "test_loss", "test_f1", "test_ece", "wall_time")


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temp file next to ``path``, then rename it onto ``path``."""
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    os.chmod(tmp, 0o644)  # mkstemp makes 0600; exported tables are meant to be shared
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_csv(path: Path, header: list[str], rows: list[dict[str, Any]]) -> None:
    def write(tmp: Path) -> None:
        with tmp.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            for row in rows:
                writer.writerow(["" if row.get(key) is None else row[key] for key in header])

    _atomic_write(path, write)


def _table_rows(store: Store) -> tuple[list[str], list[dict], list[str], list[dict]]:
    """(run header, run rows with JSON text, epoch header, epoch rows)."""
    runs = []
    for run in store.runs():
        row = dict(run)
        for key in _JSON_RUN_COLUMNS:
            if row[key] is not None:
                row[key] = canonical_json(row[key])
        runs.append(row)
    epochs = store.epochs()
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
    table = pa.table(columns)
    _atomic_write(path, lambda tmp: pq.write_table(table, tmp))


def export_tables(store: Store | str | Path, out_dir: str | Path) -> list[Path]:
    """Write runs.csv and epochs.csv (and runs.parquet, epochs.parquet if pyarrow imports).

    ``store`` is an open ``Store`` or the folder of one; ``out_dir`` is created if needed.
    Returns the paths written, CSV first.
    """
    if not isinstance(store, Store):
        with Store(store, create=False) as opened:
            return export_tables(opened, out_dir)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    run_header, runs, epoch_header, epochs = _table_rows(store)
    written = [out / "runs.csv", out / "epochs.csv"]
    _write_csv(written[0], run_header, runs)
    _write_csv(written[1], epoch_header, epochs)
    try:
        import pyarrow as pa
    except ImportError:  # Parquet is optional (extra "parquet"); CSV is always there
        return written
    run_types = {key: pa.string() for key in RUN_COLUMNS}
    run_types.update({key: pa.int64() for key in _INT_RUN_COLUMNS})
    run_types.update({key: pa.float64() for key in _REAL_RUN_COLUMNS})
    epoch_types = {"run_id": pa.string(), "epoch": pa.int64()}
    epoch_types.update({key: pa.float64() for key in EPOCH_COLUMNS})
    written += [out / "runs.parquet", out / "epochs.parquet"]
    _write_parquet(written[2], run_header, runs, run_types)
    _write_parquet(written[3], epoch_header, epochs, epoch_types)
    return written

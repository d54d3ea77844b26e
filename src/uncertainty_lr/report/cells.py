"""The cell level of report tables: the ``Table`` record (written to CSV, rendered by html.py)
and how numbers become cell text. Cells are strings; a value that does not exist says so in
a short word ("n/a", "n<3", "zero var") instead of a blank.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from uncertainty_lr.experiments.files import write_csv

NA = "n/a"


@dataclass
class Table:
    """A titled table. ``csv_columns``/``csv_rows`` default to the displayed ones; set
    them when the CSV should hold raw numbers where the display joins them (mean ± std)."""

    name: str
    title: str
    columns: list[str]
    rows: list[list[str]]
    notes: list[str] = field(default_factory=list)
    csv_columns: list[str] | None = None
    csv_rows: list[list[str]] | None = None

    def write_csv(self, path: Path) -> Path:
        """Write the table (header + rows) as UTF-8 CSV to ``path``, atomically."""
        rows = self.csv_rows if self.csv_rows is not None else self.rows
        return write_csv(path, [self.csv_columns or self.columns, *rows])


def fmt(value: float | None, digits: int = 4) -> str:
    """Round for display: '0.9312'; None/NaN -> 'n/a'; inf -> 'inf'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return NA
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if abs(value) >= 1e4 or 0 < abs(value) < 0.5 * 10.0**-digits:  # fixed decimals hide these
        return f"{value:.2g}"
    return f"{value:.{digits}f}"


def raw(value: float | None) -> str:
    """Full-precision text for CSV: '' for None/NaN, 'inf' for infinity."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return "inf" if math.isinf(value) else repr(float(value))


def fmt_p(p: float | None) -> str:
    """p-values: '<0.0001' below 1e-4, else 4 decimals."""
    if p is None:
        return NA
    return "<0.0001" if p < 1e-4 else f"{p:.4f}"

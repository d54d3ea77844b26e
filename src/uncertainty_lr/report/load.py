"""Read a results store into plain per-run records with numpy curves (no torch, no plotting).

Every later step of the report (summary numbers, tables, plots, analysis) reads a ``Study``,
never the store, so the SQLite details stay here. Missing values become NaN in curves and
None in scalars; nothing here raises on an odd but readable store.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from uncertainty_lr.experiments.store import EPOCH_COLUMNS
from uncertainty_lr.experiments.store_reader import StoreReader

#: Test metrics a run can carry, by their report key.
TEST_KEYS = ("test_accuracy", "test_loss", "test_f1", "test_ece")
STATUS_ORDER = ("done", "diverged", "failed", "running")


@dataclass
class RunData:
    """One run of the store, flattened for the report.

    ``arm`` is what the report compares: the store's schedule name (the training loop
    stores a label like 'uncertainty:reference=min'), plus its options when one problem
    holds the same name with different ``schedule_options``. ``base_schedule`` is the bare
    schedule name (config 'schedule', else the label before ':'). ``epochs`` has
    shape (E,) (the logged epoch numbers, ascending) and every array in ``curves`` has the
    same shape, NaN where the value was not logged. ``test`` holds the four ``TEST_KEYS``
    (None when absent).
    """

    run_id: str
    name: str
    problem: str
    schedule: str
    base_schedule: str
    arm: str
    seed: int
    status: str
    error: str | None
    epochs_done: int
    config: dict[str, Any]
    hardware: dict[str, Any]
    version: str
    git_sha: str
    wall_time: float | None
    test: dict[str, float | None]
    test_extra: dict[str, Any]
    epochs: np.ndarray
    curves: dict[str, np.ndarray]

    def curve(self, key: str) -> np.ndarray:
        """Values of ``key`` per logged epoch, shape (E,); all NaN if never logged."""
        if key in self.curves:
            return self.curves[key]
        return np.full(self.epochs.shape, np.nan)

    def last(self, key: str) -> float | None:
        """Value of ``key`` at the last epoch that logged a finite one, else None."""
        values = self.curve(key)
        finite = np.flatnonzero(np.isfinite(values))
        return float(values[finite[-1]]) if finite.size else None

    @property
    def label(self) -> str:
        """'problem / arm / seed N' for notes and summaries."""
        return f"{self.problem} / {self.arm} / seed {self.seed}"


@dataclass
class Study:
    """All runs of one store. ``notes`` says what loading had to decide (duplicates...)."""

    store_dir: Path
    runs: list[RunData]
    notes: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        """Problem names in the order first run."""
        return list(dict.fromkeys(run.problem for run in self.runs))

    def arms(self, problem: str | None = None) -> list[str]:
        """Arm names (of one problem, or all) in the order first run."""
        return list(dict.fromkeys(run.arm for run in self.runs if problem in (None, run.problem)))

    def runs_of(
        self, problem: str, arm: str | None = None, status: str | None = None
    ) -> list[RunData]:
        """Runs of ``problem`` (and ``arm``, ``status`` when given), in seed order."""
        picked = [
            run
            for run in self.runs
            if run.problem == problem and arm in (None, run.arm) and status in (None, run.status)
        ]
        return sorted(picked, key=lambda run: run.seed)

    def seeds(self, problem: str) -> list[int]:
        """Sorted seeds used by any run of ``problem``."""
        return sorted({run.seed for run in self.runs if run.problem == problem})

    def status_counts(self, problem: str | None = None, arm: str | None = None) -> dict[str, int]:
        """Runs per status (all four keys present), for a problem/arm or the whole store."""
        counts = dict.fromkeys(STATUS_ORDER, 0)
        for run in self.runs:
            if problem in (None, run.problem) and arm in (None, run.arm):
                counts[run.status] = counts.get(run.status, 0) + 1
        return counts


def _number(value: Any) -> float | None:
    """A finite float, or None for None / NaN / inf / non-numbers."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _as_dict(value: Any) -> dict[str, Any]:
    """A decoded JSON object; JSON text is decoded, anything else becomes {}."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return value if isinstance(value, dict) else {}


def _curves(rows: list[dict[str, Any]]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Epoch rows of one run -> (epoch numbers (E,), key -> values (E,))."""
    rows = sorted(rows, key=lambda row: row["epoch"])
    epochs = np.array([int(row["epoch"]) for row in rows], dtype=int)
    keys = list(EPOCH_COLUMNS)
    for row in rows:
        keys.extend(key for key in row if key not in keys and key not in ("run_id", "epoch"))
    curves: dict[str, np.ndarray] = {}
    for key in keys:
        values = [_number(row.get(key)) for row in rows]
        if any(value is not None for value in values):
            curves[key] = np.array([np.nan if v is None else v for v in values], dtype=float)
    return epochs, curves


def _options_text(options: Any) -> str:
    """Compact 'k=v, k=v' text of a schedule_options dict (sorted keys)."""
    options = _as_dict(options)
    return ", ".join(f"{key}={options[key]}" for key in sorted(options)) or "defaults"


def _base_schedule(label: str, config: dict[str, Any]) -> str:
    """'uncertainty' for a label 'uncertainty:threshold=0.1' (or the config's schedule)."""
    name = config.get("schedule")
    return name if isinstance(name, str) and name else str(label).split(":", 1)[0]


def _test_metrics(row: dict[str, Any], epochs: np.ndarray, curves: dict[str, np.ndarray]):
    """Run-level test metrics, falling back to the last epoch row's ``test_*`` columns."""
    test_json = _as_dict(row.get("test"))
    test: dict[str, float | None] = {}
    for key in TEST_KEYS:
        short = key.removeprefix("test_")
        value = _number(row.get(key))
        if value is None:
            value = _number(test_json.get(key, test_json.get(short)))
        if value is None and key in curves and epochs.size:
            value = _number(curves[key][-1])
        test[key] = value
    return test, test_json


def _run_data(
    row: dict[str, Any],
    epoch_rows: list[dict[str, Any]],
    options_seen: dict[tuple[str, str], set[str]],
) -> RunData:
    """One store run row and its epoch rows as ``RunData``; its arm names its schedule
    options when the problem ran that schedule with more than one set (``options_seen``)."""
    config = _as_dict(row.get("config"))
    epochs, curves = _curves(epoch_rows)
    arm = row["schedule"]
    if len(options_seen[(row["problem"], row["schedule"])]) > 1:
        arm = f"{arm} ({_options_text(config.get('schedule_options'))})"
    test, test_json = _test_metrics(row, epochs, curves)
    status = row.get("status") or "running"
    return RunData(
        run_id=str(row["run_id"]),
        name=str(row.get("name") or row["run_id"]),
        problem=str(row["problem"]),
        schedule=str(row["schedule"]),
        base_schedule=_base_schedule(row["schedule"], config),
        arm=arm,
        seed=int(row["seed"]),
        status=status if status in STATUS_ORDER else "failed",
        error=row.get("error"),
        epochs_done=int(row.get("epochs_done") or epochs.size),
        config=config,
        hardware=_as_dict(row.get("hardware")),
        version=str(row.get("version") or ""),
        git_sha=str(row.get("git_sha") or ""),
        wall_time=_number(row.get("wall_time")),
        test=test,
        test_extra=test_json,
        epochs=epochs,
        curves=curves,
    )


def load_study(
    store_dir: str | Path, *, by_budget: bool = False, also: Sequence[str | Path] = ()
) -> Study:
    """Read ``store_dir/results.sqlite`` into a ``Study``.

    The runs and their epochs are read in one read transaction, read-only (also on a
    read-only file system), so a sweep writing meanwhile never shows half a write.
    Raises ``ValueError`` when there is no store there. Runs of the same problem, arm and
    seed (a rerun with another config) are reduced to the latest one, with a note. With
    ``by_budget`` runs with different config ``epochs`` are kept side by side (the anytime
    comparison, ``report.budgets.at_budget``, picks one per budget).

    The comparison runs of the results folders in ``also`` join those of ``store_dir`` (read
    after it, so a run they repeat replaces its run there): e.g. budget-aware arms tuned at
    another budget in a folder of their own. Their tuning runs are left out, so what the
    report says of tuning is about ``store_dir`` alone.
    """
    store_dir = Path(store_dir)
    run_rows, epoch_rows = _read_store(store_dir)
    notes: list[str] = []
    for extra in also:
        rows, epochs = _read_store(Path(extra))
        comparison = [
            row for row in rows if _as_dict(row.get("config")).get("lr_source") != "tuning"
        ]
        ids = {row["run_id"] for row in comparison}
        run_rows = [row for row in run_rows if row["run_id"] not in ids] + comparison
        epoch_rows = [row for row in epoch_rows if row["run_id"] not in ids]
        epoch_rows += [row for row in epochs if row["run_id"] in ids]
        notes.append(f"{len(comparison)} runs added from {extra} (its {len(rows) - len(comparison)} "
                     "tuning runs left out)")  # fmt: skip
    by_run: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in epoch_rows:
        by_run[row["run_id"]].append(row)

    # A schedule run with different options in one problem gets one arm per option set.
    options_seen: dict[tuple[str, str], set[str]] = defaultdict(set)
    for row in run_rows:
        config = _as_dict(row.get("config"))
        options_seen[(row["problem"], row["schedule"])].add(
            _options_text(config.get("schedule_options"))
        )

    runs = [_run_data(row, by_run.get(row["run_id"], []), options_seen) for row in run_rows]

    latest: dict[tuple, RunData] = {}
    for run in runs:  # store order = order started, so the last one wins
        # a tuning grid runs one arm and seed at several LRs, and the tuned ruleset reruns
        # the comparison seeds: neither repeats a run of another ruleset or LR
        source = run.config.get("lr_source") or "given"
        lr = run.config.get("lr") if source == "tuning" else None
        epochs = run.config.get("epochs") if by_budget else None
        latest[(run.problem, run.arm, run.seed, source, lr, epochs)] = run
    if len(latest) < len(runs):
        dropped = len(runs) - len(latest)
        notes.append(
            f"{dropped} run(s) repeat a (problem, schedule, seed) of a later run with another "
            "config; only the latest of each is used"
        )
        keep = {id(run) for run in latest.values()}
        runs = [run for run in runs if id(run) in keep]
    return Study(store_dir=store_dir, runs=runs, notes=notes)


def _read_store(store_dir: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The run rows and epoch rows of one store, read in one read-only transaction."""
    with StoreReader(store_dir) as store, store.snapshot():
        return list(store.runs()), list(store.epochs())


def seed_vector(study: Study, problem: str, arm: str, seeds: list[int], value_of) -> np.ndarray:
    """``value_of(run)`` for each seed of ``seeds`` (NaN where the arm has no done run).

    Shape (len(seeds),), aligned by seed so two arms' vectors pair up. Only 'done' runs
    count: diverged, failed and running runs are missing values here.
    """
    done = {run.seed: run for run in study.runs_of(problem, arm, status="done")}
    out = np.full(len(seeds), np.nan)
    for i, seed in enumerate(seeds):
        if seed in done:
            value = value_of(done[seed])
            out[i] = np.nan if value is None else float(value)
    return out

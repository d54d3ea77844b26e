"""What a run produced (`RunResult`), and the one way to build it from the store.

Torch-free: the executors, the sweep and the report side read results without the
training code.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class RunResult:
    """What a run produced. ``status`` is done, diverged or failed; ``history`` one dict per epoch."""

    run_id: str
    status: str
    config: dict
    history: list[dict] = field(default_factory=list)
    test: dict = field(default_factory=dict)
    wall_time: float = 0.0
    resumed_from: int = 0
    skipped: bool = False
    # The last epoch trained (below ``epochs`` after an early stop) and the epoch whose
    # weights gave ``test`` (the best val_loss under early stopping); None when unknown.
    stopped_epoch: int | None = None
    tested_epoch: int | None = None


def epoch_record(row: dict) -> dict:
    """An epoch record without empty values, the same whether it came from memory or the store."""
    return {k: v for k, v in row.items() if v is not None and k not in ("run_id", "nonfinite")}


def stored_result(store, run: dict) -> RunResult:
    """The RunResult of a finished run already in ``store`` (``run``: its row from
    ``store.get_run``), marked ``skipped``: the epochs come from the store, nothing retrains."""
    history = [epoch_record(row) for row in store.epochs(run["run_id"])]
    return RunResult(run["run_id"], run["status"], run["config"], history, run["test"] or {},
                     run["wall_time"] or 0.0, skipped=True, stopped_epoch=run["stopped_epoch"],
                     tested_epoch=run["tested_epoch"])  # fmt: skip

"""Budget-free runs that stop by themselves: when a budget-free uncertainty arm says it has
annealed, what stopping there costs in test accuracy and saves in compute.

A budget-free run's first B epochs are its B-epoch run, so stopping at ``annealed`` is the
run cut at the first epoch whose record says ``annealed`` (stores from before the flag was
recorded: the epoch after which the LR sits at its floor, ``min_lr``, from the next epoch's
first-step LR). Needs test metrics every epoch (``test_every_epoch = true``). Prints per
problem and arm: runs that annealed within their epochs, the stop epoch, test accuracy at
the stop and at the last epoch (mean over those runs, paired difference) and the epochs and
training seconds the stop saves.

    python benchmarks/annealed_stop.py runs/method2
    python benchmarks/annealed_stop.py runs/method2 --arms uncertainty
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import numpy as np

from uncertainty_lr.experiments.grid import parse_schedule_spec
from uncertainty_lr.experiments.store_reader import StoreReader
from uncertainty_lr.schedulers.registry import needs_budget

#: UncertaintyLR's default floor: min_lr = this x the base LR.
MIN_LR_FACTOR = 1e-3


def stop_epoch(run: dict, rows: list[dict]) -> int | None:
    """The epoch at whose end the run had annealed (None: not within its epochs)."""
    flags = [row.get("annealed") for row in rows]
    if any(flag is not None for flag in flags):
        return next((row["epoch"] for row, flag in zip(rows, flags) if flag), None)
    options = run["config"].get("schedule_options") or {}
    floor = options.get("min_lr", run["config"]["lr"] * MIN_LR_FACTOR) * (1 + 1e-9)
    for row, after in zip(rows, rows[1:]):
        if after.get("lr_first", np.inf) <= floor:
            return row["epoch"]
    return None


def stops(store_path: str, arms: list[str] | None) -> dict[tuple[str, str], list[dict]]:
    """(problem, arm) -> one entry per done comparison run (not a tuning run) of a
    budget-free uncertainty arm."""
    store = StoreReader(store_path)
    epochs = defaultdict(list)
    for row in store.epochs():
        epochs[row["run_id"]].append(row)
    out = defaultdict(list)
    for run in store.runs(status="done"):
        name, options = parse_schedule_spec(run["schedule"])
        tuning = run["config"].get("lr_source") == "tuning"
        if name != "uncertainty" or needs_budget(name, options) or tuning:
            continue
        if arms and run["schedule"] not in arms:
            continue
        rows = sorted(epochs[run["run_id"]], key=lambda r: r["epoch"])
        if not rows or rows[-1].get("test_accuracy") is None:
            raise SystemExit(f"{run['run_id']}: no test metrics per epoch (test_every_epoch)")
        at = stop_epoch(run, rows)
        by_epoch = {row["epoch"]: row for row in rows}
        seconds = [row.get("train_time") or 0.0 for row in rows]
        out[(run["problem"], run["schedule"])].append({
            "seed": run["seed"], "stop": at, "epochs": rows[-1]["epoch"],
            "acc_stop": by_epoch[at]["test_accuracy"] if at else None,
            "acc_last": rows[-1]["test_accuracy"],
            "seconds_saved": sum(seconds[at:]) if at else 0.0, "seconds": sum(seconds),
        })  # fmt: skip
    return out


def markdown(table: dict[tuple[str, str], list[dict]]) -> str:
    lines = ["| problem | arm | annealed / runs | stop epoch (median, range) | test acc at stop "
             "| at last epoch | stop - last (mean, min, max) | epochs saved | train time saved |",
             "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for (problem, arm), runs in sorted(table.items()):
        done = [r for r in runs if r["stop"] is not None]
        if not done:
            lines.append(f"| {problem} | `{arm}` | 0 / {len(runs)} | - | - | - | - | 0 | 0% |")
            continue
        at = np.array([r["stop"] for r in done])
        a, b = np.array([r["acc_stop"] for r in done]), np.array([r["acc_last"] for r in done])
        d = a - b
        saved = np.mean([r["epochs"] - r["stop"] for r in done])
        share = sum(r["seconds_saved"] for r in runs) / sum(r["seconds"] for r in runs)
        lines.append(
            f"| {problem} | `{arm}` | {len(done)} / {len(runs)} | {np.median(at):g} "
            f"({at.min()}-{at.max()}) | {a.mean():.4f} | {b.mean():.4f} | {d.mean():+.4f} "
            f"({d.min():+.4f}, {d.max():+.4f}) | {saved:.1f} of {done[0]['epochs']} "
            f"| {share:.0%} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store", help="results folder (holding results.sqlite)")
    parser.add_argument("--arms", nargs="+", help="schedule labels (default: every "
                        "budget-free uncertainty arm)")  # fmt: skip
    args = parser.parse_args()
    print(markdown(stops(args.store, args.arms)))


if __name__ == "__main__":
    main()

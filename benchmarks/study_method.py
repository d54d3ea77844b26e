"""The method study's phase 1: rank schedule variants by VALIDATION accuracy at each budget.

Reads a results store and scores every finished run on the validation split only (test
metrics are never read). A budget-aware run (one told its number of epochs: cosine, wsd,
``uncertainty:budget=known``, ...) answers the budget it was told, at its last epoch; a
budget-free run answers every budget up to its length from its one run (its first B epochs
are its B-epoch run). An arm is the schedule string, plus ``@lr`` when the store holds it
at more than one base LR. Prints per arm the mean validation accuracy over seeds in each
(problem, budget) cell, the mean over cells and the mean rank (rank 1 = best; ties share
their mean rank), best first.

    python benchmarks/study_method.py runs/method --budgets 6 12
    python benchmarks/study_method.py runs/method --budgets 6 12 --arms wsd linear
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import numpy as np
from scipy.stats import rankdata

from uncertainty_lr.experiments.grid import parse_schedule_spec
from uncertainty_lr.experiments.store_reader import StoreReader
from uncertainty_lr.schedulers.registry import needs_budget


def arm_scores(store_path: str, budgets: list[int]) -> dict[str, dict[str, list[float]]]:
    """cell ("problem @B") -> arm -> validation accuracies (one per seed)."""
    store = StoreReader(store_path)
    runs = store.runs(status="done")
    lrs = defaultdict(set)
    for run in runs:
        lrs[run["schedule"]].add(run["config"]["lr"])
    epochs = defaultdict(dict)
    for row in store.epochs():
        epochs[row["run_id"]][row["epoch"]] = row["val_accuracy"]
    cells: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for run in runs:
        cfg = run["config"]
        arm = run["schedule"] + (f"@{cfg['lr']:g}" if len(lrs[run["schedule"]]) > 1 else "")
        name, options = parse_schedule_spec(run["schedule"])
        told = needs_budget(name, options)
        for budget in budgets:
            if (told and cfg["epochs"] != budget) or budget not in epochs[run["run_id"]]:
                continue
            cells[f"{run['problem']} @{budget}"][arm].append(epochs[run["run_id"]][budget])
    return cells


def ranking(cells: dict[str, dict[str, list[float]]], arms: list[str] | None = None) -> list:
    """(mean rank, mean accuracy, arm, {cell: (mean, n)}) per arm, best first."""
    names = sorted({a for c in cells.values() for a in c if not arms or a in arms})
    ranks, means = defaultdict(list), defaultdict(dict)
    for cell, by_arm in sorted(cells.items()):
        present = [a for a in names if by_arm.get(a)]
        accs = [float(np.mean(by_arm[a])) for a in present]
        for a, acc, r in zip(present, accs, rankdata([-x for x in accs]), strict=True):
            ranks[a].append(float(r))
            means[a][cell] = (acc, len(by_arm[a]))
    rows = [
        (float(np.mean(ranks[a])), float(np.mean([m for m, _ in means[a].values()])), a, means[a])
        for a in names
    ]
    return sorted(rows, key=lambda row: (row[0], -row[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store")
    parser.add_argument("--budgets", type=int, nargs="+", required=True)
    parser.add_argument("--arms", nargs="+", help="only these arms (as printed)")
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    args = parser.parse_args()
    cells = arm_scores(args.store, args.budgets)
    columns = sorted(cells)
    if args.markdown:
        print("| arm | " + " | ".join(columns) + " | mean | mean rank |")
        print("|---" * (len(columns) + 3) + "|")
        for mean_rank, mean_acc, arm, by_cell in ranking(cells, args.arms):
            row = [f"{by_cell[c][0]:.4f}" if c in by_cell else "-" for c in columns]
            print(f"| `{arm}` | " + " | ".join(row) + f" | {mean_acc:.4f} | {mean_rank:.2f} |")
        return
    print(f"{'arm':<58}" + "".join(f"{c:>18}" for c in columns) + f"{'mean':>8}{'rank':>7}")
    for mean_rank, mean_acc, arm, by_cell in ranking(cells, args.arms):
        row = "".join(
            f"{by_cell[c][0]:>14.4f} ({by_cell[c][1]})" if c in by_cell else f"{'-':>18}"
            for c in columns
        )
        print(f"{arm:<58}{row}{mean_acc:>8.4f}{mean_rank:>7.2f}")


if __name__ == "__main__":
    main()

"""Phase 1 of the study: pick the uncertainty schedule's default from VALIDATION metrics only.

Reads a results store holding the uncertainty variants (docs/study/select.toml) and prints,
per variant, the mean over seeds of the validation accuracy and loss on each problem at the
end of the run (or, with ``--budgets``, after each of those epochs: a budget-free variant
answers every shorter budget from one long run), then the mean rank across problems and
budgets (rank 1 = highest validation accuracy; tied variants share the mean of their
ranks). The winner is the variant with the best mean rank; ties go to the higher mean
accuracy. Test metrics are never read.

    python benchmarks/study_select.py runs/study
    python benchmarks/study_select.py runs/anneal --budgets 6 12
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import numpy as np
from scipy.stats import rankdata

from uncertainty_lr.experiments.store import Store


def main(out_dir: str, budgets: list[int] | None = None) -> None:
    store = Store(out_dir, create=False)
    # (problem, budget) -> variant -> [(acc, loss)]; budget None = the run's last epoch
    final = defaultdict(lambda: defaultdict(list))
    by_epoch = defaultdict(dict)
    for row in store.epochs():
        by_epoch[row["run_id"]][row["epoch"]] = row
    for run in store.runs(status="done"):
        if not run["schedule"].startswith("uncertainty"):
            continue
        rows = by_epoch[run["run_id"]]
        for budget in budgets or [None]:
            epoch = max(rows) if budget is None else budget
            if epoch not in rows:
                raise SystemExit(f"{run['run_id']} has no epoch {epoch}: run it that long")
            key = run["problem"] if budget is None else f"{run['problem']} @{budget}"
            row = rows[epoch]
            final[key][run["schedule"]].append((row["val_accuracy"], row["val_loss"]))
    problems = sorted(final)
    variants = sorted({v for p in problems for v in final[p]})
    ranks = defaultdict(list)
    for p in problems:
        names = sorted(final[p])
        accs = [np.mean([a for a, _ in final[p][v]]) for v in names]
        for v, r in zip(
            names, rankdata([-a for a in accs]), strict=True
        ):  # ties share the mean rank
            ranks[v].append(float(r))
    print(f"{'variant':<46}" + "".join(f"{p:>26}" for p in problems) + f"{'mean rank':>11}")
    print(f"{'':<46}" + "".join(f"{'val acc / val loss (n)':>26}" for _ in problems))
    rows = []
    for v in variants:
        cells = []
        for p in problems:
            vals = final[p].get(v, [])
            acc = np.mean([a for a, _ in vals]) if vals else float("nan")
            loss = np.mean([loss for _, loss in vals]) if vals else float("nan")
            cells.append(f"{acc:.4f} / {loss:.4f} ({len(vals)})")
        mean_acc = np.mean(
            [np.mean([a for a, _ in final[p][v]]) for p in problems if v in final[p]]
        )
        rows.append((np.mean(ranks[v]), -mean_acc, v, cells))
    for mean_rank, _, v, cells in sorted(rows):
        print(f"{v:<46}" + "".join(f"{c:>26}" for c in cells) + f"{mean_rank:>11.2f}")
    best = sorted(rows)[0]
    print(f"\nchosen: {best[2]} (mean rank {best[0]:.2f}, mean final val accuracy {-best[1]:.4f})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store", nargs="?", default="runs/study")
    parser.add_argument("--budgets", type=int, nargs="+", help="epochs at which to judge")
    args = parser.parse_args()
    main(args.store, args.budgets)

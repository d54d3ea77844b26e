"""The LR level each method arrives at, side by side: the level the uncertainty schedule's
search settles on, Prodigy's step size, and the LRs tuned on validation.

From a results store (the self-tuning runs, every arm at one base LR): per problem, the
LR the budget-free and the budget-known ``uncertainty`` arms hold after their search (the
first-step LR of epoch 3: the search lasts the first epoch, and the signal that may lower
the level comes at its end), and Prodigy's step size
``d x lr`` in epochs 1, 6 and the last (the mean over each epoch's steps); medians and
ranges over seeds. With ``--tuned`` (a store where ``tune`` ran): the tuned base LR of
each arm tuned on every problem, and one-cycle's peak (its tuned LR x ``max_lr_multiple``, 3 by default).

    python benchmarks/lr_levels.py runs/method2 --tuned runs/method_tuned
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import numpy as np

from uncertainty_lr.experiments.store_reader import StoreReader
from uncertainty_lr.experiments.tuning import load_choices

SEARCHED = ("uncertainty", "uncertainty:budget=known")
#: one-cycle's default peak: this x its base LR (schedulers/registry.py).
ONECYCLE_PEAK = 3.0


def _spread(values: list[float]) -> str:
    if not values:
        return "-"
    v = np.array(values)
    if v.min() == v.max():
        return f"{v[0]:.2g}"
    return f"{np.median(v):.2g} ({v.min():.2g}-{v.max():.2g})"


def levels(store_path: str) -> dict[str, dict[str, list[float]]]:
    """problem -> column -> one value per seed."""
    store = StoreReader(store_path)
    epochs = defaultdict(dict)
    for row in store.epochs():
        epochs[row["run_id"]][row["epoch"]] = row
    out: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for run in store.runs(status="done"):
        rows = epochs[run["run_id"]]
        if run["config"].get("lr_source") == "tuning" or not rows:
            continue
        if run["schedule"] in SEARCHED and 3 in rows:
            out[run["problem"]][run["schedule"]].append(rows[3]["lr_first"])
        elif run["schedule"] == "prodigy":
            last = max(rows)
            for label, epoch in (("prodigy @1", 1), ("prodigy @6", 6), ("prodigy @last", last)):
                if epoch in rows:
                    out[run["problem"]][label].append(rows[epoch]["lr"])
    return out


def markdown(found: dict, tuned: dict | None) -> str:
    measured = [*SEARCHED, "prodigy @1", "prodigy @6", "prodigy @last"]
    problems = {p for (p, _) in tuned} if tuned else set()
    arms = (
        sorted({a for (_, a) in tuned if all((p, a) in tuned for p in problems)}) if tuned else []
    )
    head = ["problem", *(f"`{c}`" for c in measured), *(f"tuned {a}" for a in arms)]
    if "onecycle" in arms:
        head.append("tuned one-cycle peak")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for problem in sorted(set(found) | {p for (p, _) in (tuned or {})}):
        cells = [problem, *(_spread(found.get(problem, {}).get(c, [])) for c in measured)]
        picks = {a: (tuned.get((problem, a)) or {}).get("lr") for a in arms}
        cells += [f"{picks[a]:.2g}" if picks[a] else "-" for a in arms]
        if "onecycle" in arms:
            peak = picks["onecycle"]
            cells.append(f"{peak * ONECYCLE_PEAK:.2g}" if peak else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store", help="results folder of the self-tuning runs")
    parser.add_argument("--tuned", help="results folder where `tune` chose each arm's LR")
    args = parser.parse_args()
    tuned = load_choices(StoreReader(args.tuned)) if args.tuned else None
    print(markdown(levels(args.store), tuned))


if __name__ == "__main__":
    main()

"""The short table a sweep prints when it ends: one line per schedule, mean ± std over seeds."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from uncertainty_lr.experiments.config import schedule_label


def summary_table(results) -> str:
    """Plain-text table of final test accuracy / loss and status counts per (problem, schedule)."""
    groups: dict[tuple[str, str], list] = defaultdict(list)
    for r in results:
        groups[(r.config["problem"], schedule_label(r.config))].append(r)
    lines = [
        f"{'problem':<16} {'schedule':<28} {'runs':>4}  {'test acc (mean ± std)':>22}  {'test loss':>9}  status"
    ]
    for (problem, schedule), runs in groups.items():
        done = [r for r in runs if r.status == "done"]
        acc = np.array([r.test["test_accuracy"] for r in done], dtype=float)
        loss = np.array([r.test["test_loss"] for r in done], dtype=float)
        acc_text = (
            "n/a"
            if not len(acc)
            else f"{acc.mean():.4f} ± {acc.std(ddof=1) if len(acc) > 1 else 0:.4f}"
        )
        loss_text = "n/a" if not len(loss) else f"{loss.mean():.4f}"
        counts = defaultdict(int)
        for r in runs:
            counts[r.status] += 1
        status = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        lines.append(
            f"{problem:<16} {schedule:<28} {len(runs):>4}  {acc_text:>22}  {loss_text:>9}  {status}"
        )
    return "\n".join(lines)

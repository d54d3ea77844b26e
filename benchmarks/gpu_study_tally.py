"""The GPU study's running tally: a line per finished run, then per budget each arm's test
accuracy (mean ± std, n) and its paired difference to the best budget-aware arm.

Printed as the study goes, so the output of a study cut short still holds every finished
run; the full statistics (Holm-corrected A/B tests, AlgoPerf score) are in the report.
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
from scipy import stats


class Tally:
    """Test accuracy by (problem, arm label, budget, seed), read from each RunResult.

    A run given exactly B epochs gives its final test accuracy at budget B; a budget-free
    run given more epochs gives the test accuracy it logged at epoch B (test every epoch).
    """

    def __init__(self, budgets: tuple[int, ...]) -> None:
        self.budgets = tuple(budgets)
        self.accuracy: dict[tuple[str, str, int], dict[int, float]] = defaultdict(dict)
        self.aware: dict[tuple[str, str], bool] = {}

    def header(self, title: str) -> None:
        print(f"\n{title}\n{'seed':>4}  {'arm':<28} {'epochs':>6}  {'status':<8} "
              + "  ".join(f"{'test@' + str(b):>8}" for b in self.budgets) + f"{'wall s':>9}")  # fmt: skip

    def add(self, problem: str, label: str, budget_aware: bool, seed: int, epochs: int,
            result, seconds: float) -> None:  # fmt: skip
        """Record ``result`` (a RunResult) and print its line: status, test accuracy at
        each budget it answers for, wall-clock seconds of the whole run."""
        self.aware[(problem, label)] = budget_aware
        cells = []
        for budget in self.budgets:
            value = self.at_budget(result, budget_aware, epochs, budget)
            if value is not None:
                self.accuracy[(problem, label, budget)][seed] = value
            cells.append(f"{value:8.4f}" if value is not None else f"{'-':>8}")
        print(f"{seed:>4}  {label:<28} {epochs:>6}  {result.status:<8} {'  '.join(cells)} "
              f"{seconds:8.1f}", flush=True)  # fmt: skip

    @staticmethod
    def at_budget(result, budget_aware: bool, epochs: int, budget: int) -> float | None:
        if result.status != "done":
            return None
        if epochs == budget:
            return result.test.get("test_accuracy")
        if budget_aware or epochs < budget or len(result.history) < budget:
            return None
        return result.history[budget - 1].get("test_accuracy")

    def summary(self) -> None:
        """Per problem and budget: every arm's mean ± std (n) and, against the best
        budget-aware arm (highest mean), the paired mean difference with a 95 % t-interval."""
        for problem in sorted({p for p, _ in self.aware}):
            for budget in self.budgets:
                arms = {label: self.accuracy[(problem, label, budget)]
                        for p, label in self.aware if p == problem and self.accuracy[(problem, label, budget)]}  # fmt: skip
                if not arms:
                    continue
                aware = [a for a in arms if self.aware[(problem, a)]]
                best = max(aware, key=lambda a: np.mean(list(arms[a].values())), default=None)
                print(f"\n{problem}, budget {budget} epochs: test accuracy, mean ± std (n)"
                      + (f"; difference to {best} (best budget-aware), paired, 95 % t-interval" if best else ""))  # fmt: skip
                for label in sorted(arms, key=lambda a: -np.mean(list(arms[a].values()))):
                    values = np.array(list(arms[label].values()))
                    std = f"{values.std(ddof=1):.4f}" if len(values) > 1 else "-"
                    line = f"  {label:<28} {values.mean():.4f} ± {std:<6} ({len(values)})"
                    if best and label != best:
                        line += "   " + paired(arms[label], arms[best])
                    print(line + ("   best" if label == best else ""))


def paired(arm: dict[int, float], best: dict[int, float]) -> str:
    """'+0.0012 [-0.0030, +0.0054] (n=3)': mean of arm - best over shared seeds, t-interval."""
    seeds = sorted(set(arm) & set(best))
    diff = np.array([arm[s] - best[s] for s in seeds])
    if len(diff) < 2:
        return f"{diff.mean():+.4f} (n={len(diff)})" if len(diff) else "no shared seeds"
    half = stats.t.ppf(0.975, len(diff) - 1) * diff.std(ddof=1) / math.sqrt(len(diff))
    return (
        f"{diff.mean():+.4f} [{diff.mean() - half:+.4f}, {diff.mean() + half:+.4f}] (n={len(diff)})"
    )

"""The anytime study's questions per budget, as checks, sentences, a matrix and tables.

(1) Is the uncertainty arm as good as the best budget-aware arm given the true budget:
non-inferior by the margin, i.e. is the one-sided 95 % paired-t lower bound of the
test-accuracy difference (uncertainty - that arm) above -margin? (Not: does a two-sided
interval include 0, which fewer or noisier seeds make easier.) The best budget-aware arm
is the one with the highest mean test accuracy over the paired seeds; diverged runs count
at chance accuracy on both sides. Each check has one outcome (``goal_outcome``):

- ahead: the lower bound is above 0 (better, one-sided 95 %);
- non-inferior: the lower bound is above -margin;
- behind: it is not, and the mean difference is below 0;
- not shown non-inferior: it is not, though the mean difference is not below 0 (too
  noisy to tell);
- not tested: fewer than 3 paired seeds, or differences without variance.

(2) Does it beat every other budget-free arm on the AlgoPerf score at that budget?
"""

from __future__ import annotations

from dataclasses import dataclass

from uncertainty_lr.report.aggregates import profile_times
from uncertainty_lr.report.budgets import BUDGET_AWARE, BUDGET_FREE, run_kind
from uncertainty_lr.report.load import Study
from uncertainty_lr.report.summary import Comparison, Summary
from uncertainty_lr.report.tables import NA, Table, fmt, raw
from uncertainty_lr.report.verdict import Matrix, untested_reason
from uncertainty_lr.stats import DEFAULT_MARGIN, algoperf_score

AHEAD, NON_INFERIOR, BEHIND = "ahead", "non-inferior", "behind"
NOT_SHOWN, NOT_TESTED = "not shown non-inferior", "not tested"

#: outcome -> (background, text colour, mark, meaning) of the goal matrix; colour-blind safe
#: (Okabe-Ito blue / vermillion), and the marks say the same without colour.
GOAL_PALETTE: dict[str, tuple[str, str, str, str]] = {
    AHEAD: ("#0072B2", "#ffffff", "\u25b2", "ahead: lower bound above 0"),
    NON_INFERIOR: ("#cfe3f3", "#1a1a1a", "\u2713", "non-inferior: lower bound above -margin"),
    NOT_SHOWN: ("#f8d7c2", "#1a1a1a", "?", "not shown non-inferior, mean difference not below 0"),
    BEHIND: ("#D55E00", "#ffffff", "\u25bc", "behind: not non-inferior, mean difference below 0"),
    NOT_TESTED: ("#ffffff", "#777777", "", "not tested: too few paired seeds or no variance"),
}


def goal_outcome(c: Comparison) -> str:
    """The outcome of one check (uncertainty arm A vs the best budget-aware arm B)."""
    ni = c.non_inferiority
    if ni is None or ni.lower is None:
        return NOT_TESTED
    if ni.lower > 0:
        return AHEAD
    if ni.holds:
        return NON_INFERIOR
    return BEHIND if (ni.mean_diff or 0.0) < 0 else NOT_SHOWN


@dataclass
class GoalCheck:
    """Uncertainty arm vs the best budget-aware arm at one budget (``comparison``: A vs B
    in test accuracy); ``kind``: whether the uncertainty arm itself is told the budget."""

    budget: int
    comparison: Comparison
    margin: float
    kind: str

    @property
    def outcome(self) -> str:
        return goal_outcome(self.comparison)

    def numbers(self) -> str:
        """'wsd, -0.0033, lower bound -0.0053' (or why it was not tested)."""
        c, ni = self.comparison, self.comparison.non_inferiority
        if ni is None or ni.lower is None:
            return f"{c.arm_b}: {untested_reason(c) if ni is None or ni.n < 3 else 'no variance'}"
        return f"{c.arm_b}, {c.result.mean_diff:+.4f}, lower bound {ni.lower:+.4f}"


def best_budget_aware(study: Study, summary: Summary) -> dict[tuple[str, str], Comparison]:
    """(problem, uncertainty arm) -> its test-accuracy comparison with the budget-aware arm
    of the highest mean test accuracy over the paired seeds (diverged runs at chance)."""
    best: dict[tuple[str, str], Comparison] = {}
    for c in summary.comparisons:
        if c.metric.key != "test_accuracy" or c.result is None or c.result.mean_b is None:
            continue
        if kind_of(study, c.problem, c.arm_b) != BUDGET_AWARE:
            continue
        key = (c.problem, c.arm_a)
        if key not in best or c.result.mean_b > best[key].result.mean_b:
            best[key] = c
    return best


def kind_of(study: Study, problem: str, arm: str) -> str:
    """Whether ``arm`` of ``problem`` is budget-aware or budget-free (n/a: no run)."""
    runs = study.runs_of(problem, arm)
    return run_kind(runs[0]) if runs else NA


def goal_checks(views: dict[int, tuple[Study, Summary]]) -> list[GoalCheck]:
    """Every check of question (1), budget by budget (``views``: budget -> its view)."""
    return [
        GoalCheck(budget, c, summary.margin, kind_of(study, c.problem, c.arm_a))
        for budget, (study, summary) in views.items()
        for c in best_budget_aware(study, summary).values()
    ]


def verdict_sentence(problem: str, arm: str, checks: list[GoalCheck]) -> str:
    """One sentence: where ``arm`` stands against the best budget-aware arm at each budget.

    E.g. "mnist_cnn: uncertainty, never told the budget, against the best budget-aware arm
    at each budget (margin 0.005): behind at 6 epochs (wsd, -0.0033, lower bound -0.0053);
    non-inferior at 12 epochs (cosine, -0.0009, lower bound -0.0035)."
    """
    mine = sorted((c for c in checks if (c.comparison.problem, c.comparison.arm_a) == (problem, arm)),
                  key=lambda c: c.budget)  # fmt: skip
    if not mine:
        return f"{problem}: no budget-aware arm to compare {arm} with at any budget."
    told = "never told the budget" if mine[0].kind == BUDGET_FREE else "itself told the budget"
    parts = "; ".join(f"{c.outcome} at {c.budget} epochs ({c.numbers()})" for c in mine)
    return (f"{problem}: {arm}, {told}, against the best budget-aware arm at each budget "
            f"(margin {mine[0].margin:g}): {parts}.")  # fmt: skip


def goal_matrix(checks: list[GoalCheck]) -> Matrix:
    """Budgets (rows) x problems (columns, one per uncertainty arm where there are several),
    each cell the outcome, the difference and its lower bound, coloured by the outcome."""
    columns = list(dict.fromkeys((c.comparison.problem, c.comparison.arm_a) for c in checks))
    several = len({arm for _, arm in columns}) > 1
    budgets = list(dict.fromkeys(c.budget for c in checks))
    by_key = {(c.budget, c.comparison.problem, c.comparison.arm_a): c for c in checks}
    cells, kinds = [], []
    for budget in budgets:
        row_cells, row_kinds = [], []
        for problem, arm in columns:
            check = by_key.get((budget, problem, arm))
            row_cells.append(NA if check is None else f"{check.outcome}: {check.numbers()}")
            row_kinds.append(NOT_TESTED if check is None else check.outcome)
        cells.append(row_cells)
        kinds.append(row_kinds)
    margin = checks[0].margin if checks else DEFAULT_MARGIN
    return Matrix(
        "Goal check: the uncertainty arm vs the best budget-aware arm (anytime_goal.csv)",
        ["budget (epochs)"], [f"{p}: {a}" if several else p for p, a in columns],
        [[str(b)] for b in budgets], cells, kinds,
        "Cell = outcome: the best budget-aware arm at that budget, the mean test-accuracy "
        "difference (uncertainty - it) over paired seeds, a diverged run at chance accuracy, "
        f"and the one-sided 95% paired-t lower bound of that difference; margin {margin:g}.",
        GOAL_PALETTE,
    )  # fmt: skip


def algoperf_scores(summary: Summary) -> dict[str, float]:
    """arm -> AlgoPerf score of one budget's summary ({} when no problem has a target)."""
    times, problems, _ = profile_times(summary)
    return algoperf_score(times) if times and problems else {}


def _goal_row(check: GoalCheck) -> tuple[list[str], list[str]]:
    """(display row, CSV row) of one non-inferiority goal check."""
    c, margin = check.comparison, check.margin
    r, ni = c.result, c.non_inferiority
    diff = NA if r.mean_diff is None else f"{r.mean_diff:+.4f}"
    if ni is None or ni.lower is None:
        why = NA if ni is None else ni.notes[-1]
        shown, verdict = f"{diff} [lower bound: not tested]", f"not tested: {why}"
    else:
        shown, verdict = f"{diff} [{ni.lower:+.4f}, inf)", "yes" if ni.holds else "no"
    lower, p = (None, None) if ni is None else (ni.lower, ni.p)
    row = [str(check.budget), c.problem, c.arm_a, f"{c.arm_b} ({fmt(r.mean_b)})", shown, verdict,
           check.outcome]  # fmt: skip
    csv_row = [str(check.budget), c.problem, c.arm_a, c.arm_b, raw(r.mean_b), raw(r.mean_diff),
               raw(lower), raw(margin), raw(p), verdict.split(":")[0], check.outcome]  # fmt: skip
    return row, csv_row


def goal_tables(
    views: dict[int, tuple[Study, Summary]], checks: list[GoalCheck]
) -> tuple[Table, Table]:
    """(question 1 as a table, one row per check; question 2: AlgoPerf score against the
    other budget-free arms, one row per budget and uncertainty arm)."""
    rows, csv_rows, score_rows = [], [], []
    for check in checks:
        row, csv_row = _goal_row(check)
        rows.append(row)
        csv_rows.append(csv_row)
    for budget, (study, summary) in views.items():
        scores = algoperf_scores(summary)
        free = {run.arm for run in study.runs if run_kind(run) == BUDGET_FREE}
        tested = {c.arm_a for c in summary.comparisons}  # the uncertainty arm(s)
        for arm in sorted(a for a in scores if a in tested):
            others = {a: v for a, v in scores.items() if a in free and a not in tested}
            top = max(others, key=others.get) if others else None
            beats = NA if top is None else ("yes" if scores[arm] > others[top] else "no")
            score_rows.append([str(budget), arm, f"{scores[arm]:.3f}",
                               NA if top is None else f"{top} ({others[top]:.3f})", beats])  # fmt: skip
    margin = checks[0].margin if checks else DEFAULT_MARGIN
    accuracy = Table(
        "anytime_goal", "The uncertainty arm vs the best budget-aware arm",
        ["budget (epochs)", "problem", "uncertainty schedule", "best budget-aware (mean test acc)",
         "difference [one-sided 95% lower bound, inf)",
         f"as good as it (non-inferior, margin {margin:g})", "outcome"],
        rows,
        ["difference = uncertainty - best budget-aware arm in test accuracy over paired seeds, "
         "a diverged run counting at chance accuracy (1/C); as good as it = the non-inferiority "
         f"test: the one-sided 95% paired-t lower bound is above -{margin:g} (the margin, "
         "`report --margin`); not tested with fewer than 3 paired seeds",
         "outcome: ahead = lower bound above 0; non-inferior = above -margin; behind = not, "
         "with a mean difference below 0; not shown non-inferior = not, with a mean "
         "difference of 0 or more"],
        ["budget", "problem", "uncertainty", "best_budget_aware", "best_mean", "mean_diff",
         "lower_bound", "margin", "p", "non_inferior", "outcome"], csv_rows,
    )  # fmt: skip
    score = Table(
        "anytime_goal_score", "AlgoPerf score vs the other budget-free arms",
        ["budget (epochs)", "uncertainty schedule", "its AlgoPerf score",
         "best other budget-free arm", "beats every budget-free arm"], score_rows,
        ["scores as in the AlgoPerf score per budget table (anytime_algoperf.csv)"],
    )  # fmt: skip
    return accuracy, score

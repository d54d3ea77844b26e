"""The anytime goal check on hand-made paired seeds: its outcome (ahead / non-inferior /
behind / not shown / not tested, from the non-inferiority test), the verdict sentence and
the coloured budget x problem matrix."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from uncertainty_lr.report.anytime_goal import (
    AHEAD,
    BEHIND,
    GOAL_PALETTE,
    NON_INFERIOR,
    NOT_SHOWN,
    NOT_TESTED,
    GoalCheck,
    goal_matrix,
    goal_outcome,
    verdict_sentence,
)
from uncertainty_lr.report.budgets import BUDGET_AWARE, BUDGET_FREE
from uncertainty_lr.report.summary import AB_METRICS, Comparison
from uncertainty_lr.stats import compare_paired, non_inferiority

BEST = np.array([0.90, 0.91, 0.92, 0.93])  # the best budget-aware arm, four seeds


def check(diffs, budget=6, problem="p", arm="uncertainty", best="cosine", kind=BUDGET_FREE):
    """A goal check whose paired differences (uncertainty - best) are ``diffs``."""
    a, b = BEST[: len(diffs)] + np.asarray(diffs), BEST[: len(diffs)]
    c = Comparison(problem, arm, best, AB_METRICS[0], compare_paired(a, b),
                   non_inferiority=non_inferiority(a, b, 0.005))  # fmt: skip
    return GoalCheck(budget, c, 0.005, kind)


def lower_bound(diffs) -> float:
    d = np.asarray(diffs)
    return d.mean() - sps.t.ppf(0.95, d.size - 1) * d.std(ddof=1) / np.sqrt(d.size)


@pytest.mark.parametrize(
    ("diffs", "outcome"),
    [
        ([0.020, 0.022, 0.018, 0.021], AHEAD),  # lower bound above 0
        ([-0.001, 0.000, -0.002, 0.001], NON_INFERIOR),  # above -0.005, not above 0
        ([-0.030, -0.020, -0.025, -0.028], BEHIND),  # not above -0.005, mean below 0
        ([0.030, -0.040, 0.035, -0.020], NOT_SHOWN),  # mean +0.0013, too noisy to tell
        ([0.01, 0.02], NOT_TESTED),  # two paired seeds: no test
    ],
)
def test_outcome_follows_the_one_sided_lower_bound(diffs, outcome):
    c = check(diffs)
    assert goal_outcome(c.comparison) == c.outcome == outcome
    if outcome != NOT_TESTED:
        assert c.comparison.non_inferiority.lower == pytest.approx(lower_bound(diffs))


def test_one_sentence_per_problem_names_each_budget_in_order():
    checks = [check([-0.001, 0.000, -0.002, 0.001], budget=12),
              check([-0.030, -0.020, -0.025, -0.028], budget=6, best="wsd"),
              check([0.02, 0.02, 0.03, 0.02], problem="q")]  # fmt: skip
    six, twelve = (
        lower_bound([-0.030, -0.020, -0.025, -0.028]),
        lower_bound([-0.001, 0, -0.002, 0.001]),
    )
    assert verdict_sentence("p", "uncertainty", checks) == (
        "p: uncertainty, never told the budget, against the best budget-aware arm at each budget "
        f"(margin 0.005): behind at 6 epochs (wsd, -0.0258, lower bound {six:+.4f}); "
        f"non-inferior at 12 epochs (cosine, -0.0005, lower bound {twelve:+.4f})."
    )
    told = verdict_sentence(
        "p", "uncertainty", [check([0.02, 0.02, 0.03, 0.02], kind=BUDGET_AWARE)]
    )
    assert told.startswith("p: uncertainty, itself told the budget, against")  # budget=known
    untested = verdict_sentence("p", "uncertainty", [check([0.01, 0.02])])
    assert (
        "not tested at 6 epochs (cosine: 2 paired seeds, and a test needs at least 3)" in untested
    )
    assert verdict_sentence("r", "uncertainty", checks) == (
        "r: no budget-aware arm to compare uncertainty with at any budget."
    )


def test_matrix_is_budgets_by_problems_coloured_by_outcome():
    checks = [check([0.02, 0.022, 0.018, 0.021], budget=6), check([-0.03, -0.02, -0.025, -0.028], budget=6, problem="q"),
              check([-0.001, 0.0, -0.002, 0.001], budget=12), check([0.01, 0.02], budget=12, problem="q")]  # fmt: skip
    m = goal_matrix(checks)
    assert m.metrics == ["p", "q"] and m.labels == [["6"], ["12"]]
    assert m.kinds == [[AHEAD, BEHIND], [NON_INFERIOR, NOT_TESTED]]
    assert m.cells[0][1].startswith("behind: cosine, -0.0258, lower bound ")
    assert m.palette is GOAL_PALETTE and set(GOAL_PALETTE) >= {k for row in m.kinds for k in row}
    two_arms = goal_matrix([*checks, check([0.02, 0.02, 0.03, 0.02], arm="uncertainty:mode=band")])
    assert two_arms.metrics == ["p: uncertainty", "q: uncertainty", "p: uncertainty:mode=band"]

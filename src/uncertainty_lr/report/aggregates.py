"""rliable aggregates, the AlgoPerf score and divergence rates, as report tables.

Final test accuracy here is ``accuracy_by_seed``: finished runs with their own value, a
diverged run at chance accuracy (1/C), so every table judges a schedule on all the runs
that did not fail. Across problems, raw accuracies are not comparable (a problem at ~0.98
and one at ~0.58 would make the pooled IQM's trim and rank follow one problem), so each
problem is first normalised as rliable intends: 0 = chance, 1 = the best arm's mean test
accuracy on that problem (``across_matrix``). An arm's (seeds x problems) matrix keeps the
seeds that have a value on every problem (rliable's stratified bootstrap needs one run
count per task).
"""

from __future__ import annotations

import math

import numpy as np

from uncertainty_lr.report.load import Study
from uncertainty_lr.report.summary import ProblemSummary, Summary, accuracy_by_seed
from uncertainty_lr.report.tables import NA, Table, fmt, fmt_p, raw
from uncertainty_lr.stats import (
    ALGOPERF_TAU_MAX,
    algoperf_score,
    improvement_permutation_test,
    iqm_ci,
    normalise_scores,
    probability_of_improvement_ci,
)

ACROSS = "all problems"


def _values(study: Study, ps: ProblemSummary, arm: str) -> np.ndarray:
    """Finite final test accuracies of ``arm`` (diverged runs included), shape (runs,)."""
    values = accuracy_by_seed(study, ps, arm)
    return values[np.isfinite(values)]


def problem_reference(study: Study, ps: ProblemSummary) -> tuple[float, float | None]:
    """(chance accuracy, the best arm's mean test accuracy) of one problem: the 0 and the 1
    of its normalised score. The best mean is None when no arm has a test accuracy."""
    means = []
    for arm in ps.arms:
        values = accuracy_by_seed(study, ps, arm)
        if np.isfinite(values).any():
            means.append(float(np.nanmean(values)))
    return ps.chance_accuracy, (max(means) if means else None)


def across_problems(study: Study, summary: Summary) -> tuple[list[ProblemSummary], list[str]]:
    """The problems that enter across-problem aggregates, and notes on those left out: a
    problem whose best arm is not above chance has no scale to normalise by."""
    kept, notes = [], []
    for ps in summary.problems.values():
        low, high = problem_reference(study, ps)
        if high is not None and high > low:
            kept.append(ps)
        else:
            notes.append(f"{ps.problem} is left out across problems: no arm is above chance")
    return kept, notes


def across_matrix(study: Study, summary: Summary, arm: str) -> tuple[np.ndarray, list[int]]:
    """(seeds x problems) normalised scores of ``arm`` over the seeds complete on every problem.

    Each problem's test accuracy is mapped to 0 = chance (1/C), 1 = the best arm's mean
    test accuracy on it (``problem_reference``, ``stats.normalise_scores``); problems of
    ``across_problems`` only. Shape (0, problems) when no seed is complete or the arm is
    missing from a problem.
    """
    problems = across_problems(study, summary)[0]
    if not problems or any(arm not in ps.arms for ps in problems):
        return np.empty((0, len(problems))), []
    by_problem = [
        dict(zip(ps.seeds, accuracy_by_seed(study, ps, arm), strict=True)) for ps in problems
    ]
    seeds = sorted(
        set.intersection(*({s for s, v in d.items() if np.isfinite(v)} for d in by_problem))
    )
    raw_scores = np.array([[d[s] for d in by_problem] for s in seeds]).reshape(
        len(seeds), len(problems)
    )
    low, high = zip(*(problem_reference(study, ps) for ps in problems), strict=True)
    return normalise_scores(raw_scores, low, high), seeds


def _ci_text(low: float | None, high: float | None) -> str:
    return NA if low is None else f"[{fmt(low)}, {fmt(high)}]"


def iqm_table(study: Study, summary: Summary) -> Table:
    """IQM of final test accuracy with a 95 % stratified-bootstrap CI, per problem and arm,
    and across problems when there are several."""
    columns = ["problem", "schedule", "runs", "IQM test accuracy",
               "95% CI (stratified bootstrap, too narrow with few runs)"]  # fmt: skip
    csv_columns = ["problem", "schedule", "runs", "iqm", "ci_low", "ci_high"]
    rows, csv_rows = [], []

    def add(problem: str, arm: str, scores: np.ndarray) -> None:
        if scores.size == 0:
            rows.append([problem, arm, "0", NA, NA])
            csv_rows.append([problem, arm, "0", "", "", ""])
            return
        point, low, high = iqm_ci(scores)
        rows.append([problem, arm, str(scores.shape[0]), fmt(point), _ci_text(low, high)])
        csv_rows.append([problem, arm, str(scores.shape[0]), raw(point), raw(low), raw(high)])

    for ps in summary.problems.values():
        for arm in ps.arms:
            add(ps.problem, arm, _values(study, ps, arm))
    if len(summary.problems) > 1:
        for arm in study.arms():
            add(ACROSS, arm, across_matrix(study, summary, arm)[0])
    notes = [
        "IQM = mean of the middle 50 % of runs (rliable); the CI resamples runs within each "
        "problem (2000 resamples, seed 0), a percentile bootstrap that is too narrow with a "
        "handful of runs (it describes the spread, it is not a test). Diverged runs count at "
        "chance accuracy (1/C); failed and running runs are left out.",
    ]
    if len(summary.problems) > 1:
        notes.append(
            f"'{ACROSS}': the IQM of normalised scores (per problem, 0 = chance accuracy, 1 = "
            "the best arm's mean test accuracy) over the (seeds x problems) matrix of the "
            "seeds that have a value on every problem; 'runs' counts those seeds."
        )
        notes += across_problems(study, summary)[1]
    return Table("iqm", "IQM of final test accuracy", columns, rows, notes, csv_columns, csv_rows)


def improvement_table(study: Study, summary: Summary) -> Table:
    """rliable's probability of improvement P(X > Y) of each uncertainty arm over each
    baseline on final test accuracy, per problem and across problems."""
    columns = ["problem", "X (uncertainty)", "Y (baseline)", "runs X / Y", "P(X > Y)"]
    columns += ["permutation p", "95% CI (stratified bootstrap, too narrow with few runs)"]
    csv_columns = ["problem", "x", "y", "runs_x", "runs_y", "p_improvement", "permutation_p",
                   "ci_low", "ci_high"]  # fmt: skip
    rows, csv_rows = [], []

    def add(problem: str, x_arm: str, y_arm: str, x: np.ndarray, y: np.ndarray) -> None:
        if x.size == 0 or y.size == 0:
            rows.append([problem, x_arm, y_arm, f"{len(x)} / {len(y)}", NA, NA, NA])
            csv_rows.append([problem, x_arm, y_arm, str(len(x)), str(len(y)), "", "", "", ""])
            return
        point, low, high = probability_of_improvement_ci(x, y)
        p = improvement_permutation_test(x, y)[1]
        runs = [str(x.shape[0]), str(y.shape[0])]
        rows.append([problem, x_arm, y_arm, " / ".join(runs), fmt(point), fmt_p(p),
                     _ci_text(low, high)])  # fmt: skip
        csv_rows.append([problem, x_arm, y_arm, *runs, raw(point), raw(p), raw(low), raw(high)])

    for ps in summary.problems.values():
        for x_arm in ps.uncertainty_arms:
            for y_arm in ps.baseline_arms:
                add(ps.problem, x_arm, y_arm, _values(study, ps, x_arm), _values(study, ps, y_arm))
    if len(summary.problems) > 1:
        pairs = {(c.arm_a, c.arm_b) for c in summary.comparisons}
        for x_arm, y_arm in sorted(pairs):
            x, y = across_matrix(study, summary, x_arm)[0], across_matrix(study, summary, y_arm)[0]
            add(ACROSS, x_arm, y_arm, x, y)
    notes = [
        "P(X > Y): the chance that a run of X ends with a higher test accuracy than a run of Y "
        "on the same problem, every run of X against every run of Y (ties count 1/2), averaged "
        "over problems (rliable); 0.5 = no edge. Unlike the A/B table's win rate it does not "
        "pair seeds. Permutation p: two-sided, X and Y runs relabelled within each problem "
        "(every relabelling up to 10,000, else 10,000 random ones); it holds its level at "
        "any run count, so it is the test. CI: runs of X and Y resampled independently "
        "within each problem (2000 resamples, seed 0), a percentile bootstrap that is too "
        "narrow with few runs (at 3 runs x 3 problems it excludes 0.5 for about 10 % of "
        "pairs with no difference): read it as a spread, not a test. Diverged runs count at "
        "chance accuracy (1/C); across problems each problem is normalised first (IQM table).",
    ]
    return Table(
        "probability_of_improvement", "Probability of improvement (final test accuracy)",
        columns, rows, notes, csv_columns, csv_rows,
    )  # fmt: skip


def profile_times(summary: Summary) -> tuple[dict[str, list[float]], list[str], list[str]]:
    """Median epochs to target per arm and problem, for the performance profile.

    Returns (arm -> times over problems, the problems used, notes). Only problems with a
    target and arms present in all of them are used; a median that is censored is inf.
    """
    notes: list[str] = []
    problems = [p for p, ps in summary.problems.items() if ps.target is not None]
    if len(problems) < len(summary.problems):
        notes.append("problems without a target are left out of the performance profile")
    arms_of = [summary.problems[p].arms for p in problems]
    common = [arm for arm in arms_of[0] if all(arm in arms for arms in arms_of)] if arms_of else []
    left_out = sorted({a for p in problems for a in summary.problems[p].arms} - set(common))
    if left_out:
        notes.append(f"not run on every problem, so not in the profile: {', '.join(left_out)}")
    times: dict[str, list[float]] = {}
    for arm in common:
        row = []
        for problem in problems:
            values = [
                v
                for v in summary.problems[problem].epochs_to_target[arm].values()
                if not math.isnan(v)
            ]
            row.append(float(np.median(values)) if values else math.inf)
        times[arm] = row
    return times, problems, notes


def algoperf_table(summary: Summary) -> Table:
    """AlgoPerf score per arm: the normalised area under its performance profile."""
    times, problems, notes = profile_times(summary)
    columns = ["schedule", f"AlgoPerf score (tau in [1, {ALGOPERF_TAU_MAX:g}])", "problems"]
    rows, csv_rows = [], []
    if times and problems:
        scores = algoperf_score(times)
        for arm in sorted(scores, key=lambda a: -scores[a]):
            rows.append([arm, f"{scores[arm]:.3f}", str(len(problems))])
            csv_rows.append([arm, raw(scores[arm]), str(len(problems))])
    else:
        notes.append("no problem has a target, so no score")
    notes.insert(
        0,
        f"area under the performance profile (median epochs to target over seeds) for tau "
        f"from 1 to {ALGOPERF_TAU_MAX:g}, divided by {ALGOPERF_TAU_MAX - 1:g}: 1 = fastest on "
        f"every problem, 0 = never within {ALGOPERF_TAU_MAX:g}x the fastest",
    )
    if len(problems) == 1:
        notes.append("one problem only: the score just restates the ratio to the fastest schedule")
    return Table(
        "algoperf_score", "AlgoPerf score", columns, rows, notes,
        ["schedule", "algoperf_score", "problems"], csv_rows,
    )  # fmt: skip


def divergence_table(summary: Summary) -> Table:
    """Divergence rate of every arm and Fisher's exact test, uncertainty arm vs baseline."""
    columns = ["problem", "schedule", "diverged / runs", "divergence rate"]
    columns += ["vs baseline", "baseline rate", "Fisher exact p"]
    rows = []
    tests = {(d.problem, d.arm_a): [] for d in summary.divergence}
    for d in summary.divergence:
        tests[(d.problem, d.arm_a)].append(d)
    for ps in summary.problems.values():
        for arm in ps.arms:
            diverged, runs = ps.divergence.get(arm, (0, 0))
            rate = fmt(diverged / runs, 2) if runs else NA
            lead = [ps.problem, arm, f"{diverged} / {runs}", rate]
            against = tests.get((ps.problem, arm), [])
            if not against:
                rows.append(lead + ["", "", ""])
            for d in against:
                t = d.test
                other = NA if t.rate_b is None else fmt(t.rate_b, 2)
                rows.append(lead + [d.arm_b, other, fmt_p(t.p)])
    notes = [
        "runs = finished + diverged runs (failed and running runs say nothing about "
        "divergence); Fisher's exact test (two-sided) of the 2x2 table diverged / not "
        "diverged, uncertainty schedule vs each baseline, not corrected for multiple tests",
    ]
    return Table("divergence", "Divergence rates", columns, rows, notes)

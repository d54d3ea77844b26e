"""The report's opening: the verdict table, a sentence or two per problem, and the A/B matrix.

Primary metric: final test accuracy (``accuracy_by_seed``: diverged runs count with their
problem's lowest finished test accuracy). The difference and its interval come from the same
``Comparison`` the A/B table prints, so both always show one number; "better" / "worse" means
a Holm-corrected paired t-test p below ``ALPHA``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from uncertainty_lr.report.aggregates import ACROSS, across_matrix
from uncertainty_lr.report.load import Study
from uncertainty_lr.report.summary import (
    AB_METRICS,
    ALPHA,
    Comparison,
    ProblemSummary,
    Summary,
    accuracy_by_seed,
)
from uncertainty_lr.report.tables import NA, Table, fmt, fmt_p
from uncertainty_lr.stats import iqm, probability_of_improvement_ci

BETTER, SAME, WORSE = "better", "no detectable difference", "worse"


def _p_text(p: float) -> str:
    """'= 0.0123' or '< 0.0001'."""
    shown = fmt_p(p)
    return f"< {shown[1:]}" if shown.startswith("<") else f"= {shown}"


def marker(c: Comparison | None) -> str:
    """'better' / 'worse' (Holm p < ALPHA) / 'no detectable difference' / 'not tested'."""
    if c is None or c.holm_p is None:
        return "not tested"
    if not c.significant:
        return SAME
    return BETTER if c.a_better else WORSE


def _means(study: Study, ps: ProblemSummary) -> dict[str, float]:
    """arm -> mean final test accuracy over seeds (arms without one are left out)."""
    out = {}
    for arm in ps.arms:
        values = accuracy_by_seed(study, ps, arm)
        if np.isfinite(values).any():
            out[arm] = float(np.nanmean(values))
    return out


def _comparison(summary: Summary, problem: str, a: str, b: str) -> Comparison | None:
    return next(
        (c for c in summary.comparisons if (c.problem, c.arm_a, c.arm_b) == (problem, a, b)
         and c.metric.key == "test_accuracy"),
        None,
    )  # fmt: skip


def _interval_text(c: Comparison | None) -> str:
    r = c.result if c is not None else None
    if r is None or r.mean_diff is None:
        return NA
    text = f"{r.mean_diff:+.4f}"
    if r.ci_low is not None:
        text += f" [{r.ci_low:+.4f}, {r.ci_high:+.4f}]"
    return text


@dataclass
class VerdictRow:
    """One line of the verdict: what won, where the uncertainty arm stands, by how much."""

    problem: str
    arm: str
    best: str
    rank: str
    baseline: str
    difference: str
    verdict: str
    comparison: Comparison | None = None


def problem_rows(study: Study, summary: Summary, ps: ProblemSummary) -> list[VerdictRow]:
    """One row per uncertainty arm of ``ps`` (none when it has no uncertainty arm)."""
    means = _means(study, ps)
    if not means:
        return [VerdictRow(ps.problem, arm, NA, NA, NA, NA, "not tested: no test accuracy")
                for arm in ps.uncertainty_arms]  # fmt: skip
    order = sorted(means, key=lambda arm: -means[arm])
    best = order[0]
    baselines = [arm for arm in order if arm in ps.baseline_arms]
    rows = []
    for arm in ps.uncertainty_arms:
        rank = f"{order.index(arm) + 1} of {len(order)}" if arm in means else NA
        if not baselines:
            rows.append(VerdictRow(ps.problem, arm, best, rank, NA, NA, "not tested: no baseline"))
            continue
        c = _comparison(summary, ps.problem, arm, baselines[0])
        rows.append(VerdictRow(ps.problem, arm, f"{best} ({fmt(means[best])})", rank,
                               f"{baselines[0]} ({fmt(means[baselines[0]])})",
                               _interval_text(c), marker(c), c))  # fmt: skip
    return rows


def across_rows(study: Study, summary: Summary) -> list[VerdictRow]:
    """Across problems: IQM ranks and rliable's P(X > Y) against the best baseline."""
    if len(summary.problems) < 2:
        return []
    scores = {}
    for arm in study.arms():
        matrix = across_matrix(study, summary, arm)[0]
        if matrix.size:
            scores[arm] = (iqm(matrix), matrix)
    unc = sorted({a for ps in summary.problems.values() for a in ps.uncertainty_arms})
    bases = {a for ps in summary.problems.values() for a in ps.baseline_arms}
    order = sorted(scores, key=lambda arm: -scores[arm][0])
    baselines = [arm for arm in order if arm in bases]
    rows = []
    for arm in unc:
        if arm not in scores or not baselines:
            rows.append(VerdictRow(ACROSS, arm, NA, NA, NA, NA, "not tested: no complete seeds"))
            continue
        point, low, high = probability_of_improvement_ci(scores[arm][1], scores[baselines[0]][1])
        verdict = SAME
        if low is not None and low > 0.5:
            verdict = BETTER
        elif high is not None and high < 0.5:
            verdict = WORSE
        interval = "" if low is None else f" [{low:.2f}, {high:.2f}]"
        best = order[0]
        rows.append(VerdictRow(
            ACROSS, arm, f"{best} (IQM {fmt(scores[best][0])})",
            f"{order.index(arm) + 1} of {len(order)}",
            f"{baselines[0]} (IQM {fmt(scores[baselines[0]][0])})",
            f"P(X > Y) = {point:.2f}{interval}", verdict,
        ))  # fmt: skip
    return rows


def verdict_table(study: Study, summary: Summary) -> Table:
    """The table the report opens with (also written as verdict.csv)."""
    rows = [r for ps in summary.problems.values() for r in problem_rows(study, summary, ps)]
    rows += across_rows(study, summary)
    columns = ["problem", "uncertainty schedule", "best schedule (mean test acc)",
               "its rank", "best baseline (mean test acc)",
               "difference to best baseline [95% t-interval]", "verdict"]  # fmt: skip
    notes = [
        "primary metric: final test accuracy; difference = uncertainty - best baseline, mean "
        "over paired seeds with the interval of the A/B table; verdict: better / worse = "
        f"Holm-corrected paired t-test p < {ALPHA:g}, else no detectable difference",
    ]
    if len(summary.problems) > 1:
        notes.append(
            f"'{ACROSS}': ranks by IQM over (seeds x problems); the difference is rliable's "
            "probability of improvement P(X > Y) over the best baseline with its 95% "
            "stratified-bootstrap CI; better / worse = the CI excludes 0.5"
        )
    table_rows = [[r.problem, r.arm, r.best, r.rank, r.baseline, r.difference, r.verdict]
                  for r in rows]  # fmt: skip
    return Table("verdict", "Where the uncertainty schedule stands", columns, table_rows, notes)


def problem_sentences(study: Study, summary: Summary, ps: ProblemSummary) -> str:
    """One or two generated sentences about ``ps``: the headline, then the other tests."""
    rows = problem_rows(study, summary, ps)
    if not rows:
        return (f"{ps.problem}: no run uses the schedule {summary.uncertainty_schedule!r}, so "
                "nothing is compared.")  # fmt: skip
    out = []
    for row in rows:
        c = row.comparison
        if c is None or c.result is None or c.result.mean_diff is None:
            out.append(f"{ps.problem}: {row.arm} was not compared ({row.verdict}).")
            continue
        r = c.result
        p = "not tested" if c.holm_p is None else f"Holm p {_p_text(c.holm_p)}"
        where = "ahead of" if r.mean_diff > 0 else "behind" if r.mean_diff < 0 else "level with"
        out.append(
            f"{ps.problem}: {row.best.split(' (')[0]} has the highest mean test accuracy; "
            f"{row.arm} ranks {row.rank}, {abs(r.mean_diff):.4f} {where} the best baseline "
            f"{c.arm_b} ({row.verdict}, {p})."
        )
        mine = [x for x in summary.comparisons if x.problem == ps.problem and x.arm_a == row.arm]
        counts = {m: sum(1 for x in mine if marker(x) == m) for m in (BETTER, WORSE, SAME)}
        diverged, runs = ps.divergence.get(row.arm, (0, 0))
        extra = (f"Of its {len(mine)} A/B tests here (matrix below), {counts[BETTER]} "
                 f"significantly better, {counts[WORSE]} significantly worse, {counts[SAME]} "
                 "with no detectable difference")  # fmt: skip
        if diverged:
            extra += f"; it diverged in {diverged} of {runs} runs"
        out.append(extra + ".")
    return " ".join(out)


@dataclass
class Matrix:
    """Arms x metrics: each cell a mean difference and its kind, for a coloured grid.

    ``kinds[i][j]``: 'better-sig', 'better', 'worse-sig', 'worse', 'zero' or 'untested';
    '-sig' = significant after the Holm correction. ``labels[i]``: the row's leading cells.
    """

    title: str
    label_columns: list[str]
    metrics: list[str]
    labels: list[list[str]]
    cells: list[list[str]]
    kinds: list[list[str]]
    legend: str


def _cell(c: Comparison) -> tuple[str, str]:
    r = c.result
    if r is None or r.mean_diff is None:
        return "untested", "untested"
    # Epochs differ by whole epochs averaged over a few seeds: two decimals say enough.
    text = f"{r.mean_diff:+.2f}" if c.metric.censored else f"{r.mean_diff:+.4f}"
    if c.a_better is None:
        return text, "zero"
    if c.holm_p is None:
        return text, "untested"
    return text, ("better" if c.a_better else "worse") + ("-sig" if c.significant else "")


def ab_matrix(summary: Summary) -> Matrix:
    """The A/B table folded to one row per (problem, uncertainty arm, baseline)."""
    keys = list(dict.fromkeys((c.problem, c.arm_a, c.arm_b) for c in summary.comparisons))
    by_key = {(c.problem, c.arm_a, c.arm_b, c.metric.key): c for c in summary.comparisons}
    labels, cells, kinds = [], [], []
    for problem, a, b in keys:
        labels.append([problem, a, b])
        row = [_cell(by_key[(problem, a, b, m.key)]) for m in AB_METRICS]
        cells.append([text for text, _ in row])
        kinds.append([kind for _, kind in row])
    legend = (
        "Cell = mean difference A - B over paired seeds (A = uncertainty schedule, B = "
        "baseline; epochs to target in epochs, lower is better). Blue = A better, orange = A "
        f"worse; dark with a filled triangle = significant after the Holm correction (p < "
        f"{ALPHA:g}), light with a hollow triangle = not significant; grey = no difference; "
        "'untested' = too few seeds or no variance (reasons in the full A/B table)."
    )
    return Matrix("Uncertainty schedule vs each baseline, every metric",
                  ["problem", "A (uncertainty)", "B (baseline)"],
                  [m.label for m in AB_METRICS], labels, cells, kinds, legend)  # fmt: skip

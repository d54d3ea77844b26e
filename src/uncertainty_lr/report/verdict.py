"""The report's opening: the verdict table, a sentence or two per problem, and the A/B matrix.

Primary metric: final test accuracy (``accuracy_by_seed``: diverged runs count at chance
accuracy, 1/C). Each verdict shows the interval that belongs to its test: "better" /
"worse" is a Holm-corrected paired t-test p below ``ALPHA``, shown with the t-interval at
the level that agrees with that Holm p (``stats.holm_confidence``); "as good as" is the
non-inferiority test, shown with its one-sided 95 % lower bound against the margin. With
fewer than 3 paired seeds nothing is tested, and the verdict says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from uncertainty_lr.report.aggregates import ACROSS, across_matrix
from uncertainty_lr.report.load import Study
from uncertainty_lr.report.panels import mean_test_accuracy
from uncertainty_lr.report.static_lr import static_lr_note
from uncertainty_lr.report.summary import (
    AB_METRICS,
    ALPHA,
    Comparison,
    ProblemSummary,
    Summary,
)
from uncertainty_lr.report.tables import NA, Table, fmt, fmt_p
from uncertainty_lr.stats import competition_ranks, improvement_permutation_test, iqm

BETTER, SAME, WORSE, UNTESTED = "better", "no detectable difference", "worse", "not tested"


def _p_text(p: float) -> str:
    """'= 0.0123' or '< 0.0001'."""
    shown = fmt_p(p)
    return f"< {shown[1:]}" if shown.startswith("<") else f"= {shown}"


def marker(c: Comparison | None) -> str:
    """'better' / 'worse' (Holm p < ALPHA) / 'no detectable difference' / 'not tested'."""
    if c is None or c.holm_p is None:
        return UNTESTED
    if not c.significant:
        return SAME
    return BETTER if c.a_better else WORSE


def untested_reason(c: Comparison | None) -> str:
    """Why ``c`` has no test, in words a reader can act on ('2 paired seeds, ...')."""
    r = None if c is None else c.result
    if c is None:
        return "no comparison"
    if r is None:
        return c.reason or "the statistics refused the input"
    if r.n < 3:
        return f"{r.n} paired seed{'' if r.n == 1 else 's'}, and a test needs at least 3"
    if any("all paired differences are zero" in note for note in r.notes):
        return "every paired difference is zero"
    return "the paired differences have no variance"


def verdict_text(c: Comparison | None) -> str:
    """The verdict cell: the marker, and for an untested comparison why."""
    shown = marker(c)
    return f"{shown}: {untested_reason(c)}" if shown == UNTESTED else shown


def _ranks(scores: dict[str, float]) -> dict[str, str]:
    """arm -> 'k of n', tied arms sharing a rank (and saying so)."""
    ranks = dict(zip(scores, competition_ranks(list(scores.values())), strict=True))
    counts = {rank: list(ranks.values()).count(rank) for rank in ranks.values()}
    return {arm: f"{rank} of {len(ranks)}" + (" (tied)" if counts[rank] > 1 else "")
            for arm, rank in ranks.items()}  # fmt: skip


def _comparison(summary: Summary, problem: str, a: str, b: str) -> Comparison | None:
    return next(
        (c for c in summary.comparisons if (c.problem, c.arm_a, c.arm_b) == (problem, a, b)
         and c.metric.key == "test_accuracy"),
        None,
    )  # fmt: skip


def _interval_text(c: Comparison | None) -> str:
    """The mean difference and the interval of the verdict's test: at the Holm level."""
    r = c.result if c is not None else None
    if r is None or r.mean_diff is None:
        return NA
    text = f"{r.mean_diff:+.4f}"
    if c.holm_interval is not None:
        low, high = c.holm_interval
        text += f" [{low:+.4f}, {high:+.4f}] ({100 * c.holm_level:.2f}% t-interval)"
    return text


def non_inferiority_text(c: Comparison | None, margin: float) -> str:
    """'yes: lower bound -0.0031 > -0.005' / 'no: ...' / 'not tested: ...'."""
    ni = None if c is None else c.non_inferiority
    if ni is None:
        return NA
    if ni.lower is None:
        return f"not tested: {untested_reason(c)}" if ni.n < 3 else "not tested: no variance"
    sign = ">" if ni.holds else "<="
    return f"{'yes' if ni.holds else 'no'}: lower bound {ni.lower:+.4f} {sign} -{margin:g}"


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
    non_inferior: str = NA
    comparison: Comparison | None = None


def problem_rows(study: Study, summary: Summary, ps: ProblemSummary) -> list[VerdictRow]:
    """One row per uncertainty arm of ``ps`` (none when it has no uncertainty arm)."""
    means = mean_test_accuracy(study, ps)
    if not means:
        return [VerdictRow(ps.problem, arm, NA, NA, NA, NA, "not tested: no test accuracy")
                for arm in ps.uncertainty_arms]  # fmt: skip
    order = sorted(means, key=lambda arm: -means[arm])
    ranks = _ranks({arm: means[arm] for arm in order})
    best = order[0]
    baselines = [arm for arm in order if arm in ps.baseline_arms]
    rows = []
    for arm in ps.uncertainty_arms:
        rank = ranks.get(arm, NA)
        if not baselines:
            rows.append(VerdictRow(ps.problem, arm, best, rank, NA, NA, "not tested: no baseline"))
            continue
        c = _comparison(summary, ps.problem, arm, baselines[0])
        rows.append(VerdictRow(ps.problem, arm, f"{best} ({fmt(means[best])})", rank,
                               f"{baselines[0]} ({fmt(means[baselines[0]])})",
                               _interval_text(c), verdict_text(c),
                               non_inferiority_text(c, summary.margin), c))  # fmt: skip
    return rows


def across_rows(study: Study, summary: Summary) -> list[VerdictRow]:
    """Across problems: ranks by the IQM of normalised scores, and rliable's P(X > Y) against
    the best baseline with its permutation test."""
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
    ranks = _ranks({arm: scores[arm][0] for arm in order})
    per_problem = {
        ps.problem: _ranks(mean_test_accuracy(study, ps)) for ps in summary.problems.values()
    }
    baselines = [arm for arm in order if arm in bases]
    rows = []
    for arm in unc:
        if arm not in scores or not baselines:
            rows.append(VerdictRow(ACROSS, arm, NA, NA, NA, NA, "not tested: no complete seeds"))
            continue
        point, p = improvement_permutation_test(scores[arm][1], scores[baselines[0]][1])
        verdict = SAME if p >= ALPHA else (BETTER if point > 0.5 else WORSE)
        best = order[0]
        each = ", ".join(
            per_problem[problem].get(arm, NA).split(" of ")[0] for problem in per_problem
        )
        rows.append(VerdictRow(
            ACROSS, arm, f"{best} (IQM {fmt(scores[best][0])})",
            f"{ranks[arm]} (per problem: {each})",
            f"{baselines[0]} (IQM {fmt(scores[baselines[0]][0])})",
            f"P(X > Y) = {point:.2f}, permutation p {_p_text(p)}", verdict,
        ))  # fmt: skip
    return rows


def verdict_table(study: Study, summary: Summary) -> Table:
    """The table the report opens with (also written as verdict.csv)."""
    rows = [r for ps in summary.problems.values() for r in problem_rows(study, summary, ps)]
    rows += across_rows(study, summary)
    columns = ["problem", "uncertainty schedule", "best schedule (mean test acc)",
               "its rank", "best baseline (mean test acc)",
               "difference to best baseline [t-interval at the Holm level]", "verdict",
               f"as good as the best baseline (non-inferiority, margin {summary.margin:g})"]  # fmt: skip
    notes = [
        "primary metric: final test accuracy, a diverged run counting at chance accuracy "
        "(1/C); difference = uncertainty - best baseline, mean over paired seeds; verdict: "
        f"better / worse = Holm-corrected paired t-test p < {ALPHA:g}, else no detectable "
        "difference, which is not evidence of equality; the interval is the paired "
        "t-interval at the level that agrees with the Holm p (1 - 0.05 x p / Holm p, shown: "
        "it excludes 0 exactly when the verdict is better or worse); the unadjusted 95% "
        "interval is in the A/B table",
        f"as good as: the non-inferiority test, the one-sided 95% paired-t lower bound of the "
        f"difference above -{summary.margin:g} (the margin; `report --margin`); with fewer "
        "than 3 paired seeds nothing is tested",
        "tied means share a rank",
    ]
    if len(summary.problems) > 1:
        notes.append(
            f"'{ACROSS}': ranks by the IQM of normalised scores over (seeds x problems) (per "
            "problem 0 = chance accuracy, 1 = the best arm's mean), with the arm's rank on each "
            "problem; the difference is rliable's probability of improvement P(X > Y) over "
            "the best baseline; better / worse = its two-sided permutation test p < "
            f"{ALPHA:g} (runs relabelled within each problem; the bootstrap interval of the "
            "probability-of-improvement table is too narrow with few runs to be a test)"
        )
    table_rows = [[r.problem, r.arm, r.best, r.rank, r.baseline, r.difference, r.verdict,
                   r.non_inferior] for r in rows]  # fmt: skip
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
        # its rank is then that of constant LR, not of anything the rule did: say so
        static = static_lr_note(study, ps.problem, row.arm)
        if c is None or c.result is None or c.result.mean_diff is None:
            out.append(f"{ps.problem}: {row.arm} was not compared ({row.verdict}).")
            out.extend([static] if static else [])
            continue
        r = c.result
        test = row.verdict if c.holm_p is None else f"{row.verdict}, Holm p {_p_text(c.holm_p)}"
        where = "ahead of" if r.mean_diff > 0 else "behind" if r.mean_diff < 0 else "level with"
        out.append(
            f"{ps.problem}: {row.best.split(' (')[0]} has the highest mean test accuracy; "
            f"{row.arm} ranks {row.rank}, {abs(r.mean_diff):.4f} {where} the best baseline "
            f"{c.arm_b} ({test})."
        )
        out.append(_non_inferiority_sentence(c, summary.margin))
        out.extend([static] if static else [])
        mine = [x for x in summary.comparisons if x.problem == ps.problem and x.arm_a == row.arm]
        counts = {
            m: sum(1 for x in mine if marker(x) == m) for m in (BETTER, WORSE, SAME, UNTESTED)
        }
        diverged, runs = ps.divergence.get(row.arm, (0, 0))
        extra = (f"Of its {len(mine)} A/B tests here (matrix below), {counts[BETTER]} "
                 f"significantly better, {counts[WORSE]} significantly worse, {counts[SAME]} "
                 f"with no detectable difference and {counts[UNTESTED]} not tested (too few "
                 "seeds, no variance or no target)")  # fmt: skip
        if diverged:
            extra += f"; it diverged in {diverged} of {runs} runs"
        out.append(extra + ".")
    return " ".join(out)


def _non_inferiority_sentence(c: Comparison, margin: float) -> str:
    """'As good as cosine within 0.005: shown (one-sided 95% lower bound ...).' and so on."""
    ni = c.non_inferiority
    head = f"As good as {c.arm_b} within {margin:g} test accuracy (non-inferiority)"
    if ni is None or ni.lower is None:
        return f"{head}: not tested, {untested_reason(c) if ni is None or ni.n < 3 else 'no variance'}."
    verdict = "shown" if ni.holds else "not shown"
    return f"{head}: {verdict}, the one-sided 95% lower bound is {ni.lower:+.4f}."


@dataclass
class Matrix:
    """Arms x metrics: each cell a mean difference and its kind, for a coloured grid.

    ``kinds[i][j]``: 'better-sig', 'better', 'worse-sig', 'worse', 'zero' or 'untested';
    '-sig' = significant after the Holm correction. ``labels[i]``: the row's leading cells.
    ``palette``: kind -> (background, text colour, mark, meaning) for kinds of another
    matrix (the anytime goal check); None = the A/B kinds above (``html.CELL_STYLE``).
    """

    title: str
    label_columns: list[str]
    metrics: list[str]
    labels: list[list[str]]
    cells: list[list[str]]
    kinds: list[list[str]]
    legend: str
    palette: dict[str, tuple[str, str, str, str]] | None = None


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

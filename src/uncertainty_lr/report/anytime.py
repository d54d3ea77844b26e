"""The anytime report (``uncertainty-lr report STORE --budgets 6 12 18``; no torch).

For each budget B the study is read at B (``budgets.at_budget``) and gets its own verdict,
final-metrics and A/B tables, performance profile and AlgoPerf score, each labelled with
B; a summary table gives every arm's test accuracy and AlgoPerf score per budget. The A/B
tests of one budget are one Holm family, named before the study is run: the budgets are
separate questions (does the default hold up when the run is this long?), so a budget's
p-values are not corrected for the tests at other budgets.

The report opens with the study's two questions per budget (``goal_tables``): is the
uncertainty arm as good as the best budget-aware arm (non-inferior by the margin: the
one-sided 95 % paired lower bound of the test-accuracy difference is above -margin), and
does it beat every other budget-free arm on the AlgoPerf score. A diverged run counts at
chance accuracy (1/C) in every accuracy number, and each budget gets its divergence table.

Files (besides report.md / report.html): ``anytime_goal.csv``, ``anytime_goal_score.csv``,
``anytime_summary.csv``, ``anytime_algoperf.csv``,
and per budget ``verdict_<B>ep.csv``, ``final_metrics_<B>ep.csv``, ``ab_tests_<B>ep.csv``,
``algoperf_score_<B>ep.csv``, ``divergence_<B>ep.csv``,
``figures/performance_profile_<B>ep.png``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from uncertainty_lr.report.aggregates import algoperf_table, divergence_table, profile_times
from uncertainty_lr.report.budgets import (
    BUDGET_AWARE,
    BUDGET_FREE,
    at_budget,
    check_budgets,
    run_kind,
)
from uncertainty_lr.report.html import (
    Block,
    Details,
    Heading,
    Image,
    Paragraph,
    write_page,
)
from uncertainty_lr.report.load import Study
from uncertainty_lr.report.plots import arm_styles, plot_performance_profile
from uncertainty_lr.report.summary import Comparison, Summary, accuracy_by_seed, summarise
from uncertainty_lr.report.tables import (
    NA,
    Table,
    ab_table,
    final_metrics_table,
    fmt,
    raw,
    setup_table,
)
from uncertainty_lr.report.verdict import ab_matrix, verdict_table
from uncertainty_lr.stats import DEFAULT_MARGIN, algoperf_score, mean_std

HOW = (
    "Budget-aware arms are run once per budget with the true number of epochs and scored "
    "by that run. Budget-free arms never read the number of epochs, so one run at the "
    "longest budget answers every shorter one: they are scored at B by the first B epochs "
    "of that run, with the test metrics logged at epoch B (test_every_epoch = true). Each "
    "budget's A/B tests form their own Holm family (the primary family of that budget); "
    "no correction is made across budgets."
)


def _labelled(table: Table, budget: int) -> Table:
    """``table`` named and titled for its budget."""
    return dataclasses.replace(
        table, name=f"{table.name}_{budget}ep", title=f"{table.title} ({budget} epochs)"
    )


def _scores(summary: Summary) -> dict[str, float]:
    times, problems, _ = profile_times(summary)
    return algoperf_score(times) if times and problems else {}


def summary_tables(views: dict[int, tuple[Study, Summary]]) -> tuple[Table, Table]:
    """(arm x budget -> test accuracy mean ± std, arm x budget -> AlgoPerf score)."""
    budgets = list(views)
    studies = [study for study, _ in views.values()]
    arms: dict[tuple[str, str], None] = {}
    for study, _ in views.values():
        for problem in study.problems():
            arms.update(dict.fromkeys((problem, arm) for arm in study.arms(problem)))
    columns = ["problem", "schedule", "kind", *(f"test acc, {b} epochs" for b in budgets)]
    csv_columns = ["problem", "schedule", "kind"]
    csv_columns += [f"{stat}_{b}" for b in budgets for stat in ("mean", "std", "n", "diverged")]
    rows, csv_rows = [], []
    for problem, arm in sorted(arms, key=lambda key: (key[0], _kind_of(studies, *key))):
        kind = _kind_of(studies, problem, arm)
        row, csv_row = [problem, arm, kind], [problem, arm, kind]
        for study, summary in views.values():
            ps = summary.problems.get(problem)
            acc = accuracy_by_seed(study, ps, arm) if ps and arm in ps.arms else np.array([])
            mean, std = mean_std(acc)
            n = int(np.isfinite(acc).sum())
            diverged = len(study.runs_of(problem, arm, status="diverged"))
            text = NA if mean is None else fmt(mean) + ("" if std is None else f" ± {fmt(std)}")
            counted = f"n={n}" + (f", {diverged} diverged at chance" if diverged else "")
            row.append(text if mean is None else f"{text} ({counted})")
            csv_row += [raw(mean), raw(std), str(n), str(diverged)]
        rows.append(row)
        csv_rows.append(csv_row)
    accuracy = Table(
        "anytime_summary", "Test accuracy per budget", columns, rows,
        ["mean ± sample std over finished and diverged seeds (n), a diverged run counting at "
         "chance accuracy (1/C); kind: whether the arm is told the budget"],
        csv_columns, csv_rows,
    )  # fmt: skip
    scores = {b: _scores(summary) for b, (_, summary) in views.items()}
    names = sorted({arm for s in scores.values() for arm in s})
    score_rows = [[arm] + [NA if arm not in scores[b] else f"{scores[b][arm]:.3f}" for b in budgets]
                  for arm in names]  # fmt: skip
    score_csv = [[arm] + [raw(scores[b].get(arm)) for b in budgets] for arm in names]
    algoperf = Table(
        "anytime_algoperf", "AlgoPerf score per budget",
        ["schedule", *(f"{b} epochs" for b in budgets)], score_rows,
        ["area under each budget's performance profile (see the per-budget score tables)"],
        ["schedule", *(f"algoperf_{b}" for b in budgets)], score_csv,
    )  # fmt: skip
    return accuracy, algoperf


def best_budget_aware(study: Study, summary: Summary) -> dict[tuple[str, str], Comparison]:
    """(problem, uncertainty arm) -> its test-accuracy comparison with the budget-aware arm
    of the highest mean test accuracy over the paired seeds (diverged runs at chance)."""
    best: dict[tuple[str, str], Comparison] = {}
    for c in summary.comparisons:
        if c.metric.key != "test_accuracy" or c.result is None or c.result.mean_b is None:
            continue
        if _kind_of([study], c.problem, c.arm_b) != BUDGET_AWARE:
            continue
        key = (c.problem, c.arm_a)
        if key not in best or c.result.mean_b > best[key].result.mean_b:
            best[key] = c
    return best


def _goal_row(budget: int, c: Comparison, margin: float) -> tuple[list[str], list[str]]:
    """(display row, CSV row) of one non-inferiority goal check."""
    r, ni = c.result, c.non_inferiority
    diff = NA if r.mean_diff is None else f"{r.mean_diff:+.4f}"
    if ni is None or ni.lower is None:
        why = NA if ni is None else ni.notes[-1]
        shown, verdict = f"{diff} [lower bound: not tested]", f"not tested: {why}"
    else:
        shown, verdict = f"{diff} [{ni.lower:+.4f}, inf)", "yes" if ni.holds else "no"
    lower, p = (None, None) if ni is None else (ni.lower, ni.p)
    row = [str(budget), c.problem, c.arm_a, f"{c.arm_b} ({fmt(r.mean_b)})", shown, verdict]
    csv_row = [str(budget), c.problem, c.arm_a, c.arm_b, raw(r.mean_b), raw(r.mean_diff),
               raw(lower), raw(margin), raw(p), verdict.split(":")[0]]  # fmt: skip
    return row, csv_row


def goal_tables(views: dict[int, tuple[Study, Summary]]) -> tuple[Table, Table]:
    """The questions the anytime study asks, per budget.

    (1) Is the uncertainty arm, never told the budget, as good as the best budget-aware arm
    given the true budget: non-inferior by the summary's margin, i.e. is the one-sided 95 %
    paired-t lower bound of the test-accuracy difference (uncertainty - that arm) above
    -margin? (Not: does a two-sided interval include 0, which fewer or noisier seeds make
    easier.) The best budget-aware arm is the one with the highest mean test accuracy over
    the paired seeds; diverged runs count at chance accuracy on both sides.
    (2) Does it beat every other budget-free arm on the AlgoPerf score at that budget?
    """
    rows, csv_rows, score_rows = [], [], []
    margin = DEFAULT_MARGIN
    for budget, (study, summary) in views.items():
        margin = summary.margin
        for c in best_budget_aware(study, summary).values():
            row, csv_row = _goal_row(budget, c, summary.margin)
            rows.append(row)
            csv_rows.append(csv_row)
        scores = _scores(summary)
        free = {run.arm for run in study.runs if run_kind(run) == BUDGET_FREE}
        tested = {c.arm_a for c in summary.comparisons}  # the uncertainty arm(s)
        for arm in sorted(a for a in scores if a in tested):
            others = {a: v for a, v in scores.items() if a in free and a not in tested}
            top = max(others, key=others.get) if others else None
            beats = NA if top is None else ("yes" if scores[arm] > others[top] else "no")
            score_rows.append([str(budget), arm, f"{scores[arm]:.3f}",
                               NA if top is None else f"{top} ({others[top]:.3f})", beats])  # fmt: skip
    accuracy = Table(
        "anytime_goal", "Never told the budget vs the best budget-aware arm",
        ["budget (epochs)", "problem", "uncertainty schedule", "best budget-aware (mean test acc)",
         "difference [one-sided 95% lower bound, inf)", f"as good as it (non-inferior, margin {margin:g})"],
        rows,
        ["difference = uncertainty - best budget-aware arm in test accuracy over paired seeds, "
         "a diverged run counting at chance accuracy (1/C); as good as it = the non-inferiority "
         f"test: the one-sided 95% paired-t lower bound is above -{margin:g} (the margin, "
         "`report --margin`); not tested with fewer than 3 paired seeds"],
        ["budget", "problem", "uncertainty", "best_budget_aware", "best_mean", "mean_diff",
         "lower_bound", "margin", "p", "non_inferior"], csv_rows,
    )  # fmt: skip
    score = Table(
        "anytime_goal_score", "AlgoPerf score vs the other budget-free arms",
        ["budget (epochs)", "uncertainty schedule", "its AlgoPerf score",
         "best other budget-free arm", "beats every budget-free arm"], score_rows,
        ["scores as in the AlgoPerf score per budget table"],
    )  # fmt: skip
    return accuracy, score


def _kind_of(studies: list[Study], problem: str, arm: str) -> str:
    """Whether ``arm`` of ``problem`` is budget-aware or budget-free (n/a: no run)."""
    for study in studies:
        for run in study.runs_of(problem, arm):
            return run_kind(run)
    return NA


def write_budget_report(
    study: Study,
    out: Path,
    budgets,
    *,
    uncertainty_schedule: str = "uncertainty",
    target=None,
    target_fraction: float | None = None,
    command: str | None = None,
    margin: float = DEFAULT_MARGIN,
) -> Path:
    """Write the anytime report of ``study`` (loaded with ``by_budget=True``) to ``out``.

    ``budgets``: positive epoch counts (ValueError otherwise). Target, uncertainty schedule
    and non-inferiority ``margin`` as for ``write_report``; the target is set per budget
    from that budget's view.
    """
    budgets = check_budgets(budgets)
    fig_dir = out / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    styles = arm_styles(study.arms())
    views: dict[int, tuple[Study, Summary]] = {}
    sections: list[Block] = []
    for budget in budgets:
        view = at_budget(study, budget)
        summary = summarise(view, uncertainty_schedule=uncertainty_schedule, target=target,
                            target_fraction=target_fraction, margin=margin)  # fmt: skip
        views[budget] = (view, summary)
        tables = [verdict_table(view, summary), final_metrics_table(view, summary),
                  ab_table(view, summary), algoperf_table(summary), divergence_table(summary)]  # fmt: skip
        verdict, final, ab, score, divergence = (_labelled(t, budget) for t in tables)
        for table in (verdict, final, ab, score, divergence):
            table.write_csv(out / f"{table.name}.csv")
        sections += [Heading(f"Budget: {budget} epochs"), verdict, final, divergence]
        if len(summary.problems) > 1:
            path, notes = plot_performance_profile(
                summary, styles, fig_dir / f"performance_profile_{budget}ep.png"
            )
            if path is not None:
                caption = f"Performance profile at {budget} epochs (AlgoPerf score = its area)."
                sections.append(Image(path, f"performance profile, {budget} epochs", caption))
            elif notes:
                sections.append(
                    Paragraph(f"No performance profile at {budget} epochs: {notes[-1]}.")
                )
        sections += [score, ab_matrix(summary),
                     Details(f"Full A/B table, {budget} epochs ({ab.name}.csv)", [ab])]  # fmt: skip
        if view.notes:
            sections.append(Details(f"Runs left out at {budget} epochs", [Paragraph(n) for n in view.notes]))  # fmt: skip
    accuracy, algoperf = summary_tables(views)
    goal, goal_score = goal_tables(views)
    for table in (accuracy, algoperf, goal, goal_score):
        table.write_csv(out / f"{table.name}.csv")
    free = sorted({r.arm for r in study.runs if run_kind(r) == BUDGET_FREE})
    body: list[Block] = [
        Heading("Anytime comparison"),
        Paragraph(HOW),
        Paragraph(
            f"Budgets: {', '.join(map(str, budgets))} epochs. Budget-free arms: "
            f"{', '.join(free) or 'none'}."
        ),  # fmt: skip
        goal,
        goal_score,
        accuracy,
        algoperf,
        *sections,
        Heading("Setup"),
        Details(
            "Data sizes, optimiser, hardware, versions, command (setup.csv)",
            [setup_table(study, command)],
        ),  # fmt: skip
    ]
    write_page(out, "Uncertainty-LR anytime report", study.store_dir, body)
    return out

"""The anytime report (``uncertainty-lr report STORE --budgets 6 12 18``; no torch).

Its first screen answers the study's question at a glance: one verdict sentence per problem
(is the uncertainty arm ahead of, non-inferior to or behind the best budget-aware arm at
each budget: ``anytime_goal``), then per problem a figure of test accuracy against the
budget (``anytime_figure``), the goal checks as a coloured budget x problem matrix and the
AlgoPerf score per budget as bars. The tables behind them follow, long ones folded.

For each budget B the study is read at B (``budgets.at_budget``) and gets its own verdict,
final-metrics and A/B tables, performance profile and AlgoPerf score, each labelled with
B. The A/B tests of one budget are one Holm family, named before the study is run: the
budgets are separate questions (does the default hold up when the run is this long?), so
a budget's p-values are not corrected for the tests at other budgets. A diverged run
counts at chance accuracy (1/C) in every accuracy number, and each budget gets its
divergence table.

Files (besides report.md / report.html), every table also a CSV: ``anytime_goal.csv``,
``anytime_goal_score.csv``, ``anytime_summary.csv``, ``anytime_algoperf.csv``,
``setup.csv``, and per budget ``verdict_<B>ep.csv``, ``final_metrics_<B>ep.csv``,
``ab_tests_<B>ep.csv``, ``algoperf_score_<B>ep.csv``, ``divergence_<B>ep.csv``; figures
``figures/accuracy_vs_budget_<problem>.png`` (and ``..._rest_<problem>.png`` with the
arms it leaves out), ``figures/algoperf_by_budget.png``,
``figures/performance_profile_<B>ep.png``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from uncertainty_lr.experiments.files import write_refusal
from uncertainty_lr.report.aggregates import algoperf_table, divergence_table
from uncertainty_lr.report.anytime_figure import budget_figures
from uncertainty_lr.report.anytime_goal import (
    GoalCheck,
    algoperf_scores,
    goal_checks,
    goal_matrix,
    goal_tables,
    verdict_sentence,
)
from uncertainty_lr.report.budget_plots import plot_algoperf_bars
from uncertainty_lr.report.budgets import BUDGET_FREE, at_budget, check_budgets, run_kind
from uncertainty_lr.report.html import Block, Details, Heading, Image, Paragraph, write_page
from uncertainty_lr.report.load import Study
from uncertainty_lr.report.plots import arm_styles, file_slug, plot_performance_profile
from uncertainty_lr.report.static_lr import static_lr_note
from uncertainty_lr.report.summary import Summary, accuracy_by_seed, summarise
from uncertainty_lr.report.tables import (
    NA,
    Table,
    ab_table,
    final_metrics_table,
    fmt,
    raw,
    setup_table,
)
from uncertainty_lr.report.verdict import Matrix, ab_matrix, verdict_table
from uncertainty_lr.stats import DEFAULT_MARGIN, mean_std

HOW = (
    "Budget-aware arms are run once per budget with the true number of epochs and scored "
    "by that run. Budget-free arms never read the number of epochs, so one run at the "
    "longest budget answers every shorter one: they are scored at B by the first B epochs "
    "of that run, with the test metrics logged at epoch B (test_every_epoch = true). Each "
    "budget's A/B tests form their own Holm family (the primary family of that budget); "
    "no correction is made across budgets."
)

#: Tables and matrices with more rows than this are folded into a <details> block.
LONG_TABLE = 8

FIGURE_CAPTION = (
    "Test accuracy against the budget. A line is an arm never told the budget, read at "
    "each epoch of its one run (mean over seeds, band = 95% t-interval, clipped to [0, 1]; "
    "a bar where it was tested at its last epoch only); "
    "a marker is an arm told the budget, one run per budget (bar = 95% t-interval). The "
    "uncertainty arms are drawn bold, the others muted; a diverged run counts at chance "
    "accuracy. The y axis is zoomed to the budgets compared (dotted lines)."
)


def _labelled(table: Table, budget: int) -> Table:
    """``table`` named and titled for its budget."""
    return dataclasses.replace(
        table, name=f"{table.name}_{budget}ep", title=f"{table.title} ({budget} epochs)"
    )


def fold(block: Table | Matrix, summary: str | None = None) -> Block:
    """``block`` as it is when short, else folded under ``summary`` (default: its title)."""
    rows = block.rows if isinstance(block, Table) else block.labels
    if len(rows) <= LONG_TABLE:
        return block
    csv = f" ({block.name}.csv)" if isinstance(block, Table) else ""
    return Details(summary or f"{block.title}{csv}", [block])


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
    scores = {b: algoperf_scores(summary) for b, (_, summary) in views.items()}
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


def _kind_of(studies: list[Study], problem: str, arm: str) -> str:
    """Whether ``arm`` of ``problem`` is budget-aware or budget-free (n/a: no run)."""
    for study in studies:
        for run in study.runs_of(problem, arm):
            return run_kind(run)
    return NA


def _budget_section(budget: int, view: Study, summary: Summary, out: Path, styles) -> list[Block]:
    """One budget's tables (written as CSV too), profile and A/B matrix; long ones folded."""
    tables = [verdict_table(view, summary), final_metrics_table(view, summary),
              ab_table(view, summary), algoperf_table(summary), divergence_table(summary)]  # fmt: skip
    verdict, final, ab, score, divergence = (_labelled(t, budget) for t in tables)
    for table in (verdict, final, ab, score, divergence):
        table.write_csv(out / f"{table.name}.csv")
    blocks: list[Block] = [Heading(f"Budget: {budget} epochs"), fold(verdict), fold(final),
                           fold(divergence)]  # fmt: skip
    if len(summary.problems) > 1:
        path, notes = plot_performance_profile(
            summary, styles, out / "figures" / f"performance_profile_{budget}ep.png"
        )
        if path is not None:
            caption = f"Performance profile at {budget} epochs (AlgoPerf score = its area)."
            blocks.append(Image(path, f"performance profile, {budget} epochs", caption))
        elif notes:
            blocks.append(Paragraph(f"No performance profile at {budget} epochs: {notes[-1]}."))
    blocks += [fold(score), fold(ab_matrix(summary), f"A/B matrix, {budget} epochs"),
               Details(f"Full A/B table, {budget} epochs ({ab.name}.csv)", [ab])]  # fmt: skip
    if view.notes:
        blocks.append(Details(f"Runs left out at {budget} epochs", [Paragraph(n) for n in view.notes]))  # fmt: skip
    return blocks


def _verdict(study: Study, views: dict[int, tuple[Study, Summary]], checks: list[GoalCheck],
             uncertainty_schedule: str) -> list[Block]:  # fmt: skip
    """One sentence per problem and uncertainty arm, and one more when its LR never moved."""
    blocks: list[Block] = [Heading("Verdict")]
    for problem in study.problems():
        arms = dict.fromkeys(arm for _, summary in views.values() if problem in summary.problems
                             for arm in summary.problems[problem].uncertainty_arms)  # fmt: skip
        if not arms:
            blocks.append(Paragraph(f"{problem}: no run uses the schedule "
                                    f"{uncertainty_schedule!r}, so nothing is compared."))  # fmt: skip
        for arm in arms:
            static = static_lr_note(study, problem, arm)
            text = verdict_sentence(problem, arm, checks)
            blocks.append(Paragraph(text + (f" {static}" if static else "")))
    return blocks


def _figures(study: Study, budgets: list[int], checks: list[GoalCheck], fig_dir: Path,
             styles) -> list[Block]:  # fmt: skip
    """Per problem the accuracy-against-budget figure, and the one of the arms it leaves out
    (folded)."""
    blocks: list[Block] = [Heading("Accuracy against the budget")]
    taken: set[str] = set()
    for problem in study.problems():
        slug = file_slug(problem, taken)
        named = {c.comparison.arm_b for c in checks if c.comparison.problem == problem}
        try:
            first, second, rest = budget_figures(
                study, problem, budgets, fig_dir / f"accuracy_vs_budget_{slug}.png",
                fig_dir / f"accuracy_vs_budget_rest_{slug}.png", styles, named,
            )  # fmt: skip
        except Exception as error:  # noqa: BLE001 - a broken figure must not lose the report
            if write_refusal(error):
                raise  # a full or read-only disk fails the whole report, never one figure
            blocks.append(Paragraph(f"{problem}: the figure could not be drawn: "
                                    f"{type(error).__name__}: {error}"))  # fmt: skip
            continue
        if first is None:
            blocks.append(Paragraph(f"{problem}: no test accuracy to draw against the budget."))
            continue
        blocks.append(Image(first, f"{problem}: test accuracy against the budget", FIGURE_CAPTION))
        if second is not None:
            blocks.append(Details(
                f"{problem}: the other {len(rest)} arms against the budget ({', '.join(rest)})",
                [Image(second, f"{problem}: the other arms against the budget",
                       "The arms left out of the figure above, beside the uncertainty arms.")],
            ))  # fmt: skip
    return blocks


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

    Order: the verdict sentences, the accuracy-against-budget figure per problem, the goal
    matrix, the AlgoPerf bars, the tables behind them (folded), how budgets are scored,
    a section per budget, the setup.
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
        sections += _budget_section(budget, view, summary, out, styles)
    checks = goal_checks(views)
    accuracy, algoperf = summary_tables(views)
    goal, goal_score = goal_tables(views, checks)
    setup = setup_table(study, command)
    for table in (accuracy, algoperf, goal, goal_score, setup):
        table.write_csv(out / f"{table.name}.csv")
    scores = {b: algoperf_scores(summary) for b, (_, summary) in views.items()}
    bars = plot_algoperf_bars(scores, styles, fig_dir / "algoperf_by_budget.png")
    free = sorted({r.arm for r in study.runs if run_kind(r) == BUDGET_FREE})
    body: list[Block] = [
        *_verdict(study, views, checks, uncertainty_schedule),
        *_figures(study, budgets, checks, fig_dir, styles),
        Heading("Goal check"),
        goal_matrix(checks),
        Heading("AlgoPerf score"),
        *([Image(bars, "AlgoPerf score per budget",
                 "AlgoPerf score per budget (anytime_algoperf.csv): the area under that "
                 "budget's performance profile of epochs to the target; 1 = fastest on every "
                 "problem. Uncertainty arms in colour, the others grey.")] if bars else
          [Paragraph("No AlgoPerf score: no problem has a target at any budget.")]),
        goal_score,
        Heading("Tables"),
        Details(f"{goal.title} ({goal.name}.csv)", [goal]),
        Details(f"{accuracy.title} ({accuracy.name}.csv)", [accuracy]),
        Details(f"{algoperf.title} ({algoperf.name}.csv)", [algoperf]),
        Heading("How budgets are scored"),
        Paragraph(HOW),
        Paragraph(f"Budgets: {', '.join(map(str, budgets))} epochs. Budget-free arms: "
                  f"{', '.join(free) or 'none'}."),
        *sections,
        Heading("Setup"),
        Details(f"Data sizes, optimiser, hardware, versions, command ({setup.name}.csv)", [setup]),
    ]  # fmt: skip
    write_page(out, "Uncertainty-LR anytime report", study.store_dir, body)
    return out

"""``write_report``: results store -> plots, CSV tables, report.md and report.html.

Every file is written into a hidden staging folder first and the whole set is moved into
place at the end, ``report.html`` last (``experiments.files.staged_folder``): a kill or a
full disk leaves the previous report as it was, and a present ``report.html`` means the
files beside it are of the same report.

Output folder layout (default ``<store_dir>/report``)::

    report.md, report.html         the report (HTML is self-contained)
    setup.csv, final_metrics.csv, convergence.csv, ab_tests.csv
    eval_summaries.txt             one Hugging Face Trainer-style eval line per run
    figures/*.png                  curves, test accuracy, epochs to target, profile
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

from uncertainty_lr.checks import check_number, check_text, check_type
from uncertainty_lr.experiments.files import staged_folder, write_file
from uncertainty_lr.experiments.grid import canonical_label
from uncertainty_lr.report.aggregates import (
    algoperf_table,
    divergence_table,
    improvement_table,
    iqm_table,
)
from uncertainty_lr.report.analysis import analysis_paragraphs
from uncertainty_lr.report.anytime import write_budget_report
from uncertainty_lr.report.budgets import check_budgets
from uncertainty_lr.report.cells import Table
from uncertainty_lr.report.html import (
    Block,
    Bullets,
    Code,
    Details,
    Heading,
    Paragraph,
    write_page,
)
from uncertainty_lr.report.load import RunData, Study, load_study
from uncertainty_lr.report.sections import (  # noqa: F401 - the figure hooks, imported from here too
    PROBLEM_FIGURES,
    PROFILE_CAPTION,
    FigureSpec,
    SectionHook,
    figure_sections,
)
from uncertainty_lr.report.summary import Summary, summarise
from uncertainty_lr.report.tables import (
    ab_table,
    convergence_table,
    eval_summary_lines,
    final_metrics_table,
    setup_table,
)
from uncertainty_lr.report.tuning import Rulesets, retitle_main, split_rulesets, tuning_blocks
from uncertainty_lr.report.verdict import ab_matrix, problem_sentences, verdict_table
from uncertainty_lr.stats import DEFAULT_MARGIN, check_margin


def _check_target(target: object) -> None:
    values = target.values() if isinstance(target, Mapping) else [target]
    for value in values:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not ok or not math.isfinite(value) or not 0 < value <= 1:
            raise ValueError(
                f"target must be a validation accuracy in (0, 1] (or a dict problem -> one), "
                f"got {value!r}"
            )


def _check_arguments(target, target_fraction, uncertainty_schedule, command) -> None:
    if target is not None:
        _check_target(target)
    check_number("target_fraction", target_fraction, 0.0, 1.0, "(]", optional=True)
    check_text("uncertainty_schedule", uncertainty_schedule, why=" (a schedule name)")
    check_type("command", command, (str, type(None)), "a string or None")


#: Files that mark a report as whole: moved into place after every other file.
REPORT_MARKERS = ("report.md", "report.html")


def _staged(write: Callable[..., Path]) -> Callable[..., Path]:
    """``write(store_dir, out_dir, ...)`` into a staging folder, then moved into ``out_dir``."""

    @functools.wraps(write)
    def staged(store_dir: str | Path, out_dir: str | Path | None = None, **options) -> Path:
        final = Path(store_dir) / "report" if out_dir is None else Path(out_dir)
        with staged_folder(final, last=REPORT_MARKERS, what="report folder",
                           hint="; write it elsewhere (report --out FOLDER)") as staging:  # fmt: skip
            write(store_dir, staging, **options)
        return final

    return staged


@_staged
def write_report(
    store_dir: str | Path,
    out_dir: str | Path | None = None,
    *,
    target: float | Mapping[str, float] | None = None,
    target_fraction: float | None = None,
    uncertainty_schedule: str = "uncertainty",
    command: str | None = None,
    schedules: list[str] | None = None,
    extra_sections: Sequence[SectionHook] = (),
    budgets: Sequence[int] | None = None,
    margin: float | None = None,
    also: Sequence[str | Path] = (),
) -> Path:
    """Write the full report of the store in ``store_dir``; return the output folder.

    ``out_dir`` defaults to ``<store_dir>/report``. ``target``: the validation accuracy
    (fraction in (0, 1]) that defines "time to target", for all problems or as a dict per
    problem (problems it lacks get the default); by default ``target_fraction`` (default
    0.99) x the median best validation accuracy of the best baseline (``target`` wins when
    both are given). ``uncertainty_schedule``: the schedule name compared against every
    other schedule. ``command``: the command line that produced the store,
    shown in the setup table. Raises ``ValueError`` for a missing store or bad arguments;
    otherwise writes what it can and says in the report what it could not compute.
    ``schedules``: report only runs with these schedule labels (default: every run).
    ``extra_sections``: hooks that add blocks to the end of each problem's section.
    ``budgets``: epoch budgets for the anytime report instead (``report/anytime.py``): per
    budget the verdict, final metrics, A/B tables, profile and AlgoPerf score.
    ``margin``: the non-inferiority margin in test accuracy (None: ``DEFAULT_MARGIN``,
    0.005): "as good as" a baseline means the one-sided 95 % paired lower bound of the
    difference is above -margin. ``also``: more results folders whose comparison runs join
    those of ``store_dir`` (``load_study``), e.g. budget-aware arms tuned at another budget.

    Order of the report: verdict table and a sentence or two per problem; a section per
    problem with its figures; across problems (performance profile, AlgoPerf score); the
    A/B matrix; rliable aggregates and divergence rates; then folded: the full A/B table,
    final metrics, convergence, the written analysis, evaluation summaries and the setup.
    """
    _check_arguments(target, target_fraction, uncertainty_schedule, command)
    uncertainty_schedule = canonical_label(uncertainty_schedule)  # options in any order
    margin = DEFAULT_MARGIN if margin is None else check_margin(margin)
    if budgets is not None:
        budgets = check_budgets(budgets)
    study = load_study(store_dir, by_budget=budgets is not None, also=also)
    if schedules is not None:
        study.runs = _runs_of_schedules(study, schedules)
    rulesets = split_rulesets(study)  # tuning runs and the second ruleset: report/tuning.py
    study = rulesets.main
    out = Path(store_dir) / "report" if out_dir is None else Path(out_dir)
    if budgets is not None:
        return write_budget_report(study, out, budgets, uncertainty_schedule=uncertainty_schedule,
                                   target=target, target_fraction=target_fraction, command=command,
                                   margin=margin)  # fmt: skip
    fig_dir = out / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    summary = summarise(
        study,
        uncertainty_schedule=uncertainty_schedule,
        target=target,
        target_fraction=target_fraction,
        margin=margin,
    )
    tables = _write_tables(study, summary, command, rulesets, out)
    eval_lines = _write_eval_summaries(study, out)
    section_blocks, figure_notes = figure_sections(study, summary, fig_dir, extra_sections)
    if len(summary.problems) <= 1:
        section_blocks.append(tables.score)  # no profile section: the score stays with the tables
    tuning, tuning_notes = tuning_blocks(rulesets, summary, Path(store_dir), out,
                                         uncertainty_schedule=uncertainty_schedule, target=target,
                                         target_fraction=target_fraction, margin=margin)  # fmt: skip
    body = _report_body(study, summary, tables, section_blocks, figure_notes + tuning_notes,
                        tuning, eval_lines)  # fmt: skip
    write_page(out, "Uncertainty-LR study report", Path(store_dir), body)
    return out


def _runs_of_schedules(study: Study, schedules: list[str]) -> list[RunData]:
    """The runs of ``study`` whose schedule is one of ``schedules``; every name must have runs."""
    schedules = [canonical_label(spec) for spec in schedules]  # options in any order
    unknown = sorted(set(schedules) - set(study.arms()))
    if unknown:
        raise ValueError(
            f"no runs with schedule(s) {', '.join(unknown)}; the store has: {', '.join(study.arms())}"
        )
    return [run for run in study.runs if run.schedule in schedules]


class _Tables(NamedTuple):
    """The tables of the main report, each also written as ``<name>.csv``."""

    verdict: Table
    setup: Table
    final: Table
    convergence: Table
    ab: Table
    divergence: Table
    iqm: Table
    improvement: Table
    score: Table


def _write_tables(
    study: Study, summary: Summary, command: str | None, rulesets: Rulesets, out: Path
) -> _Tables:
    """Compute the report's tables and write each to ``out`` as CSV."""
    verdict = verdict_table(study, summary)
    ab = ab_table(study, summary)
    final, convergence = final_metrics_table(study, summary), convergence_table(study, summary)
    divergence, iqm = divergence_table(summary), iqm_table(study, summary)
    improvement, score, setup = (
        improvement_table(study, summary),
        algoperf_table(summary),
        setup_table(study, command),
    )
    retitle_main([ab], rulesets)
    tables = _Tables(verdict, setup, final, convergence, ab, divergence, iqm, improvement, score)
    for table in tables:
        table.write_csv(out / f"{table.name}.csv")
    return tables


def _write_eval_summaries(study: Study, out: Path) -> list[str]:
    """Write ``eval_summaries.txt`` (one line per run) and return its lines."""
    eval_lines = eval_summary_lines(study)
    write_file(out / "eval_summaries.txt", "\n".join(eval_lines) + ("\n" if eval_lines else ""))
    return eval_lines


def _report_body(
    study: Study,
    summary: Summary,
    tables: _Tables,
    section_blocks: list[Block],
    figure_notes: list[str],
    tuning: list[Block],
    eval_lines: list[str],
) -> list[Block]:
    """The report's blocks in order: verdict, the sections, notes on figures, the A/B matrix,
    aggregates, tuning, then the folded details."""
    paragraphs = analysis_paragraphs(study, summary)
    body: list[Block] = [
        Heading("Verdict"),
        tables.verdict,
        *(Paragraph(problem_sentences(study, summary, ps)) for ps in summary.problems.values()),
        *section_blocks,
    ]  # fmt: skip
    if figure_notes:
        body += [Paragraph("Figures not drawn or incomplete:"), Bullets(figure_notes)]
    return body + [
        Heading("A/B matrix"),
        ab_matrix(summary),
        Details("Full A/B table with footnotes (also ab_tests.csv)", [tables.ab]),
        Heading("Aggregates and divergence"),
        tables.iqm,
        tables.improvement,
        tables.divergence,
        *tuning,
        *_detail_blocks(tables, paragraphs, eval_lines),
    ]


def _detail_blocks(tables: _Tables, paragraphs: list[str], eval_lines: list[str]) -> list[Block]:
    """The folded end of the report: final metrics, convergence, the written analysis,
    evaluation summaries and the setup."""
    return [
        Heading("Details"),
        Details("Final metrics per schedule (final_metrics.csv)", [tables.final]),
        Details("Convergence speed (convergence.csv)", [tables.convergence]),
        Details("Written analysis", [Paragraph(text) for text in paragraphs]),
        Details("Evaluation summaries (eval_summaries.txt)", [
            Paragraph(
                "One line per run in the Hugging Face Trainer form: test metrics when the run "
                "has them, else the last epoch's validation metrics; eval_runtime is the last "
                "epoch's evaluation time in seconds."
            ),
            Code(eval_lines or ["(no runs)"]),
        ]),
        Heading("Setup"),
        Details("Data sizes, optimiser, hardware, versions, command (setup.csv)", [tables.setup]),
    ]  # fmt: skip

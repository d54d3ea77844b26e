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
from dataclasses import dataclass
from pathlib import Path

from uncertainty_lr.checks import check_number, check_text, check_type
from uncertainty_lr.experiments.files import staged_folder, write_file, write_refusal
from uncertainty_lr.report.aggregates import (
    algoperf_table,
    divergence_table,
    improvement_table,
    iqm_table,
)
from uncertainty_lr.report.analysis import analysis_paragraphs
from uncertainty_lr.report.anytime import write_budget_report
from uncertainty_lr.report.budgets import check_budgets
from uncertainty_lr.report.html import (
    Block,
    Bullets,
    Code,
    Details,
    Heading,
    Image,
    Paragraph,
    write_page,
)
from uncertainty_lr.report.load import Study, load_study
from uncertainty_lr.report.panels import SHOWN_BASELINES, curve_arms
from uncertainty_lr.report.plots import (
    arm_styles,
    file_slug,
    plot_curves,
    plot_epochs_to_target,
    plot_final_accuracy,
    plot_performance_profile,
)
from uncertainty_lr.report.summary import ProblemSummary, Summary, summarise
from uncertainty_lr.report.tables import (
    ab_table,
    convergence_table,
    eval_summary_lines,
    final_metrics_table,
    setup_table,
)
from uncertainty_lr.report.tuning import retitle_main, split_rulesets, tuning_blocks
from uncertainty_lr.report.verdict import ab_matrix, problem_sentences, verdict_table
from uncertainty_lr.stats import DEFAULT_MARGIN, check_margin


@dataclass(frozen=True)
class FigureSpec:
    """One per-problem figure of the report, drawn in list order under the problem's heading.

    ``draw(study, ps, styles, path)`` writes a PNG to ``path`` and returns it (None = nothing
    to draw); ``caption`` is one line saying what to look for (``{target}`` is filled in).
    Further figures (an LR-sensitivity plot, say) are added by appending to
    ``PROBLEM_FIGURES`` or through ``write_report(extra_sections=...)``.
    """

    kind: str
    caption: str
    draw: Callable[..., Path | None]


PROBLEM_FIGURES: list[FigureSpec] = [
    FigureSpec(
        "curves",
        "Learning curves of the uncertainty arms and the "
        f"{SHOWN_BASELINES} baselines of highest mean test accuracy (any others: folded below): "
        "look for when the uncertainty schedule's LR moves and whether its loss and accuracy "
        "pull ahead; band = 95% t-interval over seeds (clipped to what the metric can take), "
        "dashed line ending in x = a run that stopped (diverged, failed or running).",
        lambda study, ps, styles, path: plot_curves(
            study, ps, styles, path, curve_arms(study, ps)[0]
        ),  # fmt: skip
    ),
    FigureSpec(
        "epochs_to_target",
        "Epochs to the target validation accuracy ({target}): lower is faster; hollow markers "
        "at the top never reached it (diverged runs included).",
        lambda study, ps, styles, path: plot_epochs_to_target(ps, styles, path),
    ),
    FigureSpec(
        "test_accuracy",
        "Final test accuracy per finished seed: do the uncertainty schedule's seeds sit "
        "above or below the best baseline's?",
        lambda study, ps, styles, path: plot_final_accuracy(study, ps, styles, path),
    ),
]

PROFILE_CAPTION = (
    "Performance profile: fraction of problems solved within tau x the fastest schedule's "
    "median epochs; higher and further left is better (AlgoPerf score below = its area)."
)

#: Extra blocks for one problem's section: (study, summary, problem summary, figure folder)
#: -> blocks (headings level 3 or deeper, tables, images). A tuning table or an
#: LR-sensitivity figure goes in this way.
SectionHook = Callable[[Study, Summary, ProblemSummary, Path], list]


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


def _sections(
    study: Study,
    summary: Summary,
    fig_dir: Path,
    extra_sections: Sequence[SectionHook],
) -> tuple[list[Block], list[str]]:
    """A section per problem (sentences, figures, extras), then one across problems.

    A figure that fails is replaced by a note, never a crash.
    """
    blocks: list[Block] = []
    notes: list[str] = []
    styles = arm_styles(study.arms())
    taken: set[str] = set()

    def draw(what: str, fn, *args):
        try:
            return fn(*args)
        except Exception as error:  # noqa: BLE001 - a broken figure must not lose the report
            if write_refusal(error):
                raise  # a full or read-only disk fails the whole report, never one figure
            notes.append(f"{what} could not be drawn: {type(error).__name__}: {error}")
            return None

    for ps in summary.problems.values():
        slug = file_slug(ps.problem, taken)
        blocks.append(Heading(f"Problem: {ps.problem}"))
        for spec in PROBLEM_FIGURES:
            path = draw(f"{ps.problem} {spec.kind.replace('_', ' ')}", spec.draw, study, ps,
                        styles, fig_dir / f"{spec.kind}_{slug}.png")  # fmt: skip
            if path is not None:
                caption = spec.caption.format(target=ps.target_note)
                blocks.append(Image(path, f"{ps.problem}: {spec.kind.replace('_', ' ')}", caption))
            if spec.kind == "curves":
                blocks += _other_curves(
                    study, ps, styles, fig_dir / f"curves_rest_{slug}.png", draw
                )
        if ps.target is None:
            notes.append(f"{ps.problem}: no epochs-to-target figure ({ps.target_note})")
        for hook in extra_sections:
            blocks += draw(f"{ps.problem} extra section", hook, study, summary, ps, fig_dir) or []
    if len(summary.problems) > 1:
        blocks.append(Heading("Across problems"))
        result = draw("performance profile", plot_performance_profile, summary, styles,
                      fig_dir / "performance_profile.png")  # fmt: skip
        if result is not None:
            path, profile_notes = result
            notes.extend(profile_notes)
            if path:
                blocks.append(Image(path, "performance profile", PROFILE_CAPTION))
        blocks.append(algoperf_table(summary))
    else:
        notes.append("performance profile not drawn: it needs more than one problem")
    return blocks, notes


def _other_curves(study: Study, ps: ProblemSummary, styles, path: Path, draw) -> list[Block]:
    """The training curves of the baselines the first curves figure leaves out (it shows the
    uncertainty arms and the best ``SHOWN_BASELINES``), folded, beside the uncertainty arms."""
    rest = curve_arms(study, ps)[1]
    if not rest:
        return []
    drawn = draw(f"{ps.problem} curves of the other baselines", plot_curves, study, ps, styles,
                 path, [*ps.uncertainty_arms, *rest], "the other baselines' training curves")  # fmt: skip
    if drawn is None:
        return []
    return [Details(
        f"Training curves of the other {len(rest)} baselines ({', '.join(rest)})",
        [Image(drawn, f"{ps.problem}: curves of the other baselines",
               "The baselines left out of the figure above, with the uncertainty arms again for "
               "reference; same scales and bands.")],
    )]  # fmt: skip


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
    difference is above -margin.

    Order of the report: verdict table and a sentence or two per problem; a section per
    problem with its figures; across problems (performance profile, AlgoPerf score); the
    A/B matrix; rliable aggregates and divergence rates; then folded: the full A/B table,
    final metrics, convergence, the written analysis, evaluation summaries and the setup.
    """
    _check_arguments(target, target_fraction, uncertainty_schedule, command)
    margin = DEFAULT_MARGIN if margin is None else check_margin(margin)
    if budgets is not None:
        budgets = check_budgets(budgets)
    study = load_study(store_dir, by_budget=budgets is not None)
    if schedules is not None:
        unknown = sorted(set(schedules) - set(study.arms()))
        if unknown:
            raise ValueError(
                f"no runs with schedule(s) {', '.join(unknown)}; the store has: {', '.join(study.arms())}"
            )
        study.runs = [run for run in study.runs if run.schedule in schedules]
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
    for table in (verdict, setup, final, convergence, ab, divergence, iqm, improvement, score):
        table.write_csv(out / f"{table.name}.csv")
    eval_lines = eval_summary_lines(study)
    write_file(out / "eval_summaries.txt", "\n".join(eval_lines) + ("\n" if eval_lines else ""))
    section_blocks, figure_notes = _sections(study, summary, fig_dir, extra_sections)
    if len(summary.problems) <= 1:
        section_blocks.append(score)  # no profile section: the score stays with the tables
    tuning, tuning_notes = tuning_blocks(rulesets, summary, Path(store_dir), out,
                                         uncertainty_schedule=uncertainty_schedule, target=target,
                                         target_fraction=target_fraction, margin=margin)  # fmt: skip
    figure_notes += tuning_notes

    paragraphs = analysis_paragraphs(study, summary)
    body: list[Block] = [
        Heading("Verdict"),
        verdict,
        *(Paragraph(problem_sentences(study, summary, ps)) for ps in summary.problems.values()),
        *section_blocks,
    ]  # fmt: skip
    if figure_notes:
        body += [Paragraph("Figures not drawn or incomplete:"), Bullets(figure_notes)]
    body += [
        Heading("A/B matrix"),
        ab_matrix(summary),
        Details("Full A/B table with footnotes (also ab_tests.csv)", [ab]),
        Heading("Aggregates and divergence"),
        iqm,
        improvement,
        divergence,
        *tuning,
        Heading("Details"),
        Details("Final metrics per schedule (final_metrics.csv)", [final]),
        Details("Convergence speed (convergence.csv)", [convergence]),
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
        Details("Data sizes, optimiser, hardware, versions, command (setup.csv)", [setup]),
    ]  # fmt: skip
    write_page(out, "Uncertainty-LR study report", Path(store_dir), body)
    return out

"""``write_report``: results store -> plots, CSV tables, report.md and report.html.

Output folder layout (default ``<store_dir>/report``)::

    report.md, report.html         the report (HTML is self-contained)
    setup.csv, final_metrics.csv, convergence.csv, ab_tests.csv
    eval_summaries.txt             one Hugging Face Trainer-style eval line per run
    figures/*.png                  curves, test accuracy, epochs to target, profile
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path

from uncertainty_lr.report.analysis import analysis_paragraphs
from uncertainty_lr.report.html import (
    Block,
    Bullets,
    Code,
    Heading,
    Image,
    Paragraph,
    render_html,
    render_markdown,
)
from uncertainty_lr.report.load import Study, load_study
from uncertainty_lr.report.plots import (
    arm_styles,
    plot_curves,
    plot_epochs_to_target,
    plot_final_accuracy,
    plot_performance_profile,
)
from uncertainty_lr.report.summary import Summary, summarise
from uncertainty_lr.report.tables import (
    Table,
    ab_table,
    convergence_table,
    eval_summary_lines,
    final_metrics_table,
    setup_table,
)
from uncertainty_lr.report.tuning import retitle_main, split_rulesets, tuning_blocks

CAPTIONS = {
    "curves": "Validation loss, validation accuracy, learning rate and normalised validation "
    "entropy per epoch; line = mean of finished seeds, band = 95% t-interval, dashed line "
    "ending in x = a diverged, failed or running run.",
    "test_accuracy": "Final test accuracy of every finished seed per schedule.",
    "epochs_to_target": "Epochs to reach the target validation accuracy ({target}). Hollow "
    "markers: never reached within the budget (counted as budget + 1).",
    "profile": "AlgoPerf performance profile: the fraction of problems on which a schedule "
    "reaches the target within tau times the best schedule's median epochs.",
}


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
    if target_fraction is not None:
        ok = isinstance(target_fraction, (int, float)) and not isinstance(target_fraction, bool)
        if not ok or not 0 < target_fraction <= 1:
            raise ValueError(f"target_fraction must be in (0, 1], got {target_fraction!r}")
    if not isinstance(uncertainty_schedule, str) or not uncertainty_schedule:
        raise ValueError(
            f"uncertainty_schedule must be a non-empty schedule name, got {uncertainty_schedule!r}"
        )
    if command is not None and not isinstance(command, str):
        raise ValueError(f"command must be a string or None, got {type(command).__name__}")


def _slug(text: str, taken: set[str]) -> str:
    """A file-name-safe, unique version of a problem name."""
    base = re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._")[:60] or "problem"
    slug, i = base, 2
    while slug in taken:
        slug, i = f"{base}_{i}", i + 1
    taken.add(slug)
    return slug


def _figures(study: Study, summary: Summary, fig_dir: Path) -> tuple[list[Block], list[str]]:
    """Draw every figure; a figure that fails is replaced by a note, never a crash."""
    blocks: list[Block] = []
    notes: list[str] = []
    styles = arm_styles(study.arms())
    taken: set[str] = set()

    def draw(what: str, fn, *args):
        try:
            return fn(*args)
        except Exception as error:  # noqa: BLE001 - a broken figure must not lose the report
            notes.append(f"{what} could not be drawn: {type(error).__name__}: {error}")
            return None

    for ps in summary.problems.values():
        slug = _slug(ps.problem, taken)
        blocks.append(Heading(f"Figures: {ps.problem}", 3))
        drawn = {
            "curves": draw(f"{ps.problem} curves", plot_curves, study, ps, styles,
                           fig_dir / f"curves_{slug}.png"),
            "test_accuracy": draw(f"{ps.problem} test accuracy", plot_final_accuracy, study, ps,
                                  styles, fig_dir / f"test_accuracy_{slug}.png"),
            "epochs_to_target": draw(f"{ps.problem} epochs to target", plot_epochs_to_target, ps,
                                     styles, fig_dir / f"epochs_to_target_{slug}.png"),
        }  # fmt: skip
        for kind, path in drawn.items():
            if path is not None:
                caption = CAPTIONS[kind].format(target=ps.target_note)
                blocks.append(Image(path, f"{ps.problem}: {kind.replace('_', ' ')}", caption))
        if ps.target is None:
            notes.append(f"{ps.problem}: no epochs-to-target figure ({ps.target_note})")
    if len(summary.problems) > 1:
        result = draw("performance profile", plot_performance_profile, summary, styles,
                      fig_dir / "performance_profile.png")  # fmt: skip
        if result is not None:
            path, profile_notes = result
            notes.extend(profile_notes)
            if path:
                blocks.append(Heading("Across problems", 3))
                blocks.append(Image(path, "performance profile", CAPTIONS["profile"]))
    else:
        notes.append("performance profile not drawn: it needs more than one problem")
    return blocks, notes


def write_report(
    store_dir: str | Path,
    out_dir: str | Path | None = None,
    *,
    target: float | Mapping[str, float] | None = None,
    target_fraction: float | None = None,
    uncertainty_schedule: str = "uncertainty",
    command: str | None = None,
    schedules: list[str] | None = None,
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
    """
    _check_arguments(target, target_fraction, uncertainty_schedule, command)
    study = load_study(store_dir)
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
    fig_dir = out / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    summary = summarise(
        study,
        uncertainty_schedule=uncertainty_schedule,
        target=target,
        target_fraction=target_fraction,
    )
    tables: list[Table] = [
        setup_table(study, command),
        final_metrics_table(study, summary),
        convergence_table(study, summary),
        ab_table(study, summary),
    ]
    retitle_main(tables, rulesets)
    for table in tables:
        table.write_csv(out / f"{table.name}.csv")
    eval_lines = eval_summary_lines(study)
    (out / "eval_summaries.txt").write_text(
        "\n".join(eval_lines) + ("\n" if eval_lines else ""), encoding="utf-8"
    )
    figure_blocks, figure_notes = _figures(study, summary, fig_dir)
    tuning, tuning_notes = tuning_blocks(rulesets, summary, Path(store_dir), out,
                                         uncertainty_schedule=uncertainty_schedule, target=target,
                                         target_fraction=target_fraction)  # fmt: skip
    figure_notes += tuning_notes

    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    blocks: list[Block] = [
        Heading("Uncertainty-LR study report", 1),
        Paragraph(f"Store: {Path(store_dir).resolve()}. Generated {now}."),
        Heading("Analysis"),
        *(Paragraph(text) for text in analysis_paragraphs(study, summary)),
        Heading("Tables"),
        *tables,
        Heading("Figures"),
        *figure_blocks,
    ]
    if figure_notes:
        blocks += [Paragraph("Figures not drawn or incomplete:"), Bullets(figure_notes)]
    blocks += tuning
    blocks += [
        Heading("Evaluation summaries"),
        Paragraph(
            "One line per run in the Hugging Face Trainer form (also in eval_summaries.txt): "
            "test metrics when the run has them, else the last epoch's validation metrics; "
            "eval_runtime is the last epoch's evaluation time in seconds."
        ),
        Code(eval_lines or ["(no runs)"]),
    ]
    (out / "report.md").write_text(render_markdown(blocks, out), encoding="utf-8")
    (out / "report.html").write_text(
        render_html(blocks, "Uncertainty-LR study report"), encoding="utf-8"
    )
    return out

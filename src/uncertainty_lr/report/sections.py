"""The figure part of the report: a section per problem (its figures, then any extra
blocks of ``SectionHook``s) and one across problems (performance profile, AlgoPerf score).

``PROBLEM_FIGURES`` lists the per-problem figures in the order they are drawn; append a
``FigureSpec`` to it to add one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from uncertainty_lr.experiments.files import write_refusal
from uncertainty_lr.report.aggregates import algoperf_table
from uncertainty_lr.report.html import Block, Details, Heading, Image
from uncertainty_lr.report.load import Study
from uncertainty_lr.report.panels import SHOWN_BASELINES, curve_arms
from uncertainty_lr.report.plots import (
    arm_styles,
    file_slug,
    plot_curves,
    plot_performance_profile,
)
from uncertainty_lr.report.seed_plots import plot_epochs_to_target, plot_final_accuracy
from uncertainty_lr.report.summary import ProblemSummary, Summary


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


def figure_sections(
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

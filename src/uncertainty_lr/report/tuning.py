"""The report's LR-tuning parts: the two rulesets kept apart, the tuning table, the
LR-sensitivity figure and whether the uncertainty schedule's result survives tuning.

Rulesets (AlgoPerf's terms): *self-tuning* = runs at the LR they were given, every arm the
same (``lr_source`` "given", also every run stored before tuning existed); *external
tuning* = each arm at the LR its tuning chose ("tuned"). Each ruleset is summarised on its
own, so its A/B tests form their own Holm family. Tuning-grid runs ("tuning") appear only
in the tuning table and figure. No torch here.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from uncertainty_lr.experiments.files import write_refusal
from uncertainty_lr.experiments.store_reader import StoreReader
from uncertainty_lr.experiments.tuning import Choice, edge_text, load_choices, pick_lr
from uncertainty_lr.report.html import Block, Heading, Image, Paragraph
from uncertainty_lr.report.load import Study
from uncertainty_lr.report.plots import arm_styles, save_figure, wrap
from uncertainty_lr.report.summary import Comparison, Summary, summarise
from uncertainty_lr.report.tables import Table, ab_table, fmt, fmt_p

RULESET_NAMES = {"given": "self-tuning", "tuned": "external tuning"}
RULESET_TEXT = {
    "given": "self-tuning ruleset: every schedule at the same given LR",
    "tuned": "external-tuning ruleset: each schedule at the LR its tuning chose on validation",
}


def lr_source(config: dict) -> str:
    """'given', 'tuning' or 'tuned' (runs stored before tuning existed are 'given')."""
    return config.get("lr_source") or "given"


@dataclass
class Rulesets:
    """A study split by ruleset. ``main`` is what the report's main sections show:
    the self-tuning runs, or the externally tuned ones when there are no others.
    ``tuned`` holds the externally tuned runs only when ``main`` is self-tuning."""

    main: Study
    main_ruleset: str
    tuned: Study | None
    tuning: Study


def split_rulesets(study: Study) -> Rulesets:
    def part(source: str) -> Study:
        runs = [run for run in study.runs if lr_source(run.config) == source]
        return replace(study, runs=runs, notes=list(study.notes))

    given, tuned, tuning = part("given"), part("tuned"), part("tuning")
    if not given.runs and tuned.runs:
        return Rulesets(tuned, "tuned", None, tuning)
    return Rulesets(given, "given", tuned if tuned.runs else None, tuning)


def stored_choices(store_dir: Path) -> dict[tuple[str, str], dict]:
    with StoreReader(store_dir) as store:
        return load_choices(store)


def report_choices(tuning: Study, stored: dict) -> dict[tuple[str, str], Choice]:
    """``pick_lr`` over the tuning runs, by the metric the ``tune`` command stored."""
    select = next((item.get("select") for item in stored.values()), None) or "final"
    records = [{"problem": r.problem, "schedule": r.schedule, "lr": r.config.get("lr"),
                "seed": r.seed, "status": r.status,
                "val_accuracy": [None if math.isnan(v) else float(v) for v in r.curve("val_accuracy")]}
               for r in tuning.runs if isinstance(r.config.get("lr"), (int, float))]  # fmt: skip
    return pick_lr(records, select)


def _cell(scores: list[float | None]) -> str:
    done = [s for s in scores if s is not None]
    if len(done) < len(scores):
        return f"{len(scores) - len(done)} of {len(scores)} seeds did not finish"
    if len(done) == 1:
        return fmt(done[0])
    return f"{fmt(statistics.fmean(done))} ± {fmt(statistics.stdev(done))}"


def tuning_table(choices: dict[tuple[str, str], Choice]) -> Table:
    """Arm x LR -> validation score (mean ± std over tuning seeds), chosen LR marked."""
    lrs = sorted({lr for c in choices.values() for lr in c.scores})
    columns = ["problem", "schedule"] + [f"lr {lr:g}" for lr in lrs] + ["chosen LR"]
    rows = []
    for c in choices.values():
        cells = []
        for lr in lrs:
            text = _cell(c.scores[lr]) if lr in c.scores else "not run"
            cells.append(text + (" (chosen)" if lr == c.lr else ""))
        rows.append([c.problem, c.schedule, *cells, "none" if c.lr is None else f"{c.lr:g}"])
    select = next((c.select for c in choices.values()), "final")
    seeds = sorted({s for c in choices.values() for s in c.seeds})
    notes = [
        f"Score: {select} validation accuracy of each tuning run, mean ± std over tuning "
        f"seeds {', '.join(map(str, seeds))} (disjoint from the comparison seeds). The "
        "highest mean wins; ties go to the smaller LR; an LR where any seed diverged or "
        "failed cannot be chosen. No test metric is read."
    ]
    notes += [f"{c.problem} / {c.schedule}: chosen {edge_text(c)}" for c in choices.values()
              if edge_text(c)]  # fmt: skip
    return Table("tuning", "LR tuning: validation accuracy per schedule and LR", columns, rows, notes)  # fmt: skip


def plot_sensitivity(problem: str, choices: list[Choice], styles: dict, path: Path) -> Path:
    """Validation score against LR (log axis), one line per schedule, band = seed min..max."""
    fig = Figure(figsize=(7.5, 4.6), layout="constrained")
    ax = fig.subplots()
    for c in choices:
        colour, marker = styles.get(c.schedule, ("#000000", "o"))
        lrs = np.array(sorted(c.scores))
        mean = np.array([np.nan if c.mean[lr] is None else c.mean[lr] for lr in lrs])
        low = np.array([np.nan if c.mean[lr] is None else min(c.scores[lr]) for lr in lrs])
        high = np.array([np.nan if c.mean[lr] is None else max(c.scores[lr]) for lr in lrs])
        ax.plot(lrs, mean, color=colour, marker=marker, label=wrap(c.schedule, 28))
        ax.fill_between(lrs, low, high, color=colour, alpha=0.15, lw=0)
        if c.lr is not None:
            ax.scatter([c.lr], [c.mean[c.lr]], s=160, facecolors="none", edgecolors=colour, lw=2)
    ax.set_xscale("log")
    select = choices[0].select if choices else "final"
    ax.set_xlabel("base learning rate (log scale)")
    ax.set_ylabel(f"{select} validation accuracy (fraction correct)")
    ax.set_title(f"{problem}: LR sensitivity (line = mean of tuning seeds, band = min..max,\n"
                 "ring = chosen LR, gap = an LR where a seed diverged or failed)")  # fmt: skip
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="best")
    return save_figure(fig, path)


def _outcome(c: Comparison) -> str:
    if c.result is None or c.result.mean_diff is None:
        return f"not computed ({c.reason or 'too few paired seeds'})"
    sign = "significant" if c.significant else "not significant"
    return f"{c.result.mean_diff:+.4f} ({sign}, Holm {fmt_p(c.holm_p)})"


def _verdict(given: Comparison, tuned: Comparison) -> str:
    def state(c: Comparison) -> int:  # +1 significant win, -1 significant loss, 0 neither
        return 0 if not c.significant or c.a_better is None else (1 if c.a_better else -1)

    before, after = state(given), state(tuned)
    if before == 0:
        return {0: "no significant difference under either ruleset",
                1: "a significant advantage appears only after tuning",
                -1: "a significant loss appears only after tuning"}[after]  # fmt: skip
    what = "advantage" if before == 1 else "loss"
    if after == before:
        return f"the {what} survives tuning"
    return f"the {what} does not survive tuning" + (" (it reverses)" if after else "")


def survival_paragraphs(given: Summary, tuned: Summary, choices: dict) -> list[str]:
    """Per problem: does each uncertainty-vs-baseline test-accuracy result survive tuning?"""
    out = []
    for problem in tuned.problems:
        lrs = [f"{c.schedule} {c.lr:g}" for (p, _), c in choices.items() if p == problem and c.lr]
        pairs = []
        for c_t in tuned.comparisons:
            if c_t.problem != problem or c_t.metric.key != "test_accuracy":
                continue
            c_g = next((c for c in given.comparisons if (c.problem, c.arm_a, c.arm_b, c.metric.key)
                        == (problem, c_t.arm_a, c_t.arm_b, "test_accuracy")), None)  # fmt: skip
            if c_g is None:
                pairs.append(f"{c_t.arm_a} vs {c_t.arm_b}: no self-tuning runs of this pair")
                continue
            pairs.append(f"{c_t.arm_a} vs {c_t.arm_b}, test accuracy A-B: self-tuning "
                         f"{_outcome(c_g)}, external tuning {_outcome(c_t)}: "
                         f"{_verdict(c_g, c_t)}")  # fmt: skip
        if not pairs:
            pairs = ["no uncertainty-vs-baseline comparison under external tuning"]
        head = f"{problem} (tuned LRs: {', '.join(lrs) or 'none stored'}):"
        out.append(head + " " + "; ".join(pairs) + ".")
    return out


def retitle_main(tables: list[Table], parts: Rulesets) -> None:
    """Name the ruleset in the main A/B table's title when the store has a second one."""
    if parts.tuned is not None or parts.main_ruleset == "tuned":
        for table in tables:
            if table.name == "ab_tests":
                table.title += f" ({RULESET_NAMES[parts.main_ruleset]} ruleset)"


def tuning_blocks(parts: Rulesets, main_summary: Summary, store_dir: Path, out: Path,
                  **summary_args) -> tuple[list[Block], list[str]]:  # fmt: skip
    """The report section on tuning and the second ruleset, CSVs written to ``out``.

    ``summary_args`` (uncertainty_schedule, target, target_fraction, margin) summarise the
    externally tuned runs as their own test family. Returns (blocks, notes).
    """
    if not parts.tuning.runs and parts.tuned is None and parts.main_ruleset == "given":
        return [], []  # a store without tuning: the report stays as it was
    blocks: list[Block] = [Heading("Learning-rate tuning and rulesets")]
    if parts.main.runs:
        blocks.append(Paragraph(f"The sections above show the {RULESET_TEXT[parts.main_ruleset]}."))  # fmt: skip
    else:
        blocks.append(Paragraph("No comparison runs yet, only tuning runs: `uncertainty-lr run "
                                "--tuned` trains each schedule at its tuned LR."))  # fmt: skip
    notes: list[str] = []
    stored = stored_choices(store_dir)
    choices = report_choices(parts.tuning, stored)
    for key, c in choices.items():
        if key in stored and stored[key].get("lr") != c.lr:
            notes.append(f"{key[0]} / {key[1]}: stored tuned LR {stored[key].get('lr')} differs "
                         f"from the pick over the runs now in the store ({c.lr}); rerun `tune`")  # fmt: skip
    if choices:
        table = tuning_table(choices)
        table.write_csv(out / f"{table.name}.csv")
        blocks.append(table)
        arms = parts.main.arms() + [c.schedule for c in choices.values()]
        styles = arm_styles(list(dict.fromkeys(arms)))
        for problem in dict.fromkeys(p for p, _ in choices):
            mine = [c for (p, _), c in choices.items() if p == problem]
            slug = "".join(ch if ch.isalnum() or ch in "_-" else "_" for ch in problem)
            try:
                path = plot_sensitivity(problem, mine, styles, out / "figures" / f"lr_sensitivity_{slug}.png")  # fmt: skip
            except Exception as error:  # noqa: BLE001 - a broken figure must not lose the report
                if write_refusal(error):
                    raise  # a full or read-only disk fails the whole report, never one figure
                notes.append(f"{problem} LR sensitivity could not be drawn: {type(error).__name__}: {error}")  # fmt: skip
                continue
            blocks.append(Image(path, f"{problem}: LR sensitivity",
                                "Validation accuracy of the tuning runs against the base LR."))  # fmt: skip
    else:
        blocks.append(Paragraph("The store holds no tuning runs (`uncertainty-lr tune`)."))
    if parts.tuned is not None:
        tuned_summary = summarise(parts.tuned, **summary_args)
        ab = ab_table(parts.tuned, tuned_summary)
        ab.name, ab.title = "ab_tests_tuned", ab.title + " (external tuning ruleset)"
        ab.notes = [n.replace("in this report", "of the external-tuning ruleset") for n in ab.notes]
        ab.write_csv(out / f"{ab.name}.csv")
        blocks += [
            Heading("External tuning: each schedule at its tuned LR", 3),
            Paragraph(
                f"A separate test family: Holm correction over its own "
                f"{tuned_summary.n_tests} t-tests, never pooled with the self-tuning "
                f"ruleset's {main_summary.n_tests}."
            ),  # fmt: skip
            ab,
            Heading("Does the result survive tuning?", 3),
            *(Paragraph(t) for t in survival_paragraphs(main_summary, tuned_summary, choices)),
        ]
    return blocks, notes

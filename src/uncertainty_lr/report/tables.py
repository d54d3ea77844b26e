"""Report tables as plain data: one ``Table`` per table, written to CSV and rendered by html.py.

Cells are strings. A value that does not exist says so in a short word ("n/a", "n<3",
"zero var") instead of a blank, and the longer reasons go to ``Table.notes`` below the table.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from uncertainty_lr.report.budgets import BUDGET_AWARE, BUDGET_FREE, run_kind
from uncertainty_lr.report.cells import NA, Table, fmt, fmt_p, raw  # noqa: F401 - re-exported
from uncertainty_lr.report.load import STATUS_ORDER, RunData, Study, seed_vector
from uncertainty_lr.report.summary import ALPHA, Comparison, Summary, accuracy_by_seed
from uncertainty_lr.stats import mean_std
from uncertainty_lr.stats import summarise as describe


def _unique(values: list[Any]) -> str:
    """Distinct non-empty values joined by '; ', or 'n/a'."""
    texts = [str(v) for v in values if v not in (None, "", {}, [])]
    return "; ".join(dict.fromkeys(texts)) or NA


def _sizes(run: RunData) -> str | None:
    sizes = run.config.get("data_sizes")
    if not isinstance(sizes, dict):
        return None
    return " / ".join(str(sizes.get(part, NA)) for part in ("train", "val", "test"))


def _optimiser(run: RunData) -> str:
    c = run.config
    parts = [f"{c.get('optimizer', NA)}", f"lr {c.get('lr', NA)}"]
    parts += [f"weight decay {c.get('weight_decay', NA)}", f"batch {c.get('batch_size', NA)}"]
    return ", ".join(parts)


def _hardware(run: RunData) -> str | None:
    hw = run.hardware
    return "; ".join(f"{key}: {hw[key]}" for key in sorted(hw)) if hw else None


def _budget_kinds(study: Study, problem: str) -> str:
    """'aware: cosine, linear; free: constant, uncertainty' for the arms of ``problem``."""
    kinds: dict[str, list[str]] = {BUDGET_AWARE: [], BUDGET_FREE: []}
    for arm in study.arms(problem):
        run = study.runs_of(problem, arm)[0]
        kinds[run_kind(run)].append(arm)
    return "; ".join(
        f"{kind.removeprefix('budget-')}: {', '.join(arms)}" for kind, arms in kinds.items() if arms
    )


def setup_table(study: Study, command: str | None = None) -> Table:
    """What was run: one column per problem, one row per item (sizes, model, seeds, ...)."""
    problems = study.problems()
    items: list[tuple[str, Any]] = [
        ("data sizes (train / val / test)", _sizes),
        ("model", lambda r: r.config.get("model")),
        ("optimiser", _optimiser),
        ("epochs (budget)", lambda r: r.config.get("epochs")),
        ("train size (config)", lambda r: r.config.get("train_size")),
        ("hardware", _hardware),
        ("uncertainty-lr version", lambda r: r.version),
        ("git SHA", lambda r: r.git_sha[:12] if r.git_sha else None),
        ("command", lambda r: command or r.config.get("command")),
    ]
    rows = []
    for label, getter in items:
        rows.append([label] + [_unique([getter(r) for r in study.runs_of(p)]) for p in problems])
    rows.insert(4, ["schedules"] + [", ".join(study.arms(p)) for p in problems])
    rows.insert(5, ["budget-aware (told the epochs) / budget-free"]
                + [_budget_kinds(study, p) for p in problems])  # fmt: skip
    rows.insert(6, ["seeds"] + [", ".join(map(str, study.seeds(p))) for p in problems])
    counts = [study.status_counts(p) for p in problems]
    rows.insert(
        7,
        ["runs (done / diverged / failed / running)"]
        + [" / ".join(str(c[s]) for s in STATUS_ORDER) for c in counts],
    )
    notes = [] if problems else ["the store holds no runs"]
    return Table("setup", "Setup", ["item"] + problems, rows, notes)


#: Final-metric columns: (label, value of a finished run).
FINAL_COLUMNS: tuple[tuple[str, str, Any], ...] = (
    ("test accuracy", "test_accuracy", lambda r: r.test["test_accuracy"]),
    ("test loss", "test_loss", lambda r: r.test["test_loss"]),
    ("test macro-F1", "test_f1", lambda r: r.test["test_f1"]),
    ("test ECE", "test_ece", lambda r: r.test["test_ece"]),
    ("final val entropy (0-1)", "final_val_entropy", lambda r: r.last("val_entropy")),
)


def final_metrics_table(study: Study, summary: Summary) -> Table:
    """Mean ± std over seeds of the final metrics per problem and arm: test accuracy over
    finished and diverged runs (a diverged one at chance), the others over finished runs."""
    columns = ["problem", "schedule", "runs (done/div/fail/run)", "seeds with test"]
    columns += [label for label, _, _ in FINAL_COLUMNS]
    csv_columns = ["problem", "schedule", *(f"n_{s}" for s in STATUS_ORDER), "n_test"]
    for _, key, _ in FINAL_COLUMNS:
        csv_columns += [f"{key}_mean", f"{key}_std"]
    rows, csv_rows, notes = [], [], []
    for ps in summary.problems.values():
        seeds = ps.seeds
        for arm in ps.arms:
            counts = study.status_counts(ps.problem, arm)
            acc = seed_vector(study, ps.problem, arm, seeds, FINAL_COLUMNS[0][2])
            n_test = int(np.isfinite(acc).sum())
            row = [ps.problem, arm, "/".join(str(counts[s]) for s in STATUS_ORDER), str(n_test)]
            csv_row = [ps.problem, arm, *(str(counts[s]) for s in STATUS_ORDER), str(n_test)]
            for _, key, getter in FINAL_COLUMNS:
                values = (accuracy_by_seed(study, ps, arm) if key == "test_accuracy"
                          else seed_vector(study, ps.problem, arm, seeds, getter))  # fmt: skip
                mean, std = mean_std(values)
                if mean is None:
                    row.append(NA)
                else:
                    row.append(fmt(mean) + ("" if std is None else f" ± {fmt(std)}"))
                csv_row += [raw(mean), raw(std)]
            rows.append(row)
            csv_rows.append(csv_row)
            if counts["done"] and not n_test:
                notes.append(f"{ps.problem} / {arm}: finished runs carry no test metrics")
            if counts["done"] == 1:
                notes.append(f"{ps.problem} / {arm}: one finished seed, so no std")
            if counts["diverged"]:
                notes.append(
                    f"{ps.problem} / {arm}: test accuracy counts its {counts['diverged']} "
                    f"diverged run(s) at chance ({ps.chance_note}); test loss, macro-F1, ECE and "
                    f"val entropy drop them ({counts['diverged']} diverged, they have none)"
                )
    notes.append(
        "mean ± sample std (ddof 1) over seeds: test accuracy over finished and diverged runs, "
        "a diverged run at chance accuracy (1/C); the other metrics over finished runs; failed "
        "and running runs are counted but not averaged"
    )
    return Table(
        "final_metrics", "Final metrics per schedule", columns, rows, notes, csv_columns, csv_rows
    )


def _median_text(times: list[float]) -> tuple[str, str]:
    """(display, csv) median of times with inf = not reached."""
    values = [t for t in times if not math.isnan(t)]
    if not values:
        return NA, ""
    median = describe(values)["median"]
    if median is None:
        return NA, ""
    if math.isinf(median):
        return "not reached", "inf"
    return f"{median:.4g}", raw(median)


def convergence_table(study: Study, summary: Summary) -> Table:
    """Target, median epochs / seconds to reach it and how many finished runs did."""
    columns = ["problem", "schedule", "target (val acc)", "budget (epochs)", "reached"]
    columns += ["median epochs to target", "median seconds to target"]
    rows, csv_rows, notes = [], [], []
    for ps in summary.problems.values():
        notes.append(f"{ps.problem}: target {ps.target_note}")
        notes.extend(f"{ps.problem}: {note}" for note in ps.notes)
        for arm in ps.arms:
            epochs = list(ps.epochs_to_target.get(arm, {}).values())
            seconds = list(ps.seconds_to_target.get(arm, {}).values())
            reached = sum(1 for t in epochs if math.isfinite(t))
            shown_e, raw_e = _median_text(epochs)
            shown_s, raw_s = _median_text(seconds)
            base = [ps.problem, arm]
            rows.append(
                base
                + [
                    fmt(ps.target),
                    NA if ps.budget is None else f"{ps.budget:g}",
                    f"{reached}/{len(epochs)}",
                    shown_e,
                    shown_s,
                ]
            )
            csv_rows.append(
                base
                + [raw(ps.target), raw(ps.budget), str(reached), str(len(epochs)), raw_e, raw_s]
            )
            if epochs and any(math.isnan(t) for t in seconds):
                notes.append(f"{ps.problem} / {arm}: some runs logged no wall time")
    notes.append(
        "finished and diverged runs; a diverged run counts as never reaching the target; "
        "'not reached' = the median run never reached the target within the budget (censored)"
    )
    csv_columns = (
        columns[:4]
        + ["n_reached", "n_runs"]
        + [
            "median_epochs_to_target",
            "median_seconds_to_target",
        ]
    )
    return Table("convergence", "Convergence speed", columns, rows, notes, csv_columns, csv_rows)


def _fmt3(value: float) -> str:
    return fmt(value, 3)


def _reasons(c: Comparison) -> dict[str, str]:
    """Short words for the statistics of ``c`` that could not be computed."""
    r = c.result
    if r is None:
        word = c.reason if len(c.reason) <= 12 else "refused"
        return dict.fromkeys(("mean", "ci", "t", "w", "dz", "pi", "holm"), word)
    if r.n == 0:
        return dict.fromkeys(("mean", "ci", "t", "w", "dz", "pi", "holm"), "no data")
    zero = any("all paired differences are zero" in note for note in r.notes)
    var_word = "no diff" if zero else "zero var"
    return {
        "ci": "n<2" if r.n < 2 else var_word,
        "t": "n<3" if r.n < 3 else var_word,
        "w": "no diff",
        "dz": "n<2" if r.n < 2 else var_word,
        "holm": "no t-test",
    }


def _number_notes(texts: list[str], notes: list[str]) -> str:
    """Add ``texts`` to the numbered ``notes`` (once each); return '[1] [3]'-style refs."""
    refs = []
    for text in texts:
        if text not in notes:
            notes.append(text)
        refs.append(f"[{notes.index(text) + 1}]")
    return " ".join(refs)


def ab_table(study: Study, summary: Summary) -> Table:
    """Uncertainty schedule vs each baseline, per problem and metric, paired by seed."""
    columns, csv_columns = _ab_columns(summary.margin)
    rows, csv_rows, row_notes = [], [], []
    for c in summary.comparisons:
        row, csv_row = _ab_row(c, row_notes)
        rows.append(row)
        csv_rows.append(csv_row)
    notes = [f"[{i}] {text}" for i, text in enumerate(row_notes, 1)]
    notes.insert(0, _ab_method_note(summary))
    if not summary.comparisons:
        notes.insert(0, "no comparison: " + ("; ".join(summary.notes) or _why_no_ab(summary)))
    return Table(
        "ab_tests", "A/B: uncertainty schedule vs baselines", columns, rows, notes,
        csv_columns, csv_rows,
    )  # fmt: skip


def _ab_columns(margin: float) -> tuple[list[str], list[str]]:
    """The A/B table's columns, shown and in the CSV (the interval and tests split up)."""
    columns = ["problem", "uncertainty", "baseline", "metric", "n", "mean A", "mean B"]
    columns += ["mean diff A-B [95% t-interval, unadjusted]", "t-test p", "Wilcoxon p"]
    columns += ["Cohen's d_z", "win rate", "Holm p (t-test)", f"significant (Holm p < {ALPHA:g})"]
    columns += [f"non-inferior (margin {margin:g}): one-sided 95% lower bound", "notes"]
    csv_columns = columns[:7] + ["mean_diff", "ci_low", "ci_high"] + columns[8:-2]
    csv_columns += ["holm_level", "holm_ci_low", "holm_ci_high"]
    csv_columns += ["non_inferiority_margin", "non_inferiority_lower", "non_inferiority_p"]
    csv_columns += ["non_inferior", "notes"]
    return columns, csv_columns


def _ab_row(c: Comparison, row_notes: list[str]) -> tuple[list[str], list[str]]:
    """(shown row, CSV row) of one comparison; its notes join the numbered ``row_notes``."""
    r, why = c.result, _reasons(c)
    # (value, reason key, display format); the CSV gets the raw value or the reason.
    fields = {
        "mean_a": (r and r.mean_a, "mean", fmt),
        "mean_b": (r and r.mean_b, "mean", fmt),
        "diff": (r and r.mean_diff, "mean", fmt),
        "ci_low": (r and r.ci_low, "ci", fmt),
        "ci_high": (r and r.ci_high, "ci", fmt),
        "t": (r and r.t_p, "t", fmt_p),
        "w": (r and r.w_p, "w", fmt_p),
        "dz": (r and r.cohens_dz, "dz", _fmt3),
        "pi": (r and r.prob_improvement, "pi", _fmt3),
        "holm": (c.holm_p, "holm", fmt_p),
    }
    shown = {
        k: form(v) if v is not None else why.get(key, NA) for k, (v, key, form) in fields.items()
    }
    exact = {k: raw(v) if v is not None else why.get(key, NA) for k, (v, key, _) in fields.items()}
    if r is not None and r.ci_low is not None:
        diff_ci = f"{shown['diff']} [{shown['ci_low']}, {shown['ci_high']}]"
    elif r is not None and r.mean_diff is not None:
        diff_ci = f"{shown['diff']} [t-interval: {why['ci']}]"
    else:
        diff_ci = shown["diff"]
    verdict = ("yes" if c.significant else "no") if c.holm_p is not None else "untested"
    ni_shown, ni_exact = _non_inferiority_cells(c, why)
    holm_ci = [raw(c.holm_level), *(raw(v) for v in c.holm_interval or (None, None))]
    texts = (list(r.notes) if r is not None else [c.reason]) + c.notes
    refs = _number_notes(texts, row_notes)
    lead = [c.problem, c.arm_a, c.arm_b, c.metric.label, str(r.n) if r is not None else "0"]
    stat_keys = ("t", "w", "dz", "pi", "holm")
    row = (
        lead + [shown["mean_a"], shown["mean_b"], diff_ci]
        + [shown[k] for k in stat_keys] + [verdict, ni_shown, refs]
    )  # fmt: skip
    csv_row = (
        lead + [exact[k] for k in ("mean_a", "mean_b", "diff", "ci_low", "ci_high")]
        + [exact[k] for k in stat_keys] + [verdict, *holm_ci, *ni_exact, "; ".join(texts)]
    )  # fmt: skip
    return row, csv_row


def _ab_method_note(summary: Summary) -> str:
    """The first note under the A/B table: how the tests were run and what the columns mean."""
    if summary.n_tests:
        holm_text = (
            f"Holm-Bonferroni correction over all {summary.n_tests} paired t-test p-values in "
            "this report (the study plan's test); Wilcoxon signed-rank p shown alongside, "
            "uncorrected. "
        )
    else:
        holm_text = "No paired t-test could be computed, so nothing is called significant. "
    return (
        holm_text
        + "A = uncertainty schedule, B = baseline, differences are A - B per seed; win rate = "
        "the fraction of paired seeds on which A is better, ties counting 1/2 (not rliable's "
        "probability of improvement, which compares every run with every run). Finished runs "
        "are paired; a diverged run enters the test-accuracy comparison at chance accuracy "
        "(1/C) and the epochs-to-target comparison as never reaching the target; loss, "
        "macro-F1 and ECE drop it (it has none of them) and their notes say how many diverged "
        "runs they dropped. Failed and running runs are excluded. Epochs to target: runs that "
        "never reached it count as budget + 1. The 95% interval is unadjusted; the CSV also "
        "holds the interval at the level that agrees with the Holm p (holm_level). "
        f"Non-inferior (test accuracy only): the one-sided 95% paired-t lower bound of A - B "
        f"is above -{summary.margin:g}, the margin (`report --margin`)."
    )


def _non_inferiority_cells(c: Comparison, why: dict[str, str]) -> tuple[str, list[str]]:
    """(display cell, [margin, lower bound, p, yes/no]) of the non-inferiority test."""
    ni = c.non_inferiority
    if ni is None:  # tested on test accuracy only: the margin is in accuracy
        return NA, ["", "", "", NA]
    if ni.lower is None:
        word = "n<3" if ni.n < 3 else why.get("ci", "zero var")
        return word, [raw(ni.margin), word, word, "untested"]
    verdict = "yes" if ni.holds else "no"
    cells = [raw(ni.margin), raw(ni.lower), raw(ni.p), verdict]
    return f"{verdict} ({fmt(ni.lower)})", cells


def _why_no_ab(summary: Summary) -> str:
    if not summary.problems:
        return "the store holds no runs"
    if all(not ps.baseline_arms for ps in summary.problems.values()):
        return "every problem has only the uncertainty schedule, so there is no baseline"
    return f"no problem has both {summary.uncertainty_schedule!r} and a baseline"


def eval_summary(run: RunData) -> dict[str, float]:
    """Hugging Face Trainer-style evaluation dict of a run's final evaluation.

    Uses the test metrics when the run has them, else the last epoch's validation ones.
    ``eval_runtime`` (s) is the last epoch's ``eval_time`` (or a 'runtime' / 'eval_time'
    entry of the test dict); samples per second divide ``data_sizes`` val (or test, when the
    runtime is the test one) by it. Keys without a value are left out.
    """
    has_test = run.test["test_loss"] is not None or run.test["test_accuracy"] is not None
    prefix = "test_" if has_test else "val_"
    values = {
        "eval_loss": run.test["test_loss"] if has_test else run.last("val_loss"),
        "eval_accuracy": run.test["test_accuracy"] if has_test else run.last("val_accuracy"),
        "eval_f1": run.test["test_f1"] if has_test else run.last(f"{prefix}f1"),
        "eval_ece": run.test["test_ece"] if has_test else run.last(f"{prefix}ece"),
    }
    out = {key: round(value, 4) for key, value in values.items() if value is not None}
    runtime, part = run.last("eval_time"), "val"
    for key in ("eval_runtime", "runtime", "eval_time"):
        value = run.test_extra.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            runtime, part = float(value), "test"
            break
    sizes = run.config.get("data_sizes")
    samples = sizes.get(part) if isinstance(sizes, dict) else None
    if runtime is not None and runtime > 0:
        out["eval_runtime"] = round(runtime, 4)
        if isinstance(samples, (int, float)) and not isinstance(samples, bool) and samples > 0:
            out["eval_samples_per_second"] = round(samples / runtime, 3)
    out["epoch"] = float(run.epochs[-1]) if run.epochs.size else float(run.epochs_done)
    return out


def eval_summary_lines(study: Study) -> list[str]:
    """One 'problem / schedule / seed N [status]: {...}' line per run, in store order."""
    return [f"{run.label} [{run.status}]: {eval_summary(run)}" for run in study.runs]

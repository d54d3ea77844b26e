"""The written analysis: paragraphs generated from the report's numbers, nothing else.

Every sentence is read off the ``Summary``: significance means a Holm-adjusted paired t-test
p below ``ALPHA``; a difference that is not significant is called that, never "equal"; what
could not be computed is listed with its reason.
"""

from __future__ import annotations

import math

import numpy as np

from uncertainty_lr.report.load import STATUS_ORDER, Study, seed_vector
from uncertainty_lr.report.summary import (
    AB_METRICS,
    ALPHA,
    Comparison,
    ProblemSummary,
    Summary,
    accuracy_by_seed,
)
from uncertainty_lr.report.tables import fmt, fmt_p
from uncertainty_lr.report.targets import best_val_accuracy


def _join(items: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _stopped_runs(study: Study, problem: str | None = None) -> list[str]:
    """Sentences naming the diverged / failed / running runs (of one problem or all)."""
    out = []
    for status, verb in (
        ("diverged", "diverged"),
        ("failed", "failed"),
        ("running", "are still running"),
    ):
        runs = [r for r in study.runs if r.status == status and problem in (None, r.problem)]
        if not runs:
            continue
        names = [f"{r.arm} seed {r.seed} (after {r.epochs.size} epochs)" for r in runs]
        line = f"{len(runs)} run(s) {verb}: {_join(names)}"
        errors: dict[str, int] = {}
        for run in runs:
            if run.error:
                first = str(run.error).strip().splitlines()[0][:160]
                errors[first] = errors.get(first, 0) + 1
        if errors:
            line += " (error: " + "; ".join(f"{e} [{n}x]" for e, n in errors.items()) + ")"
        out.append(line)
    return out


def overview(study: Study, summary: Summary) -> str:
    """Store-wide paragraph: what is in the store, what was excluded, how p is corrected."""
    if not study.runs:
        return "The store holds no runs, so there is nothing to report."
    counts = study.status_counts()
    status_text = ", ".join(f"{counts[s]} {s}" for s in STATUS_ORDER if counts[s])
    n_arms = len({r.arm for r in study.runs})
    text = [
        f"The store holds {len(study.runs)} runs ({status_text}) over "
        f"{len(summary.problems)} problem(s) and {n_arms} schedule(s)."
    ]
    if counts["diverged"] + counts["failed"] + counts["running"]:
        text.append(
            "Diverged, failed and running runs are plotted up to where they stopped and left "
            "out of the averages; a diverged run still counts in every comparison of test "
            "accuracy (at chance accuracy, 1/C) and of epochs to target (as never reaching "
            "it), so a schedule that blows up is not judged on its survivors alone; test "
            "loss, macro-F1 and ECE drop it, and say so (each such run is named below)."
        )
    text.extend(note[0].upper() + note[1:] + "." for note in study.notes + summary.notes)
    if summary.n_tests:
        text.append(
            f"Significance below means a paired t-test p (by seed) below {ALPHA:g} after the "
            f"Holm-Bonferroni correction over all {summary.n_tests} t-tests in this report; "
            "Wilcoxon p-values are in the A/B table."
        )
    elif summary.comparisons:
        text.append("No paired t-test could be computed, so nothing is called significant.")
    return " ".join(text)


def _p_text(p: float) -> str:
    """'p = 0.0123' or 'p < 0.0001'."""
    shown = fmt_p(p)
    return f"p {shown[0]} {shown[1:]}" if shown.startswith("<") else f"p = {shown}"


def _diff_text(c: Comparison) -> str:
    r = c.result
    unit = " epochs" if c.metric.censored else ""
    text = f"{r.mean_diff:+.4g}{unit}"
    if c.holm_interval is not None:  # the interval that agrees with the Holm verdict
        low, high = c.holm_interval
        text += f" ({c.holm_level:.2%} t-interval, the Holm level: [{low:+.4g}, {high:+.4g}])"
    if c.metric.censored and (r.n_censored_a or r.n_censored_b):
        text += ", with runs that never reached the target counted as budget + 1"
    return text


def _best_baseline(study: Study, ps: ProblemSummary) -> str:
    """Sentence naming the baseline with the highest mean test (else best val) accuracy."""
    if not ps.baseline_arms:
        return "There is no baseline schedule to compare with."
    means = {}
    for arm in ps.baseline_arms:
        # The verdict's numbers: diverged runs count at chance accuracy.
        values = accuracy_by_seed(study, ps, arm)
        if np.isfinite(values).any():
            means[arm] = float(np.nanmean(values))
    what = "mean test accuracy"
    if not means:
        what = "mean best validation accuracy (no finished baseline run has test metrics)"
        for arm in ps.baseline_arms:
            values = seed_vector(study, ps.problem, arm, ps.seeds, best_val_accuracy)
            if np.isfinite(values).any():
                means[arm] = float(np.nanmean(values))
    if not means:
        return "No finished baseline run has an accuracy, so no baseline can be ranked."
    best = max(means, key=means.get)
    if len(ps.baseline_arms) == 1:
        return f"The only baseline, {best}, has a {what} of {fmt(means[best])}."
    n = len(ps.baseline_arms)
    return f"Among the {n} baselines, {best} has the highest {what} ({fmt(means[best])})."


def _ab_sentences(summary: Summary, ps: ProblemSummary, arm: str) -> list[str]:
    """Significant, not significant and not computed comparisons of one uncertainty arm."""
    mine = [c for c in summary.comparisons if c.problem == ps.problem and c.arm_a == arm]
    better, worse = [], []
    unclear: dict[str, list[str]] = {}
    missing: dict[tuple[str, str], list[str]] = {}
    for c in mine:
        what = f"{c.metric.label} vs {c.arm_b}"
        if c.holm_p is None:
            r = c.result
            if r is None:
                why = c.reason
            elif r.n == 0:
                why = "no finished pairs with this metric"
            elif r.n < 3:
                why = f"only {r.n} paired seed(s)"
            elif any("all paired differences are zero" in note for note in r.notes):
                why = "every paired difference is zero"
            else:
                why = "the paired differences are all equal (no variance)"
            missing.setdefault((c.arm_b, why), []).append(c.metric.label)
        elif c.significant:
            item = f"{what} by {_diff_text(c)}, Holm {_p_text(c.holm_p)}"
            (better if c.a_better else worse).append(item)
        else:
            unclear.setdefault(c.arm_b, []).append(c.metric.label)
    out = []
    if better:
        out.append(f"{arm} is significantly better on {_join(better)}.")
    if worse:
        out.append(f"{arm} is significantly worse on {_join(worse)}.")
    if unclear:
        groups = [
            f"{'every metric' if len(labels) == len(AB_METRICS) else _join(labels)} vs {arm_b}"
            for arm_b, labels in unclear.items()
        ]
        out.append(
            f"No significant difference after Holm correction for {'; '.join(groups)} "
            "(differences and p-values in the A/B table); this does not show that the "
            "schedules are equal, only that these seeds cannot tell them apart."
        )
    if missing:
        groups = [
            f"{'every metric' if len(labels) == len(AB_METRICS) else _join(labels)} vs {arm_b} "
            f"({why})"
            for (arm_b, why), labels in missing.items()
        ]
        out.append(f"Not tested: {'; '.join(groups)}.")
    return out


def _censoring(ps: ProblemSummary) -> list[str]:
    if ps.target is None:
        return [f"No time-to-target could be computed ({ps.target_note})."]
    out = []
    for arm in ps.arms:
        times = [t for t in ps.epochs_to_target.get(arm, {}).values() if not math.isnan(t)]
        never = sum(1 for t in times if math.isinf(t))
        if never:
            out.append(f"{never} of {len(times)} finished or diverged {arm} runs")
    if not out:
        return []
    budget = f"{ps.budget:g}" if ps.budget is not None else "n/a"
    return [
        f"{_join(out)} never reached the target validation accuracy {ps.target:.4g} within "
        f"{budget} epochs (censored)."
    ]


def problem_paragraph(study: Study, summary: Summary, ps: ProblemSummary) -> str:
    """One paragraph about ``ps.problem``: best baseline, A/B outcomes, censoring, gaps."""
    done = [r for r in study.runs if r.problem == ps.problem and r.status == "done"]
    seeds_done = sorted({r.seed for r in done})
    text = [f"{ps.problem} ({len(ps.arms)} schedule(s), {len(seeds_done)} finished seed(s)):"]
    if not done:
        text.append("no run finished, so nothing could be compared or tested.")
        text.extend(_stopped_runs(study, ps.problem))
        return " ".join(text[:2]) + (" " + "; ".join(text[2:]) + "." if text[2:] else "")
    if len(ps.arms) == 1:
        text.append(f"only one schedule, {ps.arms[0]}, was run, so nothing is compared.")
    else:
        text.append(_best_baseline(study, ps))
    if not ps.uncertainty_arms and len(ps.arms) > 1:
        text.append(
            f"No run uses the schedule {summary.uncertainty_schedule!r} here, "
            "so there is no A/B test."
        )
    for arm in ps.uncertainty_arms:
        text.extend(_ab_sentences(summary, ps, arm))
    per_arm = [len(study.runs_of(ps.problem, arm, status="done")) for arm in ps.arms]
    if per_arm and max(per_arm) <= 1:
        text.append(
            "Each schedule has at most one finished seed: no spread, confidence interval or "
            "test could be computed."
        )
    text.extend(_censoring(ps))
    stopped = _stopped_runs(study, ps.problem)
    if stopped:
        text.append(
            "; ".join(stopped) + "; failed and running runs are excluded from the paired "
            "tests, diverged ones count as described above."
        )
    text.extend(note[0].upper() + note[1:] + "." for note in ps.notes)
    return " ".join(text)


def analysis_paragraphs(study: Study, summary: Summary) -> list[str]:
    """The overview paragraph, then one paragraph per problem."""
    return [overview(study, summary)] + [
        problem_paragraph(study, summary, ps) for ps in summary.problems.values()
    ]

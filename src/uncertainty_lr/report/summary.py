"""The numbers behind the report: targets, time to target and every paired A/B comparison.

Tables, plots and the written analysis all read one ``Summary``, so a number shown in a
table, drawn in a plot and quoted in the text is the same number. Statistics come from
``uncertainty_lr.stats``; this module only decides what is compared with what.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from uncertainty_lr.report.load import RunData, Study, seed_vector
from uncertainty_lr.stats import (
    DEFAULT_TARGET_FRACTION,
    DivergenceTest,
    PairedComparison,
    compare_censored,
    compare_paired,
    default_target,
    divergence_test,
    epochs_to_target,
    holm,
    seconds_to_target,
)

#: Significance level of the Holm-corrected paired t-tests.
ALPHA = 0.05


@dataclass(frozen=True)
class Metric:
    """A metric of the A/B table: ``key`` names the value, ``label`` is shown to readers."""

    key: str
    label: str
    higher_is_better: bool
    censored: bool = False


AB_METRICS: tuple[Metric, ...] = (
    Metric("test_accuracy", "test accuracy", True),
    Metric("test_loss", "test loss", False),
    Metric("test_f1", "test macro-F1", True),
    Metric("test_ece", "test ECE", False),
    Metric("epochs_to_target", "epochs to target", False, censored=True),
)


@dataclass
class ProblemSummary:
    """Per-problem numbers. Time dicts map arm -> seed -> value for 'done' and 'diverged'
    runs; ``math.inf`` means the run never reached the target within its budget, and a
    diverged run always counts as never reaching it (its model is unusable at the end).

    ``diverged_accuracy`` is the test accuracy a diverged run enters the paired accuracy
    comparison with: the lowest test accuracy of any finished run of the problem (None when
    no finished run has one). ``divergence`` maps arm -> (diverged runs, finished or
    diverged runs).
    """

    problem: str
    arms: list[str]
    uncertainty_arms: list[str]
    baseline_arms: list[str]
    seeds: list[int]
    target: float | None
    target_note: str
    budget: float | None
    epochs_to_target: dict[str, dict[int, float]] = field(default_factory=dict)
    seconds_to_target: dict[str, dict[int, float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    diverged_accuracy: float | None = None
    divergence: dict[str, tuple[int, int]] = field(default_factory=dict)


@dataclass
class Comparison:
    """Uncertainty arm ``arm_a`` vs baseline ``arm_b`` on one metric of one problem.

    ``result`` is None only when the statistics refused the input (``reason`` says why);
    ``holm_p`` is the Holm-adjusted paired t-test p over every comparison in the report;
    ``notes`` says what the report decided before the test (diverged runs let in).
    """

    problem: str
    arm_a: str
    arm_b: str
    metric: Metric
    result: PairedComparison | None
    reason: str = ""
    holm_p: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def significant(self) -> bool:
        return self.holm_p is not None and self.holm_p < ALPHA

    @property
    def a_better(self) -> bool | None:
        """Whether the mean difference favours A; None if there is no difference."""
        if self.result is None or not self.result.mean_diff:
            return None
        return (self.result.mean_diff > 0) == self.metric.higher_is_better


@dataclass
class DivergenceComparison:
    """Divergence rate of uncertainty arm ``arm_a`` vs baseline ``arm_b`` on one problem."""

    problem: str
    arm_a: str
    arm_b: str
    test: DivergenceTest


@dataclass
class Summary:
    """Everything numeric the report shows. ``notes`` are store-wide remarks."""

    uncertainty_schedule: str
    problems: dict[str, ProblemSummary]
    comparisons: list[Comparison]
    notes: list[str] = field(default_factory=list)
    divergence: list[DivergenceComparison] = field(default_factory=list)

    @property
    def n_tests(self) -> int:
        """m of the Holm correction: comparisons with a t-test p-value."""
        return sum(1 for c in self.comparisons if c.result is not None and c.result.t_p is not None)


def best_val_accuracy(run: RunData) -> float | None:
    """Highest validation accuracy over the run's epochs, None if none was logged."""
    values = run.curve("val_accuracy")
    return float(np.nanmax(values)) if np.isfinite(values).any() else None


def run_budget(run: RunData) -> float:
    """Epochs the run was given: config 'epochs', else the epochs it logged."""
    epochs = run.config.get("epochs")
    if isinstance(epochs, (int, float)) and not isinstance(epochs, bool) and epochs > 0:
        return float(max(epochs, run.epochs.size))
    return float(max(run.epochs.size, run.epochs_done, 1))


def cumulative_seconds(run: RunData) -> np.ndarray:
    """Cumulative wall time (s) at the end of each epoch, shape (E,); NaN if unknown.

    Uses the logged ``wall_time``; without it, the running sum of train + eval time.
    """
    wall = run.curve("wall_time")
    if np.isfinite(wall).all() and wall.size:
        return wall
    parts = np.nan_to_num(run.curve("train_time")) + np.nan_to_num(run.curve("eval_time"))
    if np.isfinite(run.curve("train_time")).all() and wall.size:
        return np.cumsum(parts)
    return np.full(wall.shape, np.nan)


def _target_for(
    study: Study,
    problem: str,
    baselines: list[str],
    arms: list[str],
    target: float | Mapping[str, float] | None,
    fraction: float,
) -> tuple[float | None, str]:
    """The problem's target validation accuracy and a sentence saying where it came from."""
    if isinstance(target, Mapping):
        target = target.get(problem)
    if target is not None:
        return float(target), f"given: {float(target):.4g}"
    pool = baselines or arms
    best = {
        arm: [
            np.nan if (v := best_val_accuracy(run)) is None else v
            for run in study.runs_of(problem, arm, status="done")
        ]
        for arm in pool
    }
    try:
        value = default_target(best, pool, fraction)
    except ValueError:
        return None, "not set: no finished run logged a validation accuracy"
    who = "baseline" if baselines else "schedule (there is no baseline)"
    return value, (
        f"{fraction:g} x median best validation accuracy of the best {who} = {value:.4g}"
    )


def _times(
    study: Study, problem: str, arm: str, target: float | None, fn: Callable[[RunData], float]
) -> dict[int, float]:
    """seed -> time to target of finished runs; a diverged run never reached it (inf)."""
    if target is None:
        return {}
    return {
        run.seed: math.inf if run.status == "diverged" else fn(run)
        for run in study.runs_of(problem, arm)
        if run.status in ("done", "diverged")
    }


def accuracy_by_seed(study: Study, ps: ProblemSummary, arm: str) -> np.ndarray:
    """Final test accuracy of ``arm`` per seed of ``ps.seeds``, shape (seeds,).

    Finished runs give their test accuracy; a diverged run gives ``ps.diverged_accuracy``
    (the problem's lowest finished test accuracy), so a schedule that blows up is not
    judged on its survivors alone; failed, running and missing runs are NaN.
    """
    values = seed_vector(study, ps.problem, arm, ps.seeds, lambda run: run.test["test_accuracy"])
    if ps.diverged_accuracy is not None:
        diverged = {run.seed for run in study.runs_of(ps.problem, arm, status="diverged")}
        for i, seed in enumerate(ps.seeds):
            if seed in diverged:
                values[i] = ps.diverged_accuracy
    return values


def _seconds(run: RunData, target: float) -> float:
    try:
        return seconds_to_target(run.curve("val_accuracy"), cumulative_seconds(run), target)
    except ValueError:  # no usable wall time: unknown, not "never"
        return math.nan


def summarise_problem(
    study: Study,
    problem: str,
    uncertainty_schedule: str,
    target: float | Mapping[str, float] | None,
    fraction: float,
) -> ProblemSummary:
    """Targets and times to target of one problem's arms."""
    arms = study.arms(problem)
    by_arm = {arm: study.runs_of(problem, arm) for arm in arms}
    # 'uncertainty' selects every variant ('uncertainty:reference=min', ...); a full label
    # selects that variant alone.
    unc = [
        arm
        for arm in arms
        if uncertainty_schedule in (by_arm[arm][0].schedule, by_arm[arm][0].base_schedule)
    ]
    # Put the uncertainty arms first: they are the subject of the report.
    arms = unc + [arm for arm in arms if arm not in unc]
    # Baselines are the other schedules; uncertainty variants that are not under test (a
    # selection study's other arms) are shown in the tables but are not baselines.
    baselines = [arm for arm in arms if by_arm[arm][0].base_schedule != "uncertainty"]
    value, note = _target_for(study, problem, baselines, arms, target, fraction)
    done = [run for run in study.runs if run.problem == problem and run.status == "done"]
    budgets = sorted({run_budget(run) for run in done})
    summary = ProblemSummary(
        problem=problem,
        arms=arms,
        uncertainty_arms=unc,
        baseline_arms=baselines,
        seeds=study.seeds(problem),
        target=value,
        target_note=note,
        budget=budgets[-1] if budgets else None,
    )
    if len(budgets) > 1:
        summary.notes.append(
            f"finished runs had different epoch budgets ({', '.join(f'{b:g}' for b in budgets)});"
            f" time-to-target comparisons use the largest, {budgets[-1]:g}"
        )
    finished = [run.test["test_accuracy"] for run in done]
    finished = [value for value in finished if value is not None]
    summary.diverged_accuracy = min(finished) if finished else None
    for arm in arms:
        counts = study.status_counts(problem, arm)
        summary.divergence[arm] = (counts["diverged"], counts["done"] + counts["diverged"])
        summary.epochs_to_target[arm] = _times(
            study,
            problem,
            arm,
            value,
            lambda run: epochs_to_target(run.curve("val_accuracy"), value),
        )
        summary.seconds_to_target[arm] = _times(
            study, problem, arm, value, lambda run: _seconds(run, value)
        )
    return summary


def _compare(
    study: Study, ps: ProblemSummary, arm_a: str, arm_b: str, metric: Metric
) -> Comparison:
    """One paired comparison; seeds without a finished run on either side drop out."""
    seeds = ps.seeds
    if metric.censored:
        if ps.target is None or ps.budget is None:
            return Comparison(ps.problem, arm_a, arm_b, metric, None, reason="no target")
        times_a, times_b = ps.epochs_to_target[arm_a], ps.epochs_to_target[arm_b]
        a = np.array([times_a.get(seed, np.nan) for seed in seeds])
        b = np.array([times_b.get(seed, np.nan) for seed in seeds])
        try:
            result = compare_censored(a, b, ps.budget)
        except ValueError as error:
            return Comparison(ps.problem, arm_a, arm_b, metric, None, reason=str(error))
        notes = _diverged_note(ps, arm_a, arm_b, "never reached the target")
        return Comparison(ps.problem, arm_a, arm_b, metric, result, notes=notes)
    notes = []
    if metric.key == "test_accuracy":
        a = accuracy_by_seed(study, ps, arm_a)
        b = accuracy_by_seed(study, ps, arm_b)
        if ps.diverged_accuracy is not None:
            notes = _diverged_note(
                ps, arm_a, arm_b,
                f"enter with test accuracy {ps.diverged_accuracy:.4g}, the lowest of any "
                "finished run on this problem",
            )  # fmt: skip
    else:
        a = seed_vector(study, ps.problem, arm_a, seeds, lambda run: run.test[metric.key])
        b = seed_vector(study, ps.problem, arm_b, seeds, lambda run: run.test[metric.key])
    result = compare_paired(a, b, higher_is_better=metric.higher_is_better)
    return Comparison(ps.problem, arm_a, arm_b, metric, result, notes=notes)


def _diverged_note(ps: ProblemSummary, arm_a: str, arm_b: str, how: str) -> list[str]:
    """'diverged runs (A: 2, B: 0) count as ...' when either arm has a diverged run."""
    n_a, n_b = ps.divergence[arm_a][0], ps.divergence[arm_b][0]
    if not n_a and not n_b:
        return []
    return [f"diverged runs (A: {n_a}, B: {n_b}) {how}"]


def summarise(
    study: Study,
    *,
    uncertainty_schedule: str = "uncertainty",
    target: float | Mapping[str, float] | None = None,
    target_fraction: float | None = None,
) -> Summary:
    """All report numbers of ``study``; Holm correction over every paired t-test p."""
    fraction = DEFAULT_TARGET_FRACTION if target_fraction is None else target_fraction
    problems = {
        problem: summarise_problem(study, problem, uncertainty_schedule, target, fraction)
        for problem in study.problems()
    }
    comparisons = [
        _compare(study, ps, arm_a, arm_b, metric)
        for ps in problems.values()
        for arm_a in ps.uncertainty_arms
        for arm_b in ps.baseline_arms
        for metric in AB_METRICS
    ]
    adjusted = holm([c.result.t_p if c.result is not None else None for c in comparisons])
    for comparison, p in zip(comparisons, adjusted, strict=True):
        comparison.holm_p = p
    divergence = [
        DivergenceComparison(
            ps.problem, arm_a, arm_b, divergence_test(*ps.divergence[arm_a], *ps.divergence[arm_b])
        )
        for ps in problems.values()
        for arm_a in ps.uncertainty_arms
        for arm_b in ps.baseline_arms
    ]
    notes: list[str] = []
    if not study.runs:
        notes.append("the store holds no runs")
    elif not any(ps.uncertainty_arms for ps in problems.values()):
        schedules = ", ".join(sorted({run.schedule for run in study.runs}))
        notes.append(
            f"no run uses the schedule {uncertainty_schedule!r} (schedules in the store: "
            f"{schedules}), so no A/B comparison was made"
        )
    return Summary(uncertainty_schedule, problems, comparisons, notes, divergence)

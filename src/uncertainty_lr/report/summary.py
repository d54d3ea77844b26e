"""The numbers behind the report: targets, time to target and every paired A/B comparison.

Tables, plots and the written analysis all read one ``Summary``, so a number shown in a
table, drawn in a plot and quoted in the text is the same number. Statistics come from
``uncertainty_lr.stats``; this module only decides what is compared with what.

A diverged run counts at chance accuracy, 1/C, in every accuracy comparison (its model
predicts no better than guessing), and as never reaching the target in time to target.
Test loss, macro-F1 and ECE cannot be imputed for it, so those comparisons drop it and
say how many diverged runs they dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from uncertainty_lr.problems import PROBLEMS
from uncertainty_lr.report.load import Study, seed_vector
from uncertainty_lr.report.targets import run_budget, seconds_of, target_for, times_to_target
from uncertainty_lr.stats import (
    DEFAULT_MARGIN,
    DEFAULT_TARGET_FRACTION,
    DivergenceTest,
    NonInferiority,
    PairedComparison,
    check_margin,
    compare_censored,
    compare_paired,
    divergence_test,
    epochs_to_target,
    holm,
    holm_confidence,
    non_inferiority,
    t_interval,
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

    ``chance_accuracy`` is the test accuracy a diverged run counts with: 1/C for the C
    classes of the problem (``chance_note`` says where C came from; 0 when it is unknown).
    ``divergence`` maps arm -> (diverged runs, finished or diverged runs).
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
    chance_accuracy: float = 0.0
    chance_note: str = ""
    divergence: dict[str, tuple[int, int]] = field(default_factory=dict)


@dataclass
class Comparison:
    """Uncertainty arm ``arm_a`` vs baseline ``arm_b`` on one metric of one problem.

    ``result`` is None only when the statistics refused the input (``reason`` says why);
    ``holm_p`` is the Holm-adjusted paired t-test p over every comparison in the report, and
    ``holm_interval`` the t-interval of the mean difference at ``holm_level``, the level that
    agrees with it (``stats.holm_confidence``: it excludes 0 exactly when holm_p < ALPHA).
    ``non_inferiority`` (test accuracy only): is A at most the summary's margin worse than B?
    ``differences``: the paired differences a - b the tests used, shape (n,).
    ``notes`` says what the report decided before the test (diverged runs let in or dropped).
    """

    problem: str
    arm_a: str
    arm_b: str
    metric: Metric
    result: PairedComparison | None
    reason: str = ""
    holm_p: float | None = None
    notes: list[str] = field(default_factory=list)
    non_inferiority: NonInferiority | None = None
    differences: np.ndarray | None = None
    holm_level: float | None = None
    holm_interval: tuple[float, float] | None = None

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
    """Everything numeric the report shows. ``notes`` are store-wide remarks; ``margin`` is
    the non-inferiority margin in test accuracy."""

    uncertainty_schedule: str
    problems: dict[str, ProblemSummary]
    comparisons: list[Comparison]
    notes: list[str] = field(default_factory=list)
    divergence: list[DivergenceComparison] = field(default_factory=list)
    margin: float = DEFAULT_MARGIN

    @property
    def n_tests(self) -> int:
        """m of the Holm correction: comparisons with a t-test p-value."""
        return sum(1 for c in self.comparisons if c.result is not None and c.result.t_p is not None)


def accuracy_by_seed(study: Study, ps: ProblemSummary, arm: str) -> np.ndarray:
    """Final test accuracy of ``arm`` per seed of ``ps.seeds``, shape (seeds,).

    Finished runs give their test accuracy; a diverged run gives ``ps.chance_accuracy``
    (1/C: its model predicts no better than guessing), so a schedule that blows up is
    judged on all its runs, not its survivors; failed, running and missing runs are NaN.
    """
    values = seed_vector(study, ps.problem, arm, ps.seeds, lambda run: run.test["test_accuracy"])
    diverged = {run.seed for run in study.runs_of(ps.problem, arm, status="diverged")}
    for i, seed in enumerate(ps.seeds):
        if seed in diverged:
            values[i] = ps.chance_accuracy
    return values


def chance_accuracy(study: Study, problem: str) -> tuple[float, str]:
    """(1/C, where C came from) for ``problem``: the class count its runs recorded, else the
    problem registry's for its dataset, else (0.0, why): accuracy 0 is the bound below chance.
    """
    recorded = {run.config.get("num_classes") for run in study.runs_of(problem)}
    counts = sorted(c for c in recorded if isinstance(c, int) and not isinstance(c, bool) and c > 1)
    if counts:
        # Runs of one problem share its data; should they differ, the largest C is the
        # lower chance, the conservative value for a run that diverged.
        return 1.0 / counts[
            -1
        ], f"1/{counts[-1]}, chance for the {counts[-1]} classes its runs recorded"
    if problem in PROBLEMS:
        classes = PROBLEMS[problem].classes
        return 1.0 / classes, f"1/{classes}, chance for the {classes} classes of its dataset"
    return 0.0, "0: the number of classes is unknown (no run recorded it), so 0 bounds chance"


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
    value, note = target_for(study, problem, baselines, arms, target, fraction)
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
    summary.chance_accuracy, summary.chance_note = chance_accuracy(study, problem)
    for arm in arms:
        counts = study.status_counts(problem, arm)
        summary.divergence[arm] = (counts["diverged"], counts["done"] + counts["diverged"])
        summary.epochs_to_target[arm] = times_to_target(
            study,
            problem,
            arm,
            value,
            lambda run: epochs_to_target(run.curve("val_accuracy"), value),
        )
        summary.seconds_to_target[arm] = times_to_target(
            study, problem, arm, value, lambda run: seconds_of(run, value)
        )
    return summary


def _compare(
    study: Study, ps: ProblemSummary, arm_a: str, arm_b: str, metric: Metric, margin: float
) -> Comparison:
    """One paired comparison; seeds without a finished (or, for accuracy and time to target,
    diverged) run on either side drop out."""
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
        notes = _diverged_note(ps, arm_a, arm_b, "{runs} never reached the target")
        return Comparison(ps.problem, arm_a, arm_b, metric, result, notes=notes,
                          differences=_differences(a, b, ps.budget + 1))  # fmt: skip
    if metric.key == "test_accuracy":
        a, b = accuracy_by_seed(study, ps, arm_a), accuracy_by_seed(study, ps, arm_b)
        notes = _diverged_note(
            ps, arm_a, arm_b, "{runs} count at chance accuracy " + ps.chance_note
        )
        result = compare_paired(a, b, higher_is_better=True)
        return Comparison(ps.problem, arm_a, arm_b, metric, result, notes=notes,
                          non_inferiority=non_inferiority(a, b, margin),
                          differences=_differences(a, b))  # fmt: skip
    a = seed_vector(study, ps.problem, arm_a, seeds, lambda run: run.test[metric.key])
    b = seed_vector(study, ps.problem, arm_b, seeds, lambda run: run.test[metric.key])
    notes = _diverged_note(
        ps, arm_a, arm_b, f"drops {{runs}}: a diverged run has no {metric.label}"
    )
    result = compare_paired(a, b, higher_is_better=metric.higher_is_better)
    return Comparison(ps.problem, arm_a, arm_b, metric, result, notes=notes,
                      differences=_differences(a, b))  # fmt: skip


def _differences(a: np.ndarray, b: np.ndarray, never: float | None = None) -> np.ndarray:
    """a - b over the pairs with both values, inf (never reached) set to ``never``."""
    if never is not None:
        a, b = np.where(np.isposinf(a), never, a), np.where(np.isposinf(b), never, b)
    keep = ~(np.isnan(a) | np.isnan(b))
    return a[keep] - b[keep]


def _diverged_note(ps: ProblemSummary, arm_a: str, arm_b: str, text: str) -> list[str]:
    """``text`` with '{runs}' as '2 diverged runs (A: 2, B: 0)', when either arm has one."""
    n_a, n_b = ps.divergence[arm_a][0], ps.divergence[arm_b][0]
    if not n_a and not n_b:
        return []
    runs = f"{n_a + n_b} diverged run{'s' if n_a + n_b > 1 else ''} (A: {n_a}, B: {n_b})"
    return [text.format(runs=runs)]


def _holm_intervals(comparisons: list[Comparison]) -> None:
    """Set each comparison's interval at the level that agrees with its Holm p."""
    for c in comparisons:
        if c.result is None or c.differences is None:
            continue
        level = holm_confidence(c.result.t_p, c.holm_p, ALPHA)
        if level is not None:
            c.holm_level, c.holm_interval = level, t_interval(c.differences, level)


def summarise(
    study: Study,
    *,
    uncertainty_schedule: str = "uncertainty",
    target: float | Mapping[str, float] | None = None,
    target_fraction: float | None = None,
    margin: float = DEFAULT_MARGIN,
) -> Summary:
    """All report numbers of ``study``; Holm correction over every paired t-test p.

    ``margin``: the non-inferiority margin in test accuracy (default ``DEFAULT_MARGIN``).
    """
    margin = check_margin(margin)
    fraction = DEFAULT_TARGET_FRACTION if target_fraction is None else target_fraction
    problems = {
        problem: summarise_problem(study, problem, uncertainty_schedule, target, fraction)
        for problem in study.problems()
    }
    comparisons = [
        _compare(study, ps, arm_a, arm_b, metric, margin)
        for ps in problems.values()
        for arm_a in ps.uncertainty_arms
        for arm_b in ps.baseline_arms
        for metric in AB_METRICS
    ]
    adjusted = holm([c.result.t_p if c.result is not None else None for c in comparisons])
    for comparison, p in zip(comparisons, adjusted, strict=True):
        comparison.holm_p = p
    _holm_intervals(comparisons)
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
    return Summary(uncertainty_schedule, problems, comparisons, notes, divergence, margin)

"""Time to reach a target accuracy, the AlgoPerf-style target, and performance profiles.

A run that never reaches the target within its budget is *censored*: its time is
``math.inf``. Compare such times with ``compare_censored``; aggregate them across problems
with ``performance_profile``, which keeps inf as "never solved".
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from uncertainty_lr.checks import check_number
from uncertainty_lr.stats._checks import Values, as_1d, check_finite_number

# AlgoPerf sets each workload's target just below what a well-tuned baseline reaches, so that
# "time to target" rewards speed without demanding a new state of the art. 0.99 x the median
# best validation accuracy of the strongest baseline is our version of that rule.
DEFAULT_TARGET_FRACTION = 0.99


def epochs_to_target(curve: Values, target: float) -> float:
    """1-based epoch at which ``curve`` first reaches ``>= target``; ``math.inf`` if never.

    ``curve``: validation accuracy after each epoch, shape (epochs,). NaN epochs (a diverged
    run) never count as reaching the target. An empty curve never reached it.
    """
    values = as_1d(curve, "curve")
    target = check_finite_number(target, "target")
    reached = np.flatnonzero(values >= target)
    return float(reached[0] + 1) if reached.size else math.inf


def seconds_to_target(curve: Values, seconds: Values, target: float) -> float:
    """Cumulative wall time (s) at the end of the first epoch with ``curve >= target``.

    ``seconds[i]``: cumulative wall time at the end of epoch i+1, same length as ``curve``,
    finite, >= 0 and non-decreasing. Returns ``math.inf`` if the target is never reached.
    """
    values, times = as_1d(curve, "curve"), as_1d(seconds, "seconds")
    if values.size != times.size:
        raise ValueError(
            f"curve and seconds must have the same length, got {values.size} and {times.size}"
        )
    if not np.all(np.isfinite(times)) or (times.size and times.min() < 0):
        raise ValueError("seconds must be finite and >= 0 (cumulative wall time per epoch)")
    if np.any(np.diff(times) < 0):
        raise ValueError("seconds must be non-decreasing (cumulative wall time per epoch)")
    target = check_finite_number(target, "target")
    reached = np.flatnonzero(values >= target)
    return float(times[reached[0]]) if reached.size else math.inf


def default_target(
    best_val_acc_by_schedule: Mapping[str, Values],
    baselines: Sequence[str],
    fraction: float = DEFAULT_TARGET_FRACTION,
) -> float:
    """AlgoPerf-style target: ``fraction`` x the median best validation accuracy of the best
    baseline.

    ``best_val_acc_by_schedule[s]``: best validation accuracy of each seed of schedule ``s``,
    shape (seeds,); NaN seeds (failed runs) are ignored. Among ``baselines`` the one with the
    highest median over seeds sets the target. ``fraction`` is in (0, 1], default
    ``DEFAULT_TARGET_FRACTION`` = 0.99.
    """
    if isinstance(baselines, str) or not baselines:
        raise ValueError(f"baselines must be a non-empty list of schedule names, got {baselines!r}")
    check_number("fraction", fraction, 0.0, 1.0, "(]", numpy=True)
    medians = []
    for name in baselines:
        if name not in best_val_acc_by_schedule:
            raise ValueError(
                f"baseline {name!r} not in best_val_acc_by_schedule, "
                f"which has {sorted(best_val_acc_by_schedule)}"
            )
        values = as_1d(best_val_acc_by_schedule[name], f"best_val_acc_by_schedule[{name!r}]")
        values = values[~np.isnan(values)]
        if values.size:
            medians.append(float(np.median(values)))
    if not medians:
        raise ValueError(f"no baseline in {list(baselines)} has a non-NaN best accuracy")
    return float(fraction) * max(medians)


def _times_matrix(times: Mapping[str, Values]) -> np.ndarray:
    """Stack ``times`` into shape (schedules, problems) after checking it."""
    if not times:
        raise ValueError("times must map at least one schedule name to its times, got {}")
    rows = [as_1d(v, f"times[{k!r}]") for k, v in times.items()]
    sizes = {row.size for row in rows}
    if len(sizes) != 1 or 0 in sizes:
        raise ValueError(
            f"every schedule needs one time per problem (same length > 0), got {sizes}"
        )
    matrix = np.vstack(rows)
    if np.isnan(matrix).any():
        raise ValueError("times contain NaN; use inf for a problem a schedule never solved")
    if (matrix <= 0).any():
        raise ValueError(f"times must be > 0 or inf, got {matrix[matrix <= 0][0]:g}")
    return matrix


def performance_ratios(
    times: Mapping[str, Values],
) -> dict[str, np.ndarray]:
    """r_sp = time_sp / min over schedules of time_sp, shape (problems,) per schedule.

    ``times[s][p]``: time schedule ``s`` needed on problem ``p`` (epochs or seconds, > 0),
    ``math.inf`` if it never reached the target. An inf time gives an inf ratio; a problem no
    schedule solved gives inf for all.
    """
    matrix = _times_matrix(times)
    best = matrix.min(axis=0)
    ratios = np.full_like(matrix, np.inf)
    solved = np.isfinite(best)
    ratios[:, solved] = matrix[:, solved] / best[solved]
    return dict(zip(times, ratios, strict=True))


def performance_profile(
    times: Mapping[str, Values],
    taus: Values,
) -> dict[str, np.ndarray]:
    """AlgoPerf performance profile: rho_s(tau) = fraction of problems with r_sp <= tau.

    ``times`` as in ``performance_ratios``; ``taus``: 1-D finite ratios to evaluate at
    (typically from 1 upwards). Returns, per schedule, an array of shape (len(taus),) with values in
    [0, 1]; a schedule that never reached the target on a problem never counts it as solved.
    """
    tau = as_1d(taus, "taus")
    if not np.all(np.isfinite(tau)):
        # inf <= inf would count a never-solved problem as solved at tau = inf.
        raise ValueError(f"taus must be finite, got {tau[~np.isfinite(tau)][0]}")
    ratios = performance_ratios(times)
    return {name: np.mean(r[None, :] <= tau[:, None], axis=1) for name, r in ratios.items()}


#: AlgoPerf integrates the performance profile up to this ratio: a schedule that needs more
#: than 4x the best schedule's time on a problem gets no credit for it.
ALGOPERF_TAU_MAX = 4.0


def algoperf_score(
    times: Mapping[str, Values], tau_max: float = ALGOPERF_TAU_MAX
) -> dict[str, float]:
    """AlgoPerf benchmark score: area under each profile for tau in [1, tau_max], / (tau_max - 1).

    ``times`` as in ``performance_ratios``. The profile is a step function, so the area is
    exact: a problem with ratio r <= tau_max adds (tau_max - r) / (tau_max - 1) / problems,
    one never solved (or solved only beyond tau_max) adds 0. 1 = fastest on every problem;
    0 = never within tau_max of the fastest. ``tau_max`` > 1, default 4 (AlgoPerf's).
    """
    tau_max = check_finite_number(tau_max, "tau_max")
    if tau_max <= 1:
        raise ValueError(f"tau_max must be > 1, got {tau_max:g}")
    scores = {}
    for name, r in performance_ratios(times).items():
        credit = np.where(r <= tau_max, (tau_max - np.minimum(r, tau_max)) / (tau_max - 1), 0.0)
        scores[name] = float(np.mean(credit))
    return scores

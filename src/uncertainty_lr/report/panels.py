"""Which arms a figure shows: the uncertainty arms and the best few baselines; the rest go
to a second, folded figure (no plotting here).

With nine arms in one panel the seed bands merge into one grey-brown band and no line can be
followed. The reader's question is where the uncertainty arms stand against the strongest
baselines, so the first figure shows those, and every other baseline is one click away.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np

from uncertainty_lr.report.load import Study
from uncertainty_lr.report.summary import ProblemSummary, accuracy_by_seed

#: Baselines drawn beside the uncertainty arms in a problem's first figure.
SHOWN_BASELINES = 3


def split_arms(
    arms: list[str],
    uncertainty_arms: Iterable[str],
    score: Mapping[str, float],
    keep: int = SHOWN_BASELINES,
    also: Iterable[str] = (),
) -> tuple[list[str], list[str]]:
    """(shown, rest) of ``arms``, each in the order of ``arms`` (so colours stay put).

    Shown: every uncertainty arm, the ``keep`` other arms with the highest ``score``
    (higher is better; an arm without a finite score ranks last) and the arms in ``also``
    (those a sentence of the report names). Rest: every other arm, empty when nothing is left.
    """
    unc = set(uncertainty_arms)
    others = [arm for arm in arms if arm not in unc]

    def rank(arm: str) -> float:
        value = score.get(arm)
        return -value if value is not None and math.isfinite(value) else math.inf

    best = set(sorted(others, key=rank)[:keep]) | (set(also) & set(others))
    shown = [arm for arm in arms if arm in unc or arm in best]
    return shown, [arm for arm in arms if arm not in shown]


def mean_test_accuracy(study: Study, ps: ProblemSummary) -> dict[str, float]:
    """arm -> mean final test accuracy over seeds, a diverged run at chance (the verdict's
    ranking); arms with no test accuracy are left out."""
    out = {}
    for arm in ps.arms:
        values = accuracy_by_seed(study, ps, arm)
        if np.isfinite(values).any():
            out[arm] = float(np.nanmean(values))
    return out


def curve_arms(study: Study, ps: ProblemSummary) -> tuple[list[str], list[str]]:
    """(shown, rest) for the training-curves figure of ``ps``: the uncertainty arms and the
    ``SHOWN_BASELINES`` arms of highest mean final test accuracy, then the others."""
    return split_arms(ps.arms, ps.uncertainty_arms, mean_test_accuracy(study, ps))

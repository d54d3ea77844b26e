"""Statistics over (seeds x problems) arrays: paired tests, censored time-to-target, rliable
aggregates and AlgoPerf performance profiles. numpy and scipy only; never imports torch.
"""

from uncertainty_lr.stats.aggregate import iqm, iqm_ci, mean_std, summarise
from uncertainty_lr.stats.convergence import (
    DEFAULT_TARGET_FRACTION,
    default_target,
    epochs_to_target,
    performance_profile,
    performance_ratios,
    seconds_to_target,
)
from uncertainty_lr.stats.paired import (
    WILCOXON_MIN_PAIRS_FOR_5_PERCENT,
    PairedComparison,
    compare_censored,
    compare_paired,
    holm,
    t_interval,
)

__all__ = [
    "DEFAULT_TARGET_FRACTION",
    "WILCOXON_MIN_PAIRS_FOR_5_PERCENT",
    "PairedComparison",
    "compare_censored",
    "compare_paired",
    "default_target",
    "epochs_to_target",
    "holm",
    "iqm",
    "iqm_ci",
    "mean_std",
    "performance_profile",
    "performance_ratios",
    "seconds_to_target",
    "summarise",
    "t_interval",
]

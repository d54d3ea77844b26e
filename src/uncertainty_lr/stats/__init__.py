"""Statistics over (seeds x problems) arrays: paired tests, censored time-to-target, rliable
aggregates and AlgoPerf performance profiles. numpy and scipy only; never imports torch.
"""

from uncertainty_lr.stats.aggregate import iqm, iqm_ci, mean_std, summarise
from uncertainty_lr.stats.convergence import (
    ALGOPERF_TAU_MAX,
    DEFAULT_TARGET_FRACTION,
    algoperf_score,
    default_target,
    epochs_to_target,
    performance_profile,
    performance_ratios,
    seconds_to_target,
)
from uncertainty_lr.stats.improvement import (
    DivergenceTest,
    divergence_test,
    probability_of_improvement,
    probability_of_improvement_ci,
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
    "ALGOPERF_TAU_MAX",
    "DEFAULT_TARGET_FRACTION",
    "DivergenceTest",
    "WILCOXON_MIN_PAIRS_FOR_5_PERCENT",
    "PairedComparison",
    "algoperf_score",
    "compare_censored",
    "compare_paired",
    "default_target",
    "divergence_test",
    "epochs_to_target",
    "holm",
    "iqm",
    "iqm_ci",
    "mean_std",
    "performance_profile",
    "performance_ratios",
    "probability_of_improvement",
    "probability_of_improvement_ci",
    "seconds_to_target",
    "summarise",
    "t_interval",
]

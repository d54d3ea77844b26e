"""Statistics over (seeds x problems) arrays: paired tests, censored time-to-target, rliable
aggregates and AlgoPerf performance profiles, non-inferiority. numpy and scipy only; never
imports torch.
"""

from uncertainty_lr.stats.aggregate import (
    competition_ranks,
    iqm,
    iqm_ci,
    mean_std,
    normalise_scores,
    summarise,
)
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
    N_PERMUTATIONS,
    DivergenceTest,
    divergence_test,
    improvement_permutation_test,
    probability_of_improvement,
    probability_of_improvement_ci,
)
from uncertainty_lr.stats.noninferiority import (
    DEFAULT_MARGIN,
    NonInferiority,
    check_margin,
    non_inferiority,
)
from uncertainty_lr.stats.paired import (
    WILCOXON_MIN_PAIRS_FOR_5_PERCENT,
    PairedComparison,
    compare_censored,
    compare_paired,
    holm,
    holm_confidence,
    t_interval,
)

__all__ = [
    "ALGOPERF_TAU_MAX",
    "DEFAULT_MARGIN",
    "N_PERMUTATIONS",
    "NonInferiority",
    "DEFAULT_TARGET_FRACTION",
    "DivergenceTest",
    "WILCOXON_MIN_PAIRS_FOR_5_PERCENT",
    "PairedComparison",
    "algoperf_score",
    "check_margin",
    "competition_ranks",
    "compare_censored",
    "compare_paired",
    "default_target",
    "divergence_test",
    "epochs_to_target",
    "holm",
    "holm_confidence",
    "improvement_permutation_test",
    "iqm",
    "iqm_ci",
    "mean_std",
    "non_inferiority",
    "normalise_scores",
    "performance_profile",
    "performance_ratios",
    "probability_of_improvement",
    "probability_of_improvement_ci",
    "seconds_to_target",
    "summarise",
    "t_interval",
]

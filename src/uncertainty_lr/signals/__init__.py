"""Uncertainty signals: floats in [0, 1], 0 = certain, 1 = maximally unsure (the one
exception, ``calibration_gap``, is signed, in [-1, 1]).

- ``functions``: pure functions of probabilities (or logits with ``from_logits=True``).
- ``estimators``: run a model over data (single pass, MC dropout, last-layer MC dropout).
- ``laplace``: last-layer Laplace (K-FAC GGN posterior of the linear head, fitted on
  training features) and its sampled predictive.
- ``tracker``: an EMA of a single-pass signal from the training loop's own logits.
"""

from uncertainty_lr.signals.estimate import estimate_signal
from uncertainty_lr.signals.estimators import (
    DROPOUT_TYPES,
    ESTIMATED_SIGNALS,
    SIGNAL_DESCRIPTIONS,
    last_layer_mc_probs,
    mc_dropout_probs,
    predict_logits,
)
from uncertainty_lr.signals.functions import (
    SIGNAL_FUNCTIONS,
    calibration_gap,
    confidence,
    entropy,
    expected_calibration_error,
    margin,
    mutual_information,
    overconfidence,
    per_sample_confidence,
    per_sample_entropy,
    per_sample_margin,
    per_sample_mutual_information,
    per_sample_variance,
    predictive_variance,
    probs_from_logits,
)
from uncertainty_lr.signals.laplace import (
    HeadPosterior,
    fit_head_posterior,
    last_layer_laplace_probs,
)
from uncertainty_lr.signals.tracker import BatchSignalTracker

__all__ = [
    "DROPOUT_TYPES",
    "ESTIMATED_SIGNALS",
    "SIGNAL_DESCRIPTIONS",
    "SIGNAL_FUNCTIONS",
    "BatchSignalTracker",
    "HeadPosterior",
    "calibration_gap",
    "confidence",
    "entropy",
    "estimate_signal",
    "expected_calibration_error",
    "fit_head_posterior",
    "last_layer_laplace_probs",
    "last_layer_mc_probs",
    "margin",
    "mc_dropout_probs",
    "mutual_information",
    "overconfidence",
    "per_sample_confidence",
    "per_sample_entropy",
    "per_sample_margin",
    "per_sample_mutual_information",
    "per_sample_variance",
    "predict_logits",
    "predictive_variance",
    "probs_from_logits",
]

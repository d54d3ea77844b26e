"""Uncertainty signals: floats in [0, 1], 0 = certain, 1 = maximally unsure (the one
exception, ``calibration_gap``, is signed, in [-1, 1]).

- ``catalog``: every signal as data (``SIGNALS``: family, function, what it needs, a
  description); torch-free.
- ``functions``: pure functions of probabilities (or logits with ``from_logits=True``).
- ``estimators``: run a model over data (single pass, MC dropout, last-layer MC dropout).
- ``laplace``: last-layer Laplace (K-FAC GGN posterior of the linear head, fitted on
  training features) and its sampled predictive.
- ``estimate``: one signal of a model over data, by catalog name.
- ``tracker``: an EMA of a single-pass signal from the training loop's own logits.

Names are imported lazily, so ``uncertainty_lr.signals.catalog`` loads no torch (the
config check and the schedule registry read it).
"""

from uncertainty_lr.lazy import lazy_getattr

_EXPORTS = {
    "SIGNALS": "catalog",
    "SignalSpec": "catalog",
    "signal_spec": "catalog",
    "estimate_signal": "estimate",
    "ESTIMATED_SIGNALS": "estimate",
    "SIGNAL_DESCRIPTIONS": "estimate",
    "DROPOUT_TYPES": "estimators",
    "Sampling": "estimators",
    "last_layer_mc_probs": "estimators",
    "mc_dropout_probs": "estimators",
    "predict_logits": "estimators",
    "SIGNAL_FUNCTIONS": "functions",
    "calibration_gap": "functions",
    "confidence": "functions",
    "entropy": "functions",
    "expected_calibration_error": "functions",
    "margin": "functions",
    "mutual_information": "functions",
    "overconfidence": "functions",
    "per_sample_confidence": "functions",
    "per_sample_entropy": "functions",
    "per_sample_margin": "functions",
    "per_sample_mutual_information": "functions",
    "per_sample_variance": "functions",
    "predictive_entropy": "functions",
    "predictive_variance": "functions",
    "probs_from_logits": "functions",
    "HeadPosterior": "laplace",
    "fit_head_posterior": "laplace",
    "last_layer_laplace_probs": "laplace",
    "BatchSignalTracker": "tracker",
}
__all__ = sorted(_EXPORTS)

__getattr__ = lazy_getattr(__name__, _EXPORTS)

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

from uncertainty_lr.lazy import by_module, lazy_getattr

_EXPORTS = by_module(
    {
        "catalog": ("SIGNALS", "SignalSpec", "signal_spec"),
        "estimate": ("estimate_signal", "ESTIMATED_SIGNALS", "SIGNAL_DESCRIPTIONS"),
        "estimators": (
            "DROPOUT_TYPES",
            "Sampling",
            "last_layer_mc_probs",
            "mc_dropout_probs",
            "predict_logits",
        ),
        "functions": (
            "SIGNAL_FUNCTIONS",
            "calibration_gap",
            "confidence",
            "entropy",
            "expected_calibration_error",
            "margin",
            "mutual_information",
            "overconfidence",
            "per_sample_confidence",
            "per_sample_entropy",
            "per_sample_margin",
            "per_sample_mutual_information",
            "per_sample_variance",
            "predictive_entropy",
            "predictive_variance",
            "probs_from_logits",
        ),
        "laplace": ("HeadPosterior", "fit_head_posterior", "last_layer_laplace_probs"),
        "tracker": ("BatchSignalTracker",),
    }
)
__all__ = sorted(_EXPORTS)

__getattr__ = lazy_getattr(__name__, _EXPORTS)

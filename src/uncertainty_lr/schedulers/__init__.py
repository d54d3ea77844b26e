"""Learning-rate schedules: UncertaintyLR, its framework-free policy and options, the registry.

Names are imported lazily so ``uncertainty_lr.schedulers.policy``, ``.options`` and
``.registry`` stay torch-free (the Keras adapter and config validation use them).
"""

from uncertainty_lr.lazy import lazy_getattr

_EXPORTS = {
    "MODES": "policy",
    "REFERENCES": "policy",
    "UncertaintyPolicy": "policy",
    "UncertaintyOptions": "options",
    "RECOMMENDED": "options",
    "UncertaintyLR": "uncertainty",
    "MonitoredUncertaintyLR": "uncertainty",
    "mean_over_ranks": "uncertainty",
    "WeightAverage": "averaging",
    "SCHEDULES": "registry",
    "UNCERTAINTY_SIGNALS": "registry",
    "check_schedule": "registry",
    "build_scheduler": "baselines",
}
__all__ = sorted(_EXPORTS)

__getattr__ = lazy_getattr(__name__, _EXPORTS)

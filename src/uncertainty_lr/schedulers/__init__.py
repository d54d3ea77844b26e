"""Learning-rate schedules: UncertaintyLR, its framework-free policy and options, the registry.

Names are imported lazily so ``uncertainty_lr.schedulers.policy``, ``.options`` and
``.registry`` stay torch-free (the Keras adapter and config validation use them).
"""

from uncertainty_lr.lazy import by_module, lazy_getattr

_EXPORTS = by_module(
    {
        "policy": ("MODES", "REFERENCES", "UncertaintyPolicy"),
        "options": ("UncertaintyOptions", "RECOMMENDED"),
        "uncertainty": ("UncertaintyLR", "MonitoredUncertaintyLR", "mean_over_ranks"),
        "averaging": ("WeightAverage",),
        "registry": ("SCHEDULES", "UNCERTAINTY_SIGNALS", "check_schedule"),
        "baselines": ("build_scheduler",),
    }
)
__all__ = sorted(_EXPORTS)

__getattr__ = lazy_getattr(__name__, _EXPORTS)

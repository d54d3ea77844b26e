"""Learning-rate schedules: UncertaintyLR, its framework-free policy and options, the registry.

Names are imported lazily so ``uncertainty_lr.schedulers.policy``, ``.options`` and
``.registry`` stay torch-free (the Keras adapter and config validation use them).
"""

from importlib import import_module

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


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)

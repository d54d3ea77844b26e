"""Learning-rate schedules: UncertaintyLR, its framework-free policy, and the baselines.

Names are imported lazily so ``uncertainty_lr.schedulers.policy`` stays torch-free for
the Keras and other adapters.
"""

from importlib import import_module

_EXPORTS = {
    "MODES": "policy",
    "REFERENCES": "policy",
    "UncertaintyPolicy": "policy",
    "UncertaintyLR": "uncertainty",
    "SCHEDULES": "baselines",
    "UNCERTAINTY_SIGNALS": "baselines",
    "Schedule": "baselines",
    "make_schedule": "baselines",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)

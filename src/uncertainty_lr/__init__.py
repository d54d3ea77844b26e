"""uncertainty-lr: learning-rate schedules driven by model uncertainty, and a harness to test them.

Public names are imported lazily, so ``import uncertainty_lr`` stays cheap and the
torch-free parts (policy, statistics, reports) can be used without torch loaded.
"""

from importlib import import_module

__version__ = "0.1.0"

_EXPORTS = {
    "UncertaintyLR": "uncertainty_lr.schedulers.uncertainty",
    "MonitoredUncertaintyLR": "uncertainty_lr.schedulers.uncertainty",
    "mean_over_ranks": "uncertainty_lr.schedulers.uncertainty",
    "UncertaintyOptions": "uncertainty_lr.schedulers.options",
    "RECOMMENDED": "uncertainty_lr.schedulers.options",
    "UncertaintyPolicy": "uncertainty_lr.schedulers.policy",
}
__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)

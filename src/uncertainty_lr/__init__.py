"""uncertainty-lr: learning-rate schedules driven by model uncertainty, and a harness to test them.

Public names are imported lazily, so ``import uncertainty_lr`` stays cheap and the
torch-free parts (policy, statistics, reports) can be used without torch loaded. Type
checkers read the same names from the ``TYPE_CHECKING`` imports below.

``__version__`` is the package's one version: ``pyproject.toml`` reads it from here.
"""

from importlib import import_module
from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:  # never true at run time: importing these loads torch
    from uncertainty_lr.schedulers.averaging import WeightAverage
    from uncertainty_lr.schedulers.options import RECOMMENDED, UncertaintyOptions
    from uncertainty_lr.schedulers.policy import UncertaintyPolicy
    from uncertainty_lr.schedulers.uncertainty import (
        MonitoredUncertaintyLR,
        UncertaintyLR,
        mean_over_ranks,
    )

_EXPORTS = {
    "UncertaintyLR": "uncertainty_lr.schedulers.uncertainty",
    "MonitoredUncertaintyLR": "uncertainty_lr.schedulers.uncertainty",
    "mean_over_ranks": "uncertainty_lr.schedulers.uncertainty",
    "UncertaintyOptions": "uncertainty_lr.schedulers.options",
    "RECOMMENDED": "uncertainty_lr.schedulers.options",
    "UncertaintyPolicy": "uncertainty_lr.schedulers.policy",
    "WeightAverage": "uncertainty_lr.schedulers.averaging",
}
__all__ = [
    "RECOMMENDED",
    "MonitoredUncertaintyLR",
    "UncertaintyLR",
    "UncertaintyOptions",
    "UncertaintyPolicy",
    "WeightAverage",
    "__version__",
    "mean_over_ranks",
]


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)

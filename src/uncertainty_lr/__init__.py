"""uncertainty-lr: learning-rate schedules driven by model uncertainty, and a harness to test them.

Public names are imported lazily, so ``import uncertainty_lr`` stays cheap and the
torch-free parts (policy, statistics, reports) can be used without torch loaded. Type
checkers read the same names from the ``TYPE_CHECKING`` imports below.

``__version__`` is the package's one version: ``pyproject.toml`` reads it from here.
"""

from typing import TYPE_CHECKING

from uncertainty_lr.lazy import by_module, lazy_getattr

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

_EXPORTS = by_module(
    {
        "schedulers.uncertainty": ("UncertaintyLR", "MonitoredUncertaintyLR", "mean_over_ranks"),
        "schedulers.options": ("UncertaintyOptions", "RECOMMENDED"),
        "schedulers.policy": ("UncertaintyPolicy",),
        "schedulers.averaging": ("WeightAverage",),
    }
)
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

__getattr__ = lazy_getattr(__name__, _EXPORTS)

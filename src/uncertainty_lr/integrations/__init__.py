"""Framework integrations, each behind its own optional extra.

- ``lightning``: ``UncertaintyLRCallback`` (extra ``lightning``)
- ``hf_trainer``: ``UncertaintyLRTrainerCallback``, ``uncertainty_metrics`` (extra ``hf``)
- ``keras``: ``UncertaintyLRKerasCallback`` (extra ``keras``; sets KERAS_BACKEND=torch
  if Keras is not imported yet and the variable is unset)
- ``tracking``: ``TensorBoardLogger``, ``MLflowLogger``, ``make_loggers`` (extra ``tracking``)

Names are imported lazily: ``from uncertainty_lr.integrations import X`` imports only the
framework X needs, and a missing framework raises ImportError naming the extra. Type
checkers read the same names from the ``TYPE_CHECKING`` imports below.
"""

from typing import TYPE_CHECKING

from uncertainty_lr.lazy import by_module, lazy_getattr

if TYPE_CHECKING:  # never true at run time: each import loads its framework
    from uncertainty_lr.integrations.hf_trainer import (
        UncertaintyLRTrainerCallback,
        uncertainty_metrics,
    )
    from uncertainty_lr.integrations.keras import UncertaintyLRKerasCallback
    from uncertainty_lr.integrations.lightning import UncertaintyLRCallback
    from uncertainty_lr.integrations.tracking import MLflowLogger, TensorBoardLogger, make_loggers

_EXPORTS = by_module(
    {
        "lightning": ("UncertaintyLRCallback",),
        "hf_trainer": ("UncertaintyLRTrainerCallback", "uncertainty_metrics"),
        "keras": ("UncertaintyLRKerasCallback",),
        "tracking": ("TensorBoardLogger", "MLflowLogger", "make_loggers"),
    }
)
__all__ = [
    "MLflowLogger",
    "TensorBoardLogger",
    "UncertaintyLRCallback",
    "UncertaintyLRKerasCallback",
    "UncertaintyLRTrainerCallback",
    "make_loggers",
    "uncertainty_metrics",
]

__getattr__ = lazy_getattr(__name__, _EXPORTS)

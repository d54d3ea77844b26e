"""Framework integrations, each behind its own optional extra.

- ``lightning``: ``UncertaintyLRCallback`` (extra ``lightning``)
- ``hf_trainer``: ``UncertaintyLRTrainerCallback``, ``uncertainty_metrics`` (extra ``hf``)
- ``keras``: ``UncertaintyLRKerasCallback`` (extra ``keras``; sets KERAS_BACKEND=torch
  if Keras is not imported yet and the variable is unset)
- ``tracking``: ``TensorBoardLogger``, ``MLflowLogger``, ``make_loggers`` (extra ``tracking``)

Names are imported lazily: ``from uncertainty_lr.integrations import X`` imports only the
framework X needs, and a missing framework raises ImportError naming the extra.
"""

from importlib import import_module

_EXPORTS = {
    "UncertaintyLRCallback": "lightning",
    "UncertaintyLRTrainerCallback": "hf_trainer",
    "uncertainty_metrics": "hf_trainer",
    "UncertaintyLRKerasCallback": "keras",
    "TensorBoardLogger": "tracking",
    "MLflowLogger": "tracking",
    "make_loggers": "tracking",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)

"""One number from a model over data: ``estimate_signal(model, inputs, signal)``.

What a signal is and how it is computed comes from the catalog (``signals.catalog``):
its family picks the predictions (one pass, MC dropout, last-layer MC dropout or
last-layer Laplace, see ``sampled_probs``), its function turns them into the number.
Kept apart from the estimators so that they import one way (laplace uses the
estimators' batching helpers).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from uncertainty_lr.signals.catalog import SIGNALS, signal_spec
from uncertainty_lr.signals.estimators import (
    Sampling,
    last_layer_mc_probs,
    mc_dropout_probs,
    predict_logits,
    sampling_of,
)
from uncertainty_lr.signals.functions import signal_function
from uncertainty_lr.signals.laplace import last_layer_laplace_probs

#: The signals ``estimate_signal`` computes from a model and inputs alone: those of an
#: evaluation that read no labels. Name -> the catalog's one-line description.
SIGNAL_DESCRIPTIONS: dict[str, str] = {
    name: spec.description
    for name, spec in SIGNALS.items()
    if not spec.from_training and not spec.needs_labels
}
ESTIMATED_SIGNALS: tuple[str, ...] = tuple(SIGNAL_DESCRIPTIONS)


def sampled_probs(
    family: str,
    model: nn.Module,
    inputs: torch.Tensor,
    sampling: Sampling,
    *,
    fit_inputs: torch.Tensor | None = None,
    return_logits: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """The T sampled predictions (T, N, C) of a sampled catalog family over ``inputs``.

    "mc_dropout": ``mc_dropout_probs``; "last_layer_dropout": ``last_layer_mc_probs``;
    "last_layer_laplace": ``last_layer_laplace_probs``, fitted on ``fit_inputs`` (the
    training inputs; ValueError without them); each run as ``sampling`` says.
    ``return_logits`` (last-layer families only) also returns the deterministic logits
    (N, C) of the same feature pass.
    """
    options = {"return_logits": True} if return_logits else {}
    if family == "mc_dropout" and not return_logits:
        return mc_dropout_probs(model, inputs, sampling)
    if family == "last_layer_dropout":
        return last_layer_mc_probs(model, inputs, sampling, **options)
    if family == "last_layer_laplace":
        if fit_inputs is None:
            raise ValueError(f"family {family!r} needs fit_inputs (the training inputs), got None")
        return last_layer_laplace_probs(model, inputs, fit_inputs, sampling, **options)
    raise ValueError(
        "family must be mc_dropout, last_layer_dropout or last_layer_laplace "
        f"(return_logits: the last two); got {family!r}"
    )


def estimate_signal(
    model: nn.Module,
    inputs: torch.Tensor,
    signal: str,
    sampling: Sampling | None = None,
    *,
    fit_inputs: torch.Tensor | None = None,
    **fields: Any,
) -> float:
    """Run ``model`` over ``inputs`` and return the named signal, a float in [0, 1].

    ``signal`` is one of ESTIMATED_SIGNALS (see SIGNAL_DESCRIPTIONS): the single-pass
    ones ("confidence", "entropy", "margin") use one eval pass (of ``sampling`` only the
    batch size and transform count); "mc_*" use full MC dropout, "ll_*" last-layer MC
    dropout and "la_*" last-layer Laplace, each with ``sampling.samples`` passes or draws.
    ``sampling`` (`Sampling`) may be given as its fields by name (``samples=4``). "la_*"
    needs ``fit_inputs``, the training inputs its posterior is fitted on.
    """
    if signal not in SIGNAL_DESCRIPTIONS:
        raise ValueError(f"unknown signal {signal!r}; known: {', '.join(ESTIMATED_SIGNALS)}")
    sampling = sampling_of(sampling, fields)
    spec, function = signal_spec(signal), signal_function(signal)
    if not spec.sampled:
        logits = predict_logits(model, inputs, sampling.batch_size, sampling.transform)
        return function(logits, from_logits=True)
    if spec.needs_laplace_fit and fit_inputs is None:
        raise ValueError(f"signal {signal!r} needs fit_inputs (the training inputs), got None")
    return function(sampled_probs(spec.family, model, inputs, sampling, fit_inputs=fit_inputs))

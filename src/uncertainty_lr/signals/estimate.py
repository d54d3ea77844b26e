"""One number from a model over data: ``estimate_signal(model, inputs, signal)``.

Dispatches to the single-pass signal functions, MC dropout, last-layer MC dropout
(``signals.estimators``) and last-layer Laplace (``signals.laplace``); kept apart from
those so that they import one way (laplace uses the estimators' batching helpers).
"""

from __future__ import annotations

import torch
from torch import nn

from uncertainty_lr.signals.estimators import (
    ESTIMATED_SIGNALS,
    SIGNAL_DESCRIPTIONS,
    Transform,
    last_layer_mc_probs,
    mc_dropout_probs,
    predict_logits,
)
from uncertainty_lr.signals.functions import (
    SIGNAL_FUNCTIONS,
    entropy,
    mutual_information,
    predictive_variance,
)
from uncertainty_lr.signals.laplace import last_layer_laplace_probs


def estimate_signal(
    model: nn.Module,
    inputs: torch.Tensor,
    signal: str,
    *,
    samples: int = 10,
    batch_size: int = 512,
    transform: Transform | None = None,
    generator_seed: int | None = None,
    fit_inputs: torch.Tensor | None = None,
) -> float:
    """Run ``model`` over ``inputs`` and return the named signal, a float in [0, 1].

    ``signal`` is one of ESTIMATED_SIGNALS (see SIGNAL_DESCRIPTIONS): "confidence",
    "entropy", "margin" use one eval pass (``samples`` and ``generator_seed`` are
    ignored); "mc_*" use full MC dropout, "ll_*" last-layer MC dropout and "la_*"
    last-layer Laplace, each with ``samples`` passes or draws. "la_*" needs
    ``fit_inputs``, the training inputs its posterior is fitted on.
    """
    if signal not in SIGNAL_DESCRIPTIONS:
        raise ValueError(f"unknown signal {signal!r}; known: {', '.join(ESTIMATED_SIGNALS)}")
    if signal in SIGNAL_FUNCTIONS:
        logits = predict_logits(model, inputs, batch_size=batch_size, transform=transform)
        return SIGNAL_FUNCTIONS[signal](logits, from_logits=True)

    options = dict(samples=samples, batch_size=batch_size, transform=transform,
                   generator_seed=generator_seed)  # fmt: skip
    if signal.startswith("la_"):
        if fit_inputs is None:
            raise ValueError(f"signal {signal!r} needs fit_inputs (the training inputs), got None")
        mc_probs = last_layer_laplace_probs(model, inputs, fit_inputs, **options)
    else:
        sampler = mc_dropout_probs if signal.startswith("mc_") else last_layer_mc_probs
        mc_probs = sampler(model, inputs, **options)
    kind = signal.split("_", 1)[1]
    if kind == "entropy":
        return entropy(mc_probs.mean(dim=0))
    if kind == "mutual_information":
        return mutual_information(mc_probs)
    return predictive_variance(mc_probs)

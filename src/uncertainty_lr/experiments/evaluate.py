"""Metrics of a model on one split: loss, accuracy, macro-F1, ECE and uncertainty signals.

Which signals exist, which predictions each needs and how it is computed come from the
signal catalog (``signals.catalog``); nothing here knows a signal by name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F

from uncertainty_lr.signals import functions as sf
from uncertainty_lr.signals.catalog import FAMILIES, SIGNALS, SignalSpec, evaluated_signals
from uncertainty_lr.signals.estimate import sampled_probs
from uncertainty_lr.signals.estimators import Sampling, predict_logits

#: Signals computed on every evaluation: one pass, already paid for by the loss.
DEFAULT_SIGNALS = tuple(name for name, spec in SIGNALS.items() if spec.every_evaluation)


def macro_f1(pred: torch.Tensor, target: torch.Tensor, num_classes: int) -> float:
    """Macro-averaged F1 over the classes present in ``target`` or ``pred`` (as scikit-learn)."""
    idx = target * num_classes + pred
    cm = torch.bincount(idx, minlength=num_classes * num_classes).view(num_classes, num_classes)
    tp = cm.diag().double()
    support, predicted = cm.sum(1).double(), cm.sum(0).double()
    present = (support + predicted) > 0
    f1 = 2 * tp[present] / (support[present] + predicted[present])
    return f1.mean().item()


def evaluate(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    num_classes: int,
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    batch_size: int = 1024,
    extra_signals: Iterable[str] = (),
    mc_samples: int = 10,
    mc_seed: int | None = None,
    prefix: str = "val",
    fit_inputs: torch.Tensor | None = None,
) -> dict[str, float]:
    """Loss (mean cross-entropy, nats), accuracy, macro-F1, ECE (15 bins) and signals.

    Keys are ``{prefix}_loss``, ``{prefix}_accuracy``, ``{prefix}_f1``, ``{prefix}_ece``,
    ``{prefix}_{signal}`` for the default signals (``DEFAULT_SIGNALS``) and every name in
    ``extra_signals`` (any of ``signals.catalog.evaluated_signals()``; ValueError for
    another). Single-pass signals come from the same pass as the loss (those that need
    labels read ``y``); a sampled family (MC dropout, last-layer MC dropout, last-layer
    Laplace) runs once for all its signals, ``mc_samples`` passes or draws, seeded by
    ``mc_seed``. Whenever an MC-dropout family ran, ``{prefix}_mutual_information`` and
    ``{prefix}_variance`` come from it too (last-layer preferred). Last-layer Laplace fits
    the head's posterior on ``fit_inputs``, the training inputs (N_train, ...) (at most
    1024 rows of them, a subset seeded by ``mc_seed``); it needs them.
    """
    wanted = [_evaluated(name) for name in dict.fromkeys(extra_signals)]
    wanted = [spec for spec in wanted if not spec.every_evaluation]
    one_pass = [spec for spec in wanted if not spec.sampled]
    sampled = [spec for spec in wanted if spec.sampled]
    laplace = [spec for spec in sampled if spec.needs_laplace_fit]
    if laplace and fit_inputs is None:
        raise ValueError(
            f"signal {laplace[0].name!r} needs fit_inputs (the training inputs), got None"
        )
    sampling = Sampling(mc_samples, batch_size, transform, generator_seed=mc_seed)
    families = dict.fromkeys(spec.family for spec in sampled)
    samples: dict[str, torch.Tensor] = {}
    # One feature pass serves both the deterministic logits and a last-layer family's
    # samples (last-layer dropout first, in catalog order).
    shared = next((f for f in FAMILIES if f in families and FAMILIES[f].last_layer), None)
    if shared is not None:
        samples[shared], logits = sampled_probs(
            shared, model, x, sampling, fit_inputs=fit_inputs, return_logits=True
        )
    else:
        logits = predict_logits(model, x, batch_size=batch_size, transform=transform)
    logits = logits.double()
    y = y.to(logits.device)
    probs = logits.softmax(-1)
    out = {
        f"{prefix}_loss": F.cross_entropy(logits, y).item(),
        f"{prefix}_accuracy": (logits.argmax(-1) == y).double().mean().item(),
        f"{prefix}_f1": macro_f1(logits.argmax(-1), y, num_classes),
        f"{prefix}_ece": sf.expected_calibration_error(probs, y),
    }
    for name in DEFAULT_SIGNALS:
        out[f"{prefix}_{name}"] = sf.signal_function(name)(probs)
    for spec in one_pass:
        labels = (y,) if spec.needs_labels else ()
        out[f"{prefix}_{spec.name}"] = sf.signal_function(spec.name)(probs, *labels)
    for spec in sampled:
        if spec.family not in samples:
            samples[spec.family] = sampled_probs(
                spec.family, model, x, sampling, fit_inputs=fit_inputs
            )
        out[f"{prefix}_{spec.name}"] = sf.signal_function(spec.name)(samples[spec.family])
    # The store's val_mutual_information / val_variance columns: from whichever MC-dropout
    # estimate ran, last-layer preferred (later in catalog order) as the cheaper one to ask for.
    for family in FAMILIES:
        if FAMILIES[family].dropout and family in samples:
            out[f"{prefix}_mutual_information"] = sf.mutual_information(samples[family])
            out[f"{prefix}_variance"] = sf.predictive_variance(samples[family])
    return out


def _evaluated(name: str) -> SignalSpec:
    """The catalog entry of a signal an evaluation can compute; ValueError otherwise."""
    if name not in evaluated_signals():
        raise ValueError(f"unknown signal {name!r}; known: {', '.join(evaluated_signals())}")
    return SIGNALS[name]

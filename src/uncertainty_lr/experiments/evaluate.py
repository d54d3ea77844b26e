"""Metrics of a model on one split: loss, accuracy, macro-F1, ECE and uncertainty signals."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F

from uncertainty_lr.signals import functions as sf
from uncertainty_lr.signals.estimators import last_layer_mc_probs, mc_dropout_probs, predict_logits
from uncertainty_lr.signals.laplace import last_layer_laplace_probs

#: Signals computed on every evaluation: one pass, already paid for by the loss.
DEFAULT_SIGNALS = ("confidence", "entropy", "margin")
#: Signals from the same pass that also read the labels, computed when asked for.
LABELLED_SIGNALS = {"overconfidence": sf.overconfidence, "calibration_gap": sf.calibration_gap}


def macro_f1(pred: torch.Tensor, target: torch.Tensor, num_classes: int) -> float:
    """Macro-averaged F1 over the classes present in ``target`` or ``pred`` (as scikit-learn)."""
    idx = target * num_classes + pred
    cm = torch.bincount(idx, minlength=num_classes * num_classes).view(num_classes, num_classes)
    tp = cm.diag().double()
    support, predicted = cm.sum(1).double(), cm.sum(0).double()
    present = (support + predicted) > 0
    f1 = 2 * tp[present] / (support[present] + predicted[present])
    return f1.mean().item()


def mc_signals(name: str, mc_probs: torch.Tensor) -> float:
    """The value of an mc_* / ll_* / la_* signal from sampled probabilities (T, N, C)."""
    kind = name.split("_", 1)[1]
    if kind == "entropy":
        return sf.entropy(mc_probs.mean(0))
    if kind == "mutual_information":
        return sf.mutual_information(mc_probs)
    return sf.predictive_variance(mc_probs)


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
    ``{prefix}_{signal}`` for the default signals and every name in ``extra_signals``
    ("overconfidence" and "calibration_gap" read the labels ``y`` too, from the same pass)
    (mc_* = full MC dropout, ll_* = last-layer MC dropout, la_* = last-layer Laplace,
    ``mc_samples`` passes or draws each, seeded by ``mc_seed``), plus ``{prefix}_mutual_information`` / ``{prefix}_variance`` from whichever MC
    estimate ran (last-layer preferred, as it is the cheaper one to ask for).
    la_* fits the head's posterior on ``fit_inputs``, the training inputs (N_train, ...)
    (at most 1024 rows of them, a subset seeded by ``mc_seed``); it needs them.
    """
    wanted = [s for s in dict.fromkeys(extra_signals) if s not in DEFAULT_SIGNALS]
    labelled = [s for s in wanted if s in LABELLED_SIGNALS]
    wanted = [s for s in wanted if s not in LABELLED_SIGNALS]
    laplace = [s for s in wanted if s.startswith("la_")]
    if laplace and fit_inputs is None:
        raise ValueError(f"signal {laplace[0]!r} needs fit_inputs (the training inputs), got None")
    samples: dict[str, torch.Tensor] = {}
    if any(s.startswith("ll_") for s in wanted):
        # one feature pass serves both the deterministic logits and the head samples
        samples["ll"], logits = last_layer_mc_probs(
            model, x, samples=mc_samples, batch_size=batch_size, transform=transform,
            generator_seed=mc_seed, return_logits=True,
        )  # fmt: skip
    elif laplace:
        samples["la"], logits = last_layer_laplace_probs(
            model, x, fit_inputs, samples=mc_samples, batch_size=batch_size, transform=transform,
            generator_seed=mc_seed, return_logits=True,
        )  # fmt: skip
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
        out[f"{prefix}_{name}"] = sf.SIGNAL_FUNCTIONS[name](probs)
    for name in labelled:
        out[f"{prefix}_{name}"] = LABELLED_SIGNALS[name](probs, y)
    for name in wanted:
        family = name.split("_", 1)[0]
        if family not in samples:
            options = dict(samples=mc_samples, batch_size=batch_size, transform=transform,
                           generator_seed=mc_seed)  # fmt: skip
            if family == "la":
                samples[family] = last_layer_laplace_probs(model, x, fit_inputs, **options)
            else:
                sampler = mc_dropout_probs if family == "mc" else last_layer_mc_probs
                samples[family] = sampler(model, x, **options)
        out[f"{prefix}_{name}"] = mc_signals(name, samples[family])
    for family in ("mc", "ll"):
        if family in samples:
            out[f"{prefix}_mutual_information"] = sf.mutual_information(samples[family])
            out[f"{prefix}_variance"] = sf.predictive_variance(samples[family])
    return out

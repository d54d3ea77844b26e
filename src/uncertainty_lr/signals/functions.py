"""Uncertainty signals as pure functions of predicted probabilities (torch only, no model code).

Every signal is a Python float in [0, 1]: 0 = certain, 1 = maximally unsure. Each is
normalised by its largest possible value for C classes, so one threshold means the same
thing on MNIST (C = 10) and IMDB (C = 2). The functions own no smoothing; the scheduler
policy (or `BatchSignalTracker`) does that.

Inputs are probabilities by default. Every function takes a keyword-only
``from_logits: bool = False``; with ``from_logits=True`` the input is turned into
probabilities by a float64 softmax over the last dimension first. Work is done in float64
on the input's device (CPU for MPS, which has no float64), on a detached copy.

Shapes: single-pass functions take ``probs`` (N, C); Monte Carlo functions take
``mc_probs`` (T, N, C) = T stochastic predictions of the same N examples. C >= 2.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from uncertainty_lr.checks import check_int
from uncertainty_lr.signals.catalog import signal_spec, signals_of

# Probabilities given as float32 (e.g. a float32 softmax over 1000 classes) sum to 1 only
# up to round-off; anything further off is a caller who passed logits or scores.
_ROW_SUM_TOLERANCE = 1e-3


def probs_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Softmax over the last dimension in float64: (..., C) logits -> (..., C) probabilities.

    float64 keeps tiny probabilities exact enough for entropy; log_softmax subtracts the
    row maximum, so large logits (1e4) do not overflow.
    """
    logits = _to_float64(logits, "logits")
    if not torch.isfinite(logits).all():
        raise ValueError("logits must be finite, got a NaN or infinite value")
    return torch.log_softmax(logits, dim=-1).exp()


def _as_tensor(x: torch.Tensor, name: str) -> torch.Tensor:
    """``x`` as a tensor (numpy arrays and nested lists of numbers are accepted too)."""
    if isinstance(x, torch.Tensor):
        return x
    try:
        return torch.as_tensor(x)
    except (TypeError, ValueError, RuntimeError) as error:
        raise ValueError(f"{name} must be a tensor, got {type(x).__name__}") from error


def _to_float64(x: torch.Tensor, name: str) -> torch.Tensor:
    """Detached float64 copy of ``x``."""
    x = _as_tensor(x, name).detach()
    if x.device.type == "mps":  # MPS has no float64
        x = x.cpu()
    return x.to(torch.float64)


def _checked_probs(probs: torch.Tensor, ndim: int, name: str, from_logits: bool) -> torch.Tensor:
    """Validate shape and values, return float64 probabilities with ``ndim`` dimensions."""
    probs = _as_tensor(probs, name)
    layout = "(N, C)" if ndim == 2 else "(T, N, C)"
    if probs.dim() != ndim:
        raise ValueError(
            f"{name} must be a {ndim}-D {layout} tensor, got shape {tuple(probs.shape)}"
        )
    if probs.shape[-1] < 2:
        raise ValueError(f"{name} must have C >= 2 classes, got C={probs.shape[-1]}")
    if probs.numel() == 0:
        raise ValueError(f"{name} must hold at least one example, got shape {tuple(probs.shape)}")
    if from_logits:
        return probs_from_logits(probs)
    probs = _to_float64(probs, name)
    if not torch.isfinite(probs).all():
        raise ValueError(f"{name} must be finite, got a NaN or infinite value")
    lowest = probs.min().item()
    if lowest < 0.0:
        raise ValueError(f"{name} must be >= 0, got {lowest:.6g}; pass from_logits=True for logits")
    deviation = (probs.sum(dim=-1) - 1.0).abs().max().item()
    if deviation > _ROW_SUM_TOLERANCE:
        raise ValueError(
            f"{name} rows must sum to 1, got a row off by {deviation:.6g}; "
            "pass from_logits=True for logits"
        )
    return probs


def _entropy_nats(probs: torch.Tensor) -> torch.Tensor:
    """Shannon entropy over the last dimension in nats; xlogy makes 0 * log 0 = 0."""
    return -torch.special.xlogy(probs, probs).sum(dim=-1)


def _mean_float(values: torch.Tensor) -> float:
    """Mean as a Python float, clamped to [0, 1] against float round-off."""
    return min(max(values.mean().item(), 0.0), 1.0)


# ---------------------------------------------------------------- per-sample (N,) tensors


def per_sample_confidence(probs: torch.Tensor, *, from_logits: bool = False) -> torch.Tensor:
    """(N, C) -> (N,) float64: (1 - max_c p) / (1 - 1/C); 0 for one-hot, 1 for uniform."""
    probs = _checked_probs(probs, 2, "probs", from_logits)
    num_classes = probs.shape[-1]
    return (1.0 - probs.max(dim=-1).values) / (1.0 - 1.0 / num_classes)


def per_sample_entropy(probs: torch.Tensor, *, from_logits: bool = False) -> torch.Tensor:
    """(N, C) -> (N,) float64: H(p_n) / log C (natural log, 0 * log 0 = 0)."""
    probs = _checked_probs(probs, 2, "probs", from_logits)
    return _entropy_nats(probs) / math.log(probs.shape[-1])


def per_sample_margin(probs: torch.Tensor, *, from_logits: bool = False) -> torch.Tensor:
    """(N, C) -> (N,) float64: 1 - (p_top1 - p_top2); 0 for one-hot, 1 for a top-two tie."""
    probs = _checked_probs(probs, 2, "probs", from_logits)
    top_two = probs.topk(2, dim=-1).values
    return 1.0 - (top_two[:, 0] - top_two[:, 1])


def per_sample_mutual_information(
    mc_probs: torch.Tensor, *, from_logits: bool = False
) -> torch.Tensor:
    """(T, N, C) -> (N,) float64 BALD: [H(mean_t p) - mean_t H(p_t)] / log C, clamped to [0, 1]."""
    mc_probs = _checked_probs(mc_probs, 3, "mc_probs", from_logits)
    total = _entropy_nats(mc_probs.mean(dim=0))
    expected = _entropy_nats(mc_probs).mean(dim=0)
    return ((total - expected) / math.log(mc_probs.shape[-1])).clamp(0.0, 1.0)


def per_sample_variance(mc_probs: torch.Tensor, *, from_logits: bool = False) -> torch.Tensor:
    """(T, N, C) -> (N,) float64: sum_c Var_t(p_tnc) / (1 - 1/C), population variance.

    1 - 1/C is the largest possible value: sum_c Var(p_c) = E sum_c p_c^2 - sum_c (E p_c)^2
    <= 1 - 1/C, reached by one-hot samples spread evenly over the classes.
    """
    mc_probs = _checked_probs(mc_probs, 3, "mc_probs", from_logits)
    num_classes = mc_probs.shape[-1]
    variance = mc_probs.var(dim=0, correction=0).sum(dim=-1)
    return (variance / (1.0 - 1.0 / num_classes)).clamp(0.0, 1.0)


# ---------------------------------------------------------------- scalar signals


def confidence(probs: torch.Tensor, *, from_logits: bool = False) -> float:
    """(1 - mean_n max_c p) / (1 - 1/C) in [0, 1]. probs: (N, C), rows sum to 1."""
    return _mean_float(per_sample_confidence(probs, from_logits=from_logits))


def entropy(probs: torch.Tensor, *, from_logits: bool = False) -> float:
    """mean_n H(p_n) / log C in [0, 1] (natural log; 0 * log 0 = 0). probs: (N, C)."""
    return _mean_float(per_sample_entropy(probs, from_logits=from_logits))


def margin(probs: torch.Tensor, *, from_logits: bool = False) -> float:
    """1 - mean_n (p_top1 - p_top2) in [0, 1]. probs: (N, C)."""
    return _mean_float(per_sample_margin(probs, from_logits=from_logits))


def mutual_information(mc_probs: torch.Tensor, *, from_logits: bool = False) -> float:
    """BALD in [0, 1]: mean_n [H(mean_t p) - mean_t H(p_t)] / log C. mc_probs: (T, N, C).

    0 when all T samples agree; 1 when the samples are one-hot and split evenly over C
    classes (each sample is sure, the ensemble is maximally unsure).
    """
    return _mean_float(per_sample_mutual_information(mc_probs, from_logits=from_logits))


def predictive_entropy(mc_probs: torch.Tensor, *, from_logits: bool = False) -> float:
    """H(mean_t p) / log C in [0, 1], averaged over examples. mc_probs: (T, N, C).

    The entropy of the mean prediction of T samples: the total uncertainty, of which
    ``mutual_information`` is the part the samples disagree on.
    """
    mc_probs = _checked_probs(mc_probs, 3, "mc_probs", from_logits)
    return entropy(mc_probs.mean(dim=0))


def predictive_variance(mc_probs: torch.Tensor, *, from_logits: bool = False) -> float:
    """mean_n sum_c Var_t(p_tnc) / (1 - 1/C) in [0, 1], population variance (divide by T).

    mc_probs: (T, N, C). 0 when all samples agree; 1 for one-hot samples spread evenly
    over the classes.
    """
    return _mean_float(per_sample_variance(mc_probs, from_logits=from_logits))


def expected_calibration_error(
    probs: torch.Tensor, labels: torch.Tensor, n_bins: int = 15, *, from_logits: bool = False
) -> float:
    """ECE = sum_b |B_b| / N * |acc(B_b) - conf(B_b)| over equal-width confidence bins.

    probs: (N, C); labels: (N,) integer class indices in [0, C). Confidence is max_c p,
    the prediction is argmax_c p (ties go to the lowest index). Bin edge convention:
    bin b (0-based) holds confidences in (b / n_bins, (b + 1) / n_bins], so a confidence
    of exactly 0.5 with 10 bins lands in bin 4, (0.4, 0.5]. Empty bins contribute 0.
    Returns a float in [0, 1].
    """
    check_int("n_bins", n_bins)
    probs = _checked_probs(probs, 2, "probs", from_logits)
    labels = _checked_labels(labels, probs)
    num_examples = probs.shape[0]

    conf = probs.max(dim=-1).values
    predicted = probs.argmax(dim=-1)  # argmax documents first-index ties; max does not
    correct = (predicted == labels).to(torch.float64)
    # Interior edges 1/n .. (n-1)/n; bucketize(right=False) returns i with
    # edges[i-1] < conf <= edges[i], i.e. bin i = (i/n, (i+1)/n]. Computing the edges in
    # float64 the same way a caller writes 0.7 keeps exact-edge values in the lower bin.
    edges = torch.arange(1, n_bins, dtype=torch.float64, device=probs.device) / n_bins
    bins = torch.bucketize(conf, edges, right=False)
    conf_sums = torch.bincount(bins, weights=conf, minlength=n_bins)
    correct_sums = torch.bincount(bins, weights=correct, minlength=n_bins)
    # sum_b |B_b|/N * |acc_b - conf_b| = sum_b |correct_sum_b - conf_sum_b| / N
    ece = (correct_sums - conf_sums).abs().sum().item() / num_examples
    return min(max(ece, 0.0), 1.0)


def _checked_labels(labels: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
    """``labels`` as int64 class indices on ``probs``' device, checked against its (N, C)."""
    labels = _as_tensor(labels, "labels").detach()
    num_examples, num_classes = probs.shape
    if labels.shape != (num_examples,):
        raise ValueError(
            f"labels must have shape ({num_examples},) to match probs, got {tuple(labels.shape)}"
        )
    if labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool:
        raise ValueError(f"labels must be integer class indices, got dtype {labels.dtype}")
    labels = labels.to(probs.device, torch.int64)
    low, high = labels.min().item(), labels.max().item()
    if low < 0 or high >= num_classes:
        raise ValueError(f"labels must be in [0, {num_classes - 1}], got values in [{low}, {high}]")
    return labels


def overconfidence(
    probs: torch.Tensor, labels: torch.Tensor, *, from_logits: bool = False
) -> float:
    """max(0, mean_n max_c p_nc - accuracy) in [0, 1]: how far confidence runs ahead of accuracy.

    probs: (N, C); labels: (N,) integer class indices. 0 while the model is no more sure
    than it is right (calibrated or under-confident); it grows once the model keeps
    sharpening its predictions without getting more of them right. Unlike the other
    signals it needs labels (held-out data), and 0 means "honest", not "certain".
    """
    return max(calibration_gap(probs, labels, from_logits=from_logits), 0.0)


def calibration_gap(
    probs: torch.Tensor, labels: torch.Tensor, *, from_logits: bool = False
) -> float:
    """mean_n max_c p_nc - accuracy in [-1, 1]: signed, unlike the other signals.

    Above 0 the model is surer than it is right (over-confident), below 0 it is right more
    often than it is sure (under-confident); ``overconfidence`` is its positive part. It
    feeds ``UncertaintyLR(mode="anneal", trigger="threshold", explore=True)``, which raises
    the LR on the negative side and anneals on the positive one.
    """
    probs = _checked_probs(probs, 2, "probs", from_logits)
    labels = _checked_labels(labels, probs)
    conf = probs.max(dim=-1).values.mean().item()
    accuracy = (probs.argmax(dim=-1) == labels).to(torch.float64).mean().item()
    return min(max(conf - accuracy, -1.0), 1.0)


def signal_function(name: str) -> Callable[..., float]:
    """The function of this module that computes the catalog's signal ``name``
    (``SignalSpec.function``); ValueError for a name the catalog does not know."""
    return globals()[signal_spec(name).function]


def per_example_function(name: str) -> Callable[..., torch.Tensor]:
    """The (N,) per-example function of signal ``name`` (``SignalSpec.per_example``);
    ValueError when the signal has none."""
    spec = signal_spec(name)
    if spec.per_example is None:
        raise ValueError(f"signal {name!r} has no per-example function in the catalog")
    return globals()[spec.per_example]


def __getattr__(name: str) -> dict[str, Callable[..., float]]:
    """``SIGNAL_FUNCTIONS``: the single-pass signals that need no labels, by name, each a
    function of (N, C) probabilities (or logits with ``from_logits=True``), no samples.

    Built from the catalog when read, not at import, so it finds every function of this
    module wherever in the file it is defined.
    """
    if name == "SIGNAL_FUNCTIONS":
        return {
            spec.name: signal_function(spec.name)
            for spec in signals_of("single_pass")
            if not spec.needs_labels
        }
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""Estimators: run a model over data and turn its predictions into an uncertainty signal.

Every model in the project satisfies ``model(x) == model.head(model.features(x))``, where
``x`` is ONE tensor (float images (N, C, H, W) or int64 token ids (N, L)) and the output is
logits (N, C). Three ways to predict:

- single pass: ``predict_logits`` (eval mode, deterministic);
- full MC dropout: ``mc_dropout_probs`` (eval mode except the dropout layers);
- last-layer MC dropout: ``last_layer_mc_probs`` (features once, T stochastic head passes);
- last-layer Laplace: ``signals.laplace.last_layer_laplace_probs`` (features once, T draws
  from a Gaussian posterior of the linear head fitted on training features).

All of them run under ``torch.inference_mode()``, never change BatchNorm running stats,
and put every module back in the train/eval mode it was in. Inputs are cut into batches of
``batch_size`` rows; each batch goes through ``transform`` if given (e.g. uint8 -> normalised
float on the GPU), else it is moved to the model's device. Outputs are ordinary (not
inference-mode) CPU tensors.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from uncertainty_lr.checks import check_int, check_type

Transform = Callable[[torch.Tensor], torch.Tensor]

DROPOUT_TYPES: tuple[type[nn.Module], ...] = (
    nn.Dropout,
    nn.Dropout1d,
    nn.Dropout2d,
    nn.Dropout3d,
    nn.AlphaDropout,
    nn.FeatureAlphaDropout,
)


# ---------------------------------------------------------------- helpers


@dataclass(frozen=True)
class Sampling:
    """How a sampled estimate runs: T = ``samples`` stochastic passes or draws (>= 2;
    default 10) over the inputs in batches of ``batch_size`` rows (default 512), each batch
    through ``transform`` if given (else moved to the model's device), seeded by
    ``generator_seed``: an int makes the result reproducible for the same batch size and
    leaves the global RNG as it was; None (default) uses and advances the global RNG.

    The estimators take it as ``sampling=`` or its fields by name (``samples=4``), and
    check it against the inputs (`check`) before they run.
    """

    samples: int = 10
    batch_size: int = 512
    transform: Transform | None = None
    generator_seed: int | None = None

    def check(self, inputs: torch.Tensor) -> None:
        """ValueError naming the first bad value: the inputs, then each setting."""
        _check_inputs(inputs, self.batch_size)
        _check_samples(self.samples)
        _check_seed(self.generator_seed)


def sampling_of(sampling: Sampling | None, fields: dict) -> Sampling:
    """``sampling`` (default: ``Sampling()``) with ``fields`` (Sampling fields by name) over it."""
    return dataclasses.replace(sampling or Sampling(), **fields)


def _check_inputs(inputs: torch.Tensor, batch_size: int) -> None:
    check_type("inputs", inputs, torch.Tensor, "one torch.Tensor")
    if inputs.dim() < 1 or inputs.shape[0] < 1:
        raise ValueError(f"inputs must hold at least one example, got shape {tuple(inputs.shape)}")
    check_int("batch_size", batch_size)


def _check_samples(samples: int) -> None:
    # One sample has no spread: mutual information and variance would be 0 by construction.
    check_int("samples", samples, 2)


def feature_head(model: nn.Module, purpose: str) -> nn.Module:
    """``model.head``, after checking the model splits into ``features()`` and a head module
    (what last-layer estimates need); ValueError naming ``purpose`` otherwise."""
    head = getattr(model, "head", None)
    if not callable(getattr(model, "features", None)) or not isinstance(head, nn.Module):
        raise ValueError(
            f"model {type(model).__name__} needs a features() method and a head module "
            f"for {purpose}"
        )
    return head


def _model_device(model: nn.Module) -> torch.device:
    """Device of the first parameter (or buffer); CPU for a model that has neither."""
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return torch.device("cpu")


def _batches(
    inputs: torch.Tensor, batch_size: int, transform: Transform | None, device: torch.device
) -> Iterator[torch.Tensor]:
    for start in range(0, inputs.shape[0], batch_size):
        batch = inputs[start : start + batch_size]
        yield transform(batch) if transform is not None else batch.to(device)


def _dropout_modules(module: nn.Module) -> list[nn.Module]:
    """The dropout modules of ``module`` that drop anything (p > 0).

    A Dropout(p=0) is the identity in train mode too: MC samples through it are identical,
    and mutual information and variance come out exactly 0, a signal that looks valid.
    """
    return [m for m in module.modules() if isinstance(m, DROPOUT_TYPES) and m.p > 0]


@contextlib.contextmanager
def _modes_restored(model: nn.Module) -> Iterator[None]:
    """Put every module back in its own train/eval mode afterwards (not just the root's)."""
    modes = [(module, module.training) for module in model.modules()]
    try:
        yield
    finally:
        for module, training in modes:
            module.training = training


@contextlib.contextmanager
def _sampling_context(generator_seed: int | None, device: torch.device) -> Iterator[None]:
    """inference_mode, no MHA fast path, and (with a seed) a forked, seeded global RNG.

    nn.TransformerEncoderLayer in eval mode under no-grad takes a fused "fast path" that
    skips its dropout submodules entirely, so MC samples would all be identical; turning
    the fast path off for the duration makes it honour the dropout layers' train mode.
    """
    fastpath = torch.backends.mha.get_fastpath_enabled()
    with contextlib.ExitStack() as stack:
        if generator_seed is not None:
            cuda_devices = list(range(torch.cuda.device_count())) if device.type == "cuda" else []
            stack.enter_context(torch.random.fork_rng(devices=cuda_devices))
            # manual_seed also seeds every CUDA device; fork_rng restores them afterwards.
            torch.manual_seed(generator_seed)
        stack.enter_context(torch.inference_mode())
        torch.backends.mha.set_fastpath_enabled(False)
        try:
            yield
        finally:
            torch.backends.mha.set_fastpath_enabled(fastpath)


def _check_seed(generator_seed: int | None) -> None:
    check_int("generator_seed", generator_seed, -math.inf, optional=True)


def _logits_to_cpu(logits: torch.Tensor) -> torch.Tensor:
    if logits.dim() != 2:
        raise ValueError(f"model must return (N, C) logits, got shape {tuple(logits.shape)}")
    return logits.detach().float().cpu()


# ---------------------------------------------------------------- predictions


def predict_logits(
    model: nn.Module,
    inputs: torch.Tensor,
    batch_size: int = 512,
    transform: Transform | None = None,
) -> torch.Tensor:
    """One deterministic eval-mode pass: inputs (N, ...) -> logits (N, C), float32 on CPU.

    Runs under torch.inference_mode() with model.eval(); afterwards every module is back
    in the train/eval mode it had before.
    """
    _check_inputs(inputs, batch_size)
    device = _model_device(model)
    outputs = []
    with _modes_restored(model), torch.inference_mode():
        model.eval()
        for batch in _batches(inputs, batch_size, transform, device):
            outputs.append(_logits_to_cpu(model(batch)))
    # cat outside inference mode: callers get an ordinary tensor they may modify in place.
    return torch.cat(outputs)


def mc_dropout_probs(
    model: nn.Module, inputs: torch.Tensor, sampling: Sampling | None = None, **fields: Any
) -> torch.Tensor:
    """MC dropout over the whole model: inputs (N, ...) -> probabilities (T, N, C).

    T stochastic passes with every module in eval mode except the dropout layers
    (nn.Dropout, Dropout1d/2d/3d, AlphaDropout, FeatureAlphaDropout), which are in train
    mode. BatchNorm stays in eval mode, so its running stats do not change. Dropout done
    with ``F.dropout(..., training=self.training)`` inside a custom module is NOT sampled:
    only dropout modules are. ``sampling`` (or its fields by name: ``samples``,
    ``batch_size``, ``transform``, ``generator_seed``) says how many passes, in what
    batches, seeded how (`Sampling`): with a seed the result is reproducible (for the same
    batch size) and the global RNG state is left as it was; with None the global RNG is
    used and advanced. Returns float64 softmax probabilities on CPU. Raises
    ValueError if the model has no dropout layer with p > 0 (the samples would all be
    identical, e.g. a model built with dropout=0).
    """
    sampling = sampling_of(sampling, fields)
    sampling.check(inputs)
    dropouts = _dropout_modules(model)
    if not dropouts:
        raise ValueError(
            f"model {type(model).__name__} has no dropout layer with p > 0 (MC samples would "
            "be identical and the signal 0); MC dropout needs one of "
            + ", ".join(t.__name__ for t in DROPOUT_TYPES)
        )
    device = _model_device(model)
    per_batch = []
    with _modes_restored(model), _sampling_context(sampling.generator_seed, device):
        model.eval()
        for module in dropouts:
            module.train()
        for batch in _batches(inputs, sampling.batch_size, sampling.transform, device):
            draws = [_logits_to_cpu(model(batch)) for _ in range(sampling.samples)]
            per_batch.append(torch.stack(draws))
    return torch.softmax(torch.cat(per_batch, dim=1).double(), dim=-1)


def last_layer_mc_probs(
    model: nn.Module,
    inputs: torch.Tensor,
    sampling: Sampling | None = None,
    *,
    return_logits: bool = False,
    **fields: Any,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Last-layer MC dropout: inputs (N, ...) -> probabilities (T, N, C), float64 on CPU.

    ``sampling`` (or its fields by name) says how many passes, in what batches, seeded how
    (`Sampling`).

    With ``return_logits`` it also returns the deterministic eval-mode logits (N, C) of the
    same pass (as ``predict_logits`` would give), so a caller needing both pays for one
    feature pass, not two.

    Features come from ONE eval-mode pass of ``model.features(x)`` per batch; then T
    passes of ``model.head(features)`` with only the dropout layers inside ``model.head``
    in train mode. Much cheaper than full MC dropout for a deep feature extractor. Seeding
    as in ``mc_dropout_probs``. Raises ValueError if the model has no ``features()``
    method and ``head`` module, or its head has no dropout layer with p > 0.
    """
    sampling = sampling_of(sampling, fields)
    sampling.check(inputs)
    head = feature_head(model, "last-layer MC dropout")
    dropouts = _dropout_modules(head)
    if not dropouts:
        raise ValueError(
            f"the head of model {type(model).__name__} has no dropout layer with p > 0; "
            "last-layer MC dropout would be deterministic and its signal 0"
        )
    device = _model_device(model)
    per_batch, deterministic = [], []
    with _modes_restored(model), _sampling_context(sampling.generator_seed, device):
        model.eval()
        for batch in _batches(inputs, sampling.batch_size, sampling.transform, device):
            features = model.features(batch)
            if return_logits:
                deterministic.append(_logits_to_cpu(head(features)))
            for module in dropouts:
                module.train()
            draws = [_logits_to_cpu(head(features)) for _ in range(sampling.samples)]
            for module in dropouts:
                module.eval()
            per_batch.append(torch.stack(draws))
    probs = torch.softmax(torch.cat(per_batch, dim=1).double(), dim=-1)
    return (probs, torch.cat(deterministic)) if return_logits else probs

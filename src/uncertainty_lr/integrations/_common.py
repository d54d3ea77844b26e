"""Pieces every framework callback shares: signal choice, accumulation, option checks.

The LR itself is written by ``UncertaintyLR`` (Lightning, HF) or by the policy's
``advance()`` (Keras, whose optimizer is not a torch one): the same code as everywhere.

No framework import here (torch only), so each integration module pulls in just its own
framework. Signals follow the package contract: a float in [0, 1], 0 = certain. Which
signals a callback can read comes from the signal catalog (``signals.catalog``): those of
one pass or of MC dropout that are a mean over examples and need no labels, named by
their statistic ("entropy", "mutual_information").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from uncertainty_lr.checks import check_int, is_int, refuse
from uncertainty_lr.schedulers.modes import RULES
from uncertainty_lr.schedulers.options import UncertaintyOptions
from uncertainty_lr.signals.catalog import SignalSpec, signals_of
from uncertainty_lr.signals.functions import per_example_function


def _per_example(family: str) -> dict[str, SignalSpec]:
    """The catalog's signals of ``family`` that are a mean over examples and need no
    labels, by statistic: the callbacks add them up batch by batch (``SignalMean``)."""
    return {
        spec.statistic: spec
        for spec in signals_of(family)
        if spec.per_example is not None and not spec.needs_labels
    }


_ONE_PASS = _per_example("single_pass")
_SPREAD = {k: v for k, v in _per_example("mc_dropout").items() if k not in _ONE_PASS}
#: The names the callbacks log the signal and the LR of the first parameter group under.
SIGNAL_KEY = "uncertainty_lr/signal"
LR_KEY = "uncertainty_lr/lr"
#: Signals from one deterministic pass over (N, C) logits.
SINGLE_PASS_SIGNALS: tuple[str, ...] = tuple(_ONE_PASS)
#: Signals available with ``mc_samples >= 2`` MC-dropout passes: the single-pass ones
#: computed on the mean prediction, plus those that need the spread between passes.
MC_SIGNALS: tuple[str, ...] = SINGLE_PASS_SIGNALS + tuple(_SPREAD)


def missing_framework(what: str, module: str, extra: str) -> ImportError:
    """The ImportError an integration raises when its framework is not installed."""
    return ImportError(
        f"{what} needs the '{module}' package; install it with: pip install 'uncertainty-lr[{extra}]'"
    )


def check_signal_choice(signal: str, mc_samples: int) -> None:
    """ValueError unless ``signal`` can be computed with ``mc_samples`` (0 = one pass, or >= 2)."""
    if not is_int(mc_samples) or mc_samples < 0 or mc_samples == 1:
        raise refuse("mc_samples", "0 (one pass) or an integer >= 2", mc_samples)
    allowed = MC_SIGNALS if mc_samples else SINGLE_PASS_SIGNALS
    if signal not in allowed:
        *first, last = _SPREAD
        spread = f"{', '.join(first)} and {last}" if first else last
        hint = f" ({spread} need mc_samples >= 2)" if not mc_samples else ""
        raise ValueError(f"signal must be one of {', '.join(allowed)}{hint}; got {signal!r}")


#: The signal that reads the labels too (held-out over-confidence): mode ``cycle``'s default.
LABELLED_SIGNAL = "overconfidence"


def default_signal(per_step: bool) -> str:
    """A callback's signal when none is given: over-confidence for a mode stepped every
    optimizer step (``cycle``), else entropy."""
    return LABELLED_SIGNAL if per_step else "entropy"


def stepped_per_step(kwargs: Mapping[str, Any]) -> bool:
    """Whether the mode these UncertaintyLR options choose is stepped every optimizer step
    with the training loss (its rule's ``per_step``), not once per evaluation."""
    return RULES[UncertaintyOptions.from_mapping(kwargs).mode].per_step


#: ``budget`` of a callback that steps mode ``cycle``: never told the budget, or told it.
BUDGETS = ("free", "known")


def check_budget(budget: object, per_step: bool, kwargs: Mapping[str, Any], length: str) -> None:
    """``budget="known"`` sets ``total_steps`` to the framework's run ``length`` (a phrase):
    only for a mode stepped every optimizer step, and not beside a ``total_steps`` given."""
    if budget not in BUDGETS:
        raise ValueError(f"budget must be one of {', '.join(BUDGETS)}; got {budget!r}")
    if budget == "known" and (not per_step or "total_steps" in kwargs):
        given = f", total_steps={kwargs['total_steps']!r}" if "total_steps" in kwargs else ""
        raise ValueError(
            f"budget='known' sets total_steps of mode='cycle' to {length}; "
            f"got mode={kwargs.get('mode', 'anneal')!r}{given}"
        )


#: The options a callback that may step mode ``cycle`` keeps as attributes and saves by name.
CALLBACK_OPTIONS = ("signal", "mc_samples", "batch_size", "budget")


def keep_callback_options(callback: Any, policy_kwargs: dict, length: str, **options: Any) -> None:
    """What a callback that may step mode ``cycle`` checks and keeps first, in one place.

    ``options`` are ``CALLBACK_OPTIONS``. Stored on ``callback``: the policy options (a
    checked copy) as ``policy_kwargs``, whether their mode is stepped every optimizer step
    as ``per_step``, and each of ``CALLBACK_OPTIONS`` (``signal`` from ``default_signal``
    when None). ``length``: what ``budget="known"`` reads the run's length from.
    """
    kwargs = check_policy_kwargs(policy_kwargs, type(callback).__name__, per_step=True)
    per_step = stepped_per_step(kwargs)
    check_budget(options["budget"], per_step, kwargs, length)
    check_int("batch_size", options["batch_size"])
    if options["signal"] is None:
        options["signal"] = default_signal(per_step)
    callback.policy_kwargs, callback.per_step = kwargs, per_step
    for name in CALLBACK_OPTIONS:
        setattr(callback, name, options[name])


def check_policy_kwargs(kwargs: dict, owner: str, per_step: bool = False) -> dict:
    """Fail early on a misspelt or out-of-range UncertaintyLR option; return a copy.

    Checked against ``UncertaintyOptions``, where the options are defined once;
    ``min_lr`` / ``max_lr`` lists are checked per group once the optimizer exists. A
    callback that steps the scheduler only once per evaluation (``per_step=False``)
    refuses a mode stepped every optimizer step (``cycle``).
    """
    options = UncertaintyOptions.from_mapping(kwargs, owner=owner)
    if RULES[options.mode].per_step and not per_step:
        raise ValueError(
            f"{owner} steps the scheduler once per evaluation; mode={options.mode!r} is stepped "
            "every optimizer step with the training loss: use UncertaintyLR directly "
            "(docs/integrations.md, 'mode=cycle')"
        )
    return dict(kwargs)


def per_sample_signal(
    signal: str,
    logits: torch.Tensor | None = None,
    *,
    probs: torch.Tensor | None = None,
    mc_probs: torch.Tensor | None = None,
) -> torch.Tensor:
    """Per-example signal, (N,) float64 in [0, 1].

    Give exactly one of ``logits`` (N, C), ``probs`` (N, C) or ``mc_probs`` (T, N, C)
    MC-dropout probabilities; with ``mc_probs`` the single-pass signals use the mean
    prediction over the T passes.
    """
    if sum(x is not None for x in (logits, probs, mc_probs)) != 1:
        raise ValueError("give exactly one of logits, probs or mc_probs")
    if signal in _SPREAD and mc_probs is not None:
        return per_example_function(_SPREAD[signal].name)(mc_probs)
    one_pass = per_example_function(_ONE_PASS[signal].name)
    if mc_probs is not None:
        return one_pass(torch.as_tensor(mc_probs).mean(dim=0))
    return one_pass(logits, from_logits=True) if logits is not None else one_pass(probs)


class SignalMean:
    """Running sum and count of per-example signals, so batches of any size weigh by example.

    Keeping (sum, count) rather than a mean lets data-parallel ranks add theirs up exactly.
    """

    def __init__(self) -> None:
        self.total = 0.0
        self.count = 0

    def reset(self) -> None:
        self.total = 0.0
        self.count = 0

    def add(self, per_sample: torch.Tensor) -> None:
        self.total += float(per_sample.sum().item())
        self.count += int(per_sample.numel())

    @staticmethod
    def mean(total: float, count: float) -> float:
        """total / count clamped to [0, 1] against round-off."""
        return min(max(total / count, 0.0), 1.0)


def logits_of(output: Any) -> torch.Tensor:
    if isinstance(output, torch.Tensor):
        return output
    if hasattr(output, "logits"):
        return output.logits
    if isinstance(output, Mapping):
        return output["logits"]
    if isinstance(output, (tuple, list)):
        return output[0]
    raise ValueError(f"cannot find logits in a model output of type {type(output).__name__}")


def loss_of(output: Any) -> torch.Tensor | None:
    """The loss a model computed in its output (``.loss`` or ``["loss"]``), else None."""
    if isinstance(output, Mapping):
        return output.get("loss")
    return getattr(output, "loss", None)


class LogitsOnly(nn.Module):
    """model(x) -> its (N, C) logits, whatever container the model returns them in."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return logits_of(self.model(inputs))

"""UncertaintyLR: a torch ``LRScheduler`` driven by a model-uncertainty signal.

Stepped like ``ReduceLROnPlateau``: ``scheduler.step(u)`` with ``u`` in [0, 1]
(0 = certain; signed, in [-1, 1], with ``explore=True``) after each evaluation. Because
it is a plain ``LRScheduler`` (not a ``ReduceLROnPlateau``, which torch refuses there),
it also composes:

- ``step()`` with no signal takes no decision: it consumes the signal last given to
  ``observe(u)`` if there is one, else it keeps the policy's factor. So a container that
  steps it every batch moves the uncertainty factor once per observed signal.
- ``step()`` scales the *current* LR by the change of its own factor (the chainable form),
  so after ``CosineAnnealingLR`` in a ``ChainedScheduler`` the LR is cosine x factor;
  when ``SequentialLR`` hands over to it, it starts from base LR x factor (the closed
  form, ``_get_closed_form_lr``, as torch's own schedulers start from their base LR).

``MonitoredUncertaintyLR`` is the same scheduler typed as a ``ReduceLROnPlateau``, so the
Hugging Face ``Trainer`` feeds it ``metric_for_best_model`` after each evaluation and
Lightning feeds it the ``monitor`` metric, with no callback.

No collective runs inside ``step()``: under torch.distributed, average the signal first
with ``mean_over_ranks(u)`` (or compute it on identical data on every rank).
"""

from __future__ import annotations

import functools
import os
import sys
import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau

from uncertainty_lr import distributed
from uncertainty_lr.schedulers.options import Option, UncertaintyOptions
from uncertainty_lr.schedulers.policy import UncertaintyPolicy, check_signal

#: step() calls with no signal ever, after the first, before step() warns that the LR
#: cannot move (a plain UncertaintyLR handed to a framework that steps it without one).
SILENT_STEPS_BEFORE_WARNING = 5

_LAST_EPOCH = Option(None, kind="int", low=-1)


def _as_signal(value: Any, low: float = 0.0) -> float:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(
                f"uncertainty must be a scalar, got a tensor of shape {tuple(value.shape)}"
            )
        value = value.item()
    elif type(value) is int:
        # torch < 2.9's SequentialLR calls step(0) (a deprecated epoch) at a milestone.
        raise TypeError(
            f"uncertainty must be a float in [0, 1], got the int {value!r} (an epoch number? "
            "inside SequentialLR UncertaintyLR needs torch >= 2.9)"
        )
    return check_signal(value, low)


def _eager_when_compiled(method: Callable) -> Callable:
    """``method``, run eagerly inside ``torch.compile`` (one graph break) instead of traced:
    the scheduler is plain Python over floats, and traced, each new LR value would be a new
    graph. torch._dynamo is looked up, not imported: whatever compiles has loaded it, and
    importing it takes seconds."""

    @functools.wraps(method)
    def run(*args: Any, **kwargs: Any) -> Any:
        dynamo = sys.modules.get("torch._dynamo")
        if dynamo is None:
            return method(*args, **kwargs)
        eager = method.__dict__.get("eager")
        if eager is None:
            eager = method.eager = dynamo.disable(method)  # type: ignore[attr-defined]
        return eager(*args, **kwargs)

    return run


def _caller_outside_torch_and_here() -> int:
    """The ``stacklevel`` of the first caller outside this module and torch (a warning in a
    step() points at the user's call, past wrappers and torch's composite schedulers)."""
    torch_dir = os.path.dirname(torch.__file__)
    frame, level = sys._getframe(1), 1
    while frame.f_back is not None and (
        frame.f_code.co_filename == __file__ or frame.f_code.co_filename.startswith(torch_dir)
    ):
        frame, level = frame.f_back, level + 1
    return level


def mean_over_ranks(value: float | torch.Tensor) -> float:
    """Mean of a scalar signal over all torch.distributed ranks (``value`` itself when
    not distributed). Call it before ``step(u)`` so that every rank takes the same decision.
    ``value`` is in [0, 1], or in [-1, 1] for a signed signal such as ``calibration_gap``."""
    return distributed.mean_over_ranks(_as_signal(value, -1.0))


class UncertaintyLR(LRScheduler):
    """Raise the LR while the model is unsure, lower it once it is sure.

    Args:
        optimizer: any torch optimizer; every param group is scheduled, keeping ratios. A
            group added later (``optimizer.add_param_group``) joins at its LR at the next
            step, with ``min_lr`` / ``max_lr`` if those are one number, else the default
            multiples of its LR.
        last_epoch: as in torch: -1 starts a schedule; k >= 0 resumes one after k + 1 steps
            on an optimizer restored from a checkpoint (each group needs ``initial_lr``, else
            KeyError): its LRs are kept and a warmup continues, counting one decision per
            step, while the signal's history starts afresh (load_state_dict() resumes exactly).
        **options: the fields of ``UncertaintyOptions`` (threshold 0.05, step_size 0.1,
            mode "threshold", min_lr / max_lr = 1e-3 x / 10 x each group's initial LR,
            smoothing, cooldown, warmup, reference, ...); ``options=UncertaintyOptions(...)``
            is accepted too. Bounds apply to the uncertainty factor's own LR track.

    The initial LR of a group is its ``initial_lr`` if set (as torch schedulers do), else
    its ``lr``. With ``warmup`` > 0 the optimizer starts at ``warmup_start_factor`` x that,
    alone and inside ``SequentialLR`` / ``ChainedScheduler`` alike.

    Where it differs from torch's schedulers, on purpose (docs/integrations.md):

    - ``step(u)`` takes the signal, as ``ReduceLROnPlateau.step(metrics)`` takes its metric;
      an int is refused, since torch < 2.9's ``SequentialLR`` passes its deprecated epoch
      there. It does not wrap ``optimizer.step`` and never warns about the order of the two
      steps: stepping it on a signal measured before training (an epoch-0 evaluation) is
      legitimate, and it skips no value of a schedule.
    - ``get_last_lr()`` returns floats, also for a group whose LR is a tensor (written in
      place); the state dict holds only plain numbers.
    - Inside ``torch.compile``, ``step()`` and ``observe()`` run eagerly (a graph break)
      rather than traced, so no step recompiles.
    - ``step()`` warns once when it has been called SILENT_STEPS_BEFORE_WARNING times after
      the first without any signal: the LR cannot move (see ``MonitoredUncertaintyLR``).

    Example::

        scheduler = UncertaintyLR(optimizer)
        for epoch in range(epochs):
            train_one_epoch(...)
            scheduler.step(entropy(val_probs))
    """

    def __init__(self, optimizer: Optimizer, *, last_epoch: int = -1, **options: Any) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")
        _LAST_EPOCH.check("last_epoch", last_epoch)
        given = options.pop("options", None)
        if given is not None and options:
            raise ValueError("give either options= or keyword options, not both")
        self.optimizer = optimizer
        for i, group in enumerate(optimizer.param_groups):
            if last_epoch >= 0 and "initial_lr" not in group:
                raise KeyError(
                    f"param 'initial_lr' is not specified in param_groups[{i}] when resuming "
                    "a scheduler with last_epoch >= 0 (load the optimizer's state first)"
                )
            lr = group["lr"]
            group.setdefault("initial_lr", lr.clone() if isinstance(lr, torch.Tensor) else lr)
        self.base_lrs = [float(g["initial_lr"]) for g in optimizer.param_groups]
        self.policy = UncertaintyPolicy(
            self.base_lrs, given or UncertaintyOptions.from_mapping(options)
        )
        self.last_epoch = last_epoch
        self._resuming = last_epoch >= 0
        self._warned_silent = False
        self._initial_step()  # torch's: _step_count = 0, then one step()

    @property
    def options(self) -> UncertaintyOptions:
        """The options in force (restored by load_state_dict())."""
        return self.policy.options

    # -- the signal ---------------------------------------------------------------------
    @_eager_when_compiled
    def observe(self, uncertainty: float | torch.Tensor) -> None:
        """Give a signal (float or 0-dim tensor in [0, 1]; [-1, 1] with ``explore``) for the
        next ``step()``."""
        self.policy.observe(_as_signal(uncertainty, self.policy.signal_low))

    @_eager_when_compiled
    def observe_loss(self, loss: float | torch.Tensor) -> None:
        """Give the training loss of the optimizer step just taken (mode ``cycle`` reads it
        while it searches the LR level; other modes ignore it). A tensor is read with
        ``.item()``: check ``wants_loss`` first to skip that sync once it is not read."""
        if isinstance(loss, torch.Tensor):
            loss = loss.detach().float().mean().item()
        self.policy.observe_loss(float(loss))

    @property
    def wants_loss(self) -> bool:
        """Whether ``observe_loss`` has an effect now (mode ``cycle``, while searching)."""
        return self.policy.wants_loss

    @_eager_when_compiled
    def step(self, metrics: float | torch.Tensor | None = None) -> None:  # type: ignore[override]
        """Take one decision on ``metrics`` (or on the last observed signal), write the LRs."""
        if metrics is not None:
            self.observe(metrics)
        self._step_count += 1
        self.last_epoch += 1
        self._write(self.get_lr())
        if (
            not self._warned_silent
            and not self.policy.rule.per_step  # its LR moves every step, signal or not
            and self.last_epoch >= SILENT_STEPS_BEFORE_WARNING
            and self.policy.steps == 0
            and self.policy.pending is None
        ):
            self._warned_silent = True
            warnings.warn(
                f"{type(self).__name__}.step() has been called {self.last_epoch} times and no "
                "uncertainty signal has arrived, so the LR has not moved: give it with step(u) "
                "or observe(u). With Lightning's monitor or the Hugging Face Trainer's "
                "metric_for_best_model, use MonitoredUncertaintyLR, which they step with the "
                "metric.",
                UserWarning,
                stacklevel=_caller_outside_torch_and_here(),
            )

    def get_lr(self) -> list[float]:
        """The LRs of this step; step() calls it once, after counting the step in
        ``last_epoch``. Takes the decision on a signal given since the last step, if any, and
        composes the policy's LRs with whatever else moved the optimizer's (see the module)."""
        self._schedule_added_groups()
        current = [float(g["lr"]) for g in self.optimizer.param_groups]
        if self._resuming:
            self._resuming = False
            return self.policy.resume(self.last_epoch, current)
        if self.last_epoch == 0:
            return self.policy.start(current)
        return self.policy.advance(current)

    def _get_closed_form_lr(self) -> list[float]:
        """The policy's own LRs, base LR x its factor, after a decision on a waiting signal:
        what torch's SequentialLR (>= 2.9) writes when it hands over to this scheduler."""
        self._schedule_added_groups()
        return self.policy.restart()

    def get_last_lr(self) -> list[float]:
        """The LRs written last, one float per parameter group."""
        return [float(lr) for lr in self._last_lr]

    def _write(self, lrs: list[float]) -> None:
        groups = self.optimizer.param_groups
        for group, lr in zip(groups, lrs, strict=True):
            if isinstance(group["lr"], torch.Tensor):
                group["lr"].fill_(lr)
            else:
                group["lr"] = lr
        self._last_lr = [float(g["lr"]) for g in groups]

    def _schedule_added_groups(self) -> None:
        """Take the groups added to the optimizer since the last step (progressive
        unfreezing), each from its LR now, as torch's schedulers do."""
        for group in self.optimizer.param_groups[len(self.base_lrs) :]:
            lr = group["lr"]
            group.setdefault("initial_lr", lr.clone() if isinstance(lr, torch.Tensor) else lr)
            self.policy.add_group(float(group["initial_lr"]), float(lr))
            self.base_lrs.append(float(group["initial_lr"]))

    @property
    def annealed(self) -> bool:
        """With ``mode="anneal"`` or a budget-free ``"cycle"``: True once the decay has
        ended, so training can stop."""
        return self.policy.annealed

    @property
    def last_signal(self) -> float | None:
        """The signal the last decision judged (after smoothing and reference)."""
        return self.policy.last_signal

    # -- state --------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Plain numbers only, safe for ``torch.load(weights_only=True)``."""
        return {
            "last_epoch": self.last_epoch,
            "_step_count": self._step_count,
            "base_lrs": list(self.base_lrs),
            "_last_lr": self.get_last_lr(),
            "policy": self.policy.state_dict(),
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore from ``state_dict()``, options included. As with torch's schedulers, the
        optimizer's LRs come from the optimizer's own state dict."""
        self.policy.load_state_dict(state_dict["policy"])
        self.last_epoch = state_dict["last_epoch"]
        self._step_count = state_dict["_step_count"]
        self.base_lrs = list(state_dict["base_lrs"])
        self._last_lr = list(state_dict["_last_lr"])


class MonitoredUncertaintyLR(UncertaintyLR, ReduceLROnPlateau):
    """``UncertaintyLR`` typed as a ``ReduceLROnPlateau``, for frameworks that feed such
    schedulers their monitored metric: the Hugging Face ``Trainer`` steps it with
    ``metric_for_best_model`` after each evaluation (and not per batch); Lightning steps
    it with the ``monitor`` metric of ``configure_optimizers``. Torch refuses it inside
    ``SequentialLR`` / ``ChainedScheduler``: compose ``UncertaintyLR`` there instead.

    It has UncertaintyLR's attributes, not ReduceLROnPlateau's (``mode``, ``best``,
    ``num_bad_epochs``, ``min_lrs``, ``in_cooldown``): the type only routes the metric, and
    an uncertainty rule has no best metric. Like ReduceLROnPlateau it takes an int metric.
    """

    @_eager_when_compiled
    def step(self, metrics: float | torch.Tensor | None = None) -> None:  # type: ignore[override]
        """Take one decision on ``metrics`` (an int, float or 0-dim tensor), write the LRs."""
        super().step(float(metrics) if type(metrics) is int else metrics)

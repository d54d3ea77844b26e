"""Hugging Face Trainer callback: step an UncertaintyLR after each evaluation.

Without this callback, pass ``optimizers=(optimizer, MonitoredUncertaintyLR(optimizer))``
with ``compute_metrics=uncertainty_metrics`` and
``metric_for_best_model="uncertainty_entropy"``: the Trainer steps a ReduceLROnPlateau-typed
scheduler with that metric after each evaluation. The callback is for when the signal
must come from ``eval_inputs`` (e.g. MC dropout). Without ``metric_for_best_model`` the
Trainer would fail inside transformers (``'NoneType' object has no attribute
'startswith'``); ``uncertainty_metrics`` stops it first with a ValueError saying what to set.

Install with ``pip install 'uncertainty-lr[hf]'`` (transformers + accelerate). Only this
module imports transformers.

The Trainer does not hand predictions to callbacks, so the signal comes one of two ways:
  - ``compute_metrics=uncertainty_metrics`` (default way): the Trainer gathers the eval
    logits of every rank, ``uncertainty_metrics`` turns them into
    ``eval_uncertainty_{confidence,entropy,margin}``, and the callback reads its signal
    from the metrics it is handed in ``on_evaluate``;
  - ``eval_inputs=tensor``: the callback runs the model itself over that tensor (one
    pass, or ``mc_samples`` MC-dropout passes), passing each batch as the model's first
    positional argument and taking ``output.logits`` / ``output["logits"]`` /
    ``output[0]`` / the output itself as (N, C) logits.

With ``mode="cycle"`` (the recommended mode) the callback also steps the scheduler after
every optimizer step, handing it the training loss of that step while it searches the LR
level: read from the model's output (``output.loss`` / ``output["loss"]``, as the
Trainer's own loss) by a forward hook, averaged over gradient-accumulation passes and
ranks; the signal is ``eval_uncertainty_overconfidence`` (``uncertainty_metrics`` reads the
labels), acted on at the next step. ``budget="known"`` ends the decay at the Trainer's
``max_steps``.

The Trainer's own LR scheduler would overwrite the LR after every step. Use
``TrainingArguments(lr_scheduler_type="constant")``: the callback then also writes its LRs
into the scheduler's ``base_lrs``, so the constant schedule keeps them. Any other
schedule that moves the LR is caught at the next step with a ValueError.
"""

from __future__ import annotations

import inspect
import math
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.optim.lr_scheduler import ReduceLROnPlateau

from uncertainty_lr import distributed
from uncertainty_lr.checks import check_type
from uncertainty_lr.integrations._common import (
    CALLBACK_OPTIONS,
    LABELLED_SIGNAL,
    LR_KEY,
    SIGNAL_KEY,
    SINGLE_PASS_SIGNALS,
    LogitsOnly,
    SignalMean,
    check_signal_choice,
    keep_callback_options,
    loss_of,
    missing_framework,
    per_sample_signal,
)
from uncertainty_lr.schedulers.uncertainty import UncertaintyLR, mean_over_ranks
from uncertainty_lr.signals.estimators import mc_dropout_probs, predict_logits
from uncertainty_lr.signals.functions import overconfidence

try:
    from transformers import Trainer, TrainerCallback
    from transformers.trainer_callback import ExportableState
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise missing_framework("UncertaintyLRTrainerCallback", "transformers", "hf") from error

METRIC_PREFIX = "uncertainty_"


def uncertainty_metrics(eval_pred: Any) -> dict[str, float]:
    """``compute_metrics`` for the Trainer: eval logits -> {"uncertainty_<signal>": float}.

    Gives "uncertainty_confidence", "uncertainty_entropy" and "uncertainty_margin", each
    in [0, 1] (the Trainer logs them with its "eval_" prefix), and, where the labels come
    with them (``eval_pred.label_ids``, (N,)), "uncertainty_overconfidence" (mean
    confidence minus accuracy, floored at 0). ``eval_pred.predictions`` are the (N, C)
    logits, or a tuple whose first element they are. Combine with your own
    metrics as ``lambda p: {**accuracy(p), **uncertainty_metrics(p)}``.

    Called by a Trainer whose scheduler is a ``ReduceLROnPlateau`` (``MonitoredUncertaintyLR``)
    and whose ``metric_for_best_model`` is unset, it raises a ValueError saying what to set.
    """
    trainer = _calling_trainer()
    if trainer is not None:
        check_monitored_metric(trainer.args, trainer.lr_scheduler)
    predictions = eval_pred.predictions if hasattr(eval_pred, "predictions") else eval_pred[0]
    if isinstance(predictions, (tuple, list)):
        predictions = predictions[0]
    logits = torch.as_tensor(np.asarray(predictions))
    if logits.dim() != 2:
        raise ValueError(
            f"uncertainty_metrics needs (N, C) logits as predictions, got shape {tuple(logits.shape)}"
        )
    metrics = {}
    for name in SINGLE_PASS_SIGNALS:
        values = per_sample_signal(name, logits=logits)
        metrics[f"{METRIC_PREFIX}{name}"] = SignalMean.mean(float(values.sum()), values.numel())
    labels = eval_pred.label_ids if hasattr(eval_pred, "label_ids") else eval_pred[1]
    if labels is not None and np.ndim(labels) == 1 and len(labels) == len(logits):
        labels = torch.as_tensor(np.asarray(labels)).long()
        metrics[f"{METRIC_PREFIX}{LABELLED_SIGNAL}"] = overconfidence(
            logits, labels, from_logits=True
        )
    return metrics


def check_monitored_metric(args: Any, lr_scheduler: Any) -> None:
    """ValueError if the Trainer will step ``lr_scheduler`` with a metric that is not set.

    The Trainer steps a ``ReduceLROnPlateau`` (``MonitoredUncertaintyLR`` is one) with
    ``metrics["eval_" + args.metric_for_best_model]`` after each evaluation; with that
    argument None, transformers fails on ``None.startswith`` and names neither.
    """
    scheduler = getattr(lr_scheduler, "scheduler", lr_scheduler)  # accelerate's wrapper
    if isinstance(scheduler, ReduceLROnPlateau) and getattr(args, "metric_for_best_model", None) is None:  # fmt: skip
        names = " or ".join(f"'{METRIC_PREFIX}{n}'" for n in SINGLE_PASS_SIGNALS)
        raise ValueError(
            f"the Trainer steps its {type(scheduler).__name__} with the metric named by "
            f"TrainingArguments(metric_for_best_model=...), which is not set; set it to {names}"
        )


def _calling_trainer() -> Trainer | None:
    """The Trainer whose evaluation is calling ``compute_metrics``, or None.

    The Trainer hands ``compute_metrics`` only the predictions; its settings are found on
    the call stack instead (``self`` of the Trainer method that made the call), so the
    usual recipe catches a missing ``metric_for_best_model`` with nothing more to pass.
    """
    frame = inspect.currentframe()
    try:
        while frame is not None:
            candidate = frame.f_locals.get("self")
            if isinstance(candidate, Trainer):
                return candidate
            frame = frame.f_back
        return None
    finally:
        del frame  # a frame held in a local keeps the whole stack alive


class UncertaintyLRTrainerCallback(TrainerCallback, ExportableState):
    """Set the Trainer optimizer's LR from the evaluation uncertainty.

    After every evaluation during ``trainer.train()`` the signal is fed to an
    ``UncertaintyLR`` on the Trainer's optimizer (base LRs = its initial LRs); its LRs also
    go into the Trainer's constant scheduler's ``base_lrs``. Each decision is appended to
    ``state.log_history`` as {"uncertainty_lr/signal", "uncertainty_lr/lr", "epoch",
    "step"} and to ``self.history``. The scheduler state is saved in every checkpoint's
    ``trainer_state.json`` (``stateful_callbacks``) and restored by
    ``trainer.train(resume_from_checkpoint=...)``.

    With ``mode="cycle"`` it also steps the scheduler after every optimizer step (module
    docstring), and each evaluation's signal is acted on at the next step.

    Args:
        signal: "confidence", "entropy" (default) or "margin"; with ``eval_inputs`` and
            ``mc_samples >= 2`` also "mutual_information" or "variance"; without
            ``eval_inputs`` also "overconfidence" (the default with ``mode="cycle"``).
        eval_inputs: None = read ``eval_uncertainty_<signal>`` from the metrics (needs
            ``compute_metrics=uncertainty_metrics``); a tensor (N, ...) = run the model on it.
        mc_samples: 0 = one eval pass; >= 2 = MC-dropout passes (needs ``eval_inputs``).
        batch_size: rows per forward pass over ``eval_inputs`` (default 512).
        budget: "free" (default) or "known": ``mode="cycle"`` told the Trainer's
            ``max_steps`` as ``total_steps``, so its decay ends there.
        **policy_kwargs: UncertaintyLR options (``UncertaintyOptions``: threshold, ...).

    With ``eval_inputs``, keep ``restore_callback_states_from_checkpoint=False`` (the
    default): that option rebuilds callbacks from JSON, which cannot hold a tensor. The
    callback restores its own state either way.
    """

    def __init__(
        self,
        signal: str | None = None,
        eval_inputs: torch.Tensor | None = None,
        mc_samples: int = 0,
        batch_size: int = 512,
        budget: str = "free",
        **policy_kwargs: Any,
    ) -> None:
        keep_callback_options(
            self,
            policy_kwargs,
            "the Trainer's max_steps",
            signal=signal,
            mc_samples=mc_samples,
            batch_size=batch_size,
            budget=budget,
        )
        if self.signal != LABELLED_SIGNAL or eval_inputs is not None:
            check_signal_choice(self.signal, mc_samples)
        if eval_inputs is None and mc_samples:
            raise ValueError(
                f"mc_samples={mc_samples} needs eval_inputs: the metrics hold only one-pass signals"
            )
        check_type("eval_inputs", eval_inputs, (torch.Tensor, type(None)), "a torch.Tensor or None")
        self.eval_inputs = eval_inputs
        self.scheduler: UncertaintyLR | None = None
        #: One entry per evaluation: {"step", "epoch", "signal", "lrs"}.
        self.history: list[dict] = []
        self._training = False
        self._hook: Any = None
        self._loss_total: torch.Tensor | None = None
        self._loss_count = 0

    # -- ExportableState ----------------------------------------------------------------
    def state(self) -> dict:
        """JSON-able args and attributes, saved by the Trainer in trainer_state.json."""
        return {
            "args": {
                **{name: getattr(self, name) for name in CALLBACK_OPTIONS},
                **self.policy_kwargs,
            },
            "attributes": {
                "scheduler_state": None if self.scheduler is None else self.scheduler.state_dict(),
                "history": [dict(entry) for entry in self.history],
            },
        }

    def _saved_attributes(self, state: Any) -> dict | None:
        saved = (state.stateful_callbacks or {}).get(type(self).__name__)
        if isinstance(saved, list):  # several callbacks of this class: take the first
            saved = saved[0] if saved else None
        return saved.get("attributes") if isinstance(saved, dict) else None

    # -- events -------------------------------------------------------------------------
    def on_train_begin(self, args, state, control, optimizer=None, lr_scheduler=None, **kwargs):
        if optimizer is None:
            raise ValueError("UncertaintyLRTrainerCallback needs the Trainer's optimizer, got None")
        options = dict(self.policy_kwargs)
        if self.budget == "known":
            options["total_steps"] = state.max_steps
        self.scheduler = UncertaintyLR(optimizer, **options)
        self.history = []
        # global_step > 0 at train begin means the Trainer loaded a checkpoint's
        # trainer_state.json, whose stateful_callbacks hold this callback's state then.
        saved = self._saved_attributes(state) if state.global_step > 0 else None
        if saved and saved.get("scheduler_state") is not None:
            self.scheduler.load_state_dict(saved["scheduler_state"])
            self.history = [dict(entry) for entry in saved.get("history", [])]
            for group, lr in zip(optimizer.param_groups, self.scheduler.get_last_lr()):
                group["lr"] = lr
        self._keep_base(lr_scheduler)
        self._training = True
        model = kwargs.get("model")
        if self.per_step and self.scheduler.wants_loss and model is not None:
            self._hook = model.register_forward_hook(self._catch_loss)

    def on_train_end(self, args, state, control, **kwargs):
        self._training = False
        self._drop_hook()

    def on_step_end(self, args, state, control, optimizer=None, **kwargs):
        if self.scheduler is None or optimizer is None:
            return
        for group, want in zip(optimizer.param_groups, self.scheduler.get_last_lr()):
            got = float(group["lr"])
            if not math.isclose(got, want, rel_tol=1e-9):
                raise ValueError(
                    f"the Trainer's LR scheduler moved the LR to {got:g}, the uncertainty policy "
                    f"set {want:g}; use TrainingArguments(lr_scheduler_type='constant'), got "
                    f"{getattr(args, 'lr_scheduler_type', '?')!s}"
                )
        if self.per_step:
            self._hand_over_loss()
            self.scheduler.step()
            self._keep_base(kwargs.get("lr_scheduler"))

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if not self._training or self.scheduler is None:
            return  # trainer.evaluate() outside train(): no schedule to move
        signal = self._signal(metrics or {}, kwargs.get("model"))
        if self.per_step:  # acted on at the next optimizer step
            self.scheduler.observe(signal)
        else:
            self.scheduler.step(signal)
        lrs = self.scheduler.get_last_lr()
        self._keep_base(kwargs.get("lr_scheduler"))
        epoch = None if state.epoch is None else float(state.epoch)
        self.history.append(
            {"step": state.global_step, "epoch": epoch, "signal": signal, "lrs": list(lrs)}
        )
        state.log_history.append(
            {SIGNAL_KEY: signal, LR_KEY: lrs[0], "epoch": epoch, "step": state.global_step}
        )

    # -- the training loss (mode cycle, while it searches the level) ----------------------
    def _catch_loss(self, module: nn.Module, inputs: Any, output: Any) -> None:
        if not (module.training and torch.is_grad_enabled()):
            return  # an evaluation pass
        loss = loss_of(output)
        if loss is not None:  # summed on the device: no sync until the step ends
            loss = loss.detach().float().mean()
            self._loss_total = loss if self._loss_total is None else self._loss_total + loss
            self._loss_count += 1

    def _hand_over_loss(self) -> None:
        if not self.scheduler.wants_loss:
            self._drop_hook()
        elif self._loss_total is None:
            raise ValueError(
                "mode='cycle' reads the training loss of every step while it searches the LR "
                "level, and the model's output held no loss (output.loss or output['loss']): "
                "have the model compute its loss from the labels, or pass search=False"
            )
        else:
            self.scheduler.observe_loss(
                distributed.mean_over_ranks(self._loss_total / self._loss_count)
            )
        self._loss_total, self._loss_count = None, 0

    def _drop_hook(self) -> None:
        if self._hook is not None:
            self._hook.remove()
            self._hook = None

    # -- helpers ------------------------------------------------------------------------
    def _signal(self, metrics: dict, model: nn.Module | None) -> float:
        if self.eval_inputs is None:
            suffix = f"{METRIC_PREFIX}{self.signal}"
            keys = [k for k in metrics if k == suffix or k.endswith("_" + suffix)]
            if not keys:
                raise ValueError(
                    f"evaluation metrics have no '{suffix}'; pass compute_metrics=uncertainty_metrics "
                    "to the Trainer, or eval_inputs to the callback"
                )
            # Trainer already gathered every rank's predictions: the value is global.
            return float(metrics[keys[0]])
        if model is None:
            raise ValueError(
                "UncertaintyLRTrainerCallback needs the model to run eval_inputs, got None"
            )
        wrapped = LogitsOnly(model)
        if self.mc_samples:
            probs = mc_dropout_probs(
                wrapped, self.eval_inputs, samples=self.mc_samples, batch_size=self.batch_size
            )
            values = per_sample_signal(self.signal, mc_probs=probs)
        else:
            logits = predict_logits(wrapped, self.eval_inputs, batch_size=self.batch_size)
            values = per_sample_signal(self.signal, logits=logits)
        # Each rank may hold different eval_inputs: average so all ranks decide alike.
        return mean_over_ranks(SignalMean.mean(float(values.sum()), values.numel()))

    def _keep_base(self, lr_scheduler: Any) -> None:
        # A constant LambdaLR recomputes lr = base_lr * 1 every step: moving its base keeps
        # ours. accelerate may wrap the scheduler (AcceleratedScheduler.scheduler).
        lr_scheduler = getattr(lr_scheduler, "scheduler", lr_scheduler)
        if lr_scheduler is not None and hasattr(lr_scheduler, "base_lrs"):
            lr_scheduler.base_lrs = list(self.scheduler.get_last_lr())

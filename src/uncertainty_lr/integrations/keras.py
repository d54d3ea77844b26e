"""Keras 3 callback: step the uncertainty policy on the validation signal after each epoch,
or, with ``mode="cycle"``, after every optimizer step with the training loss.

A Keras optimizer is not a torch one, so the callback drives ``UncertaintyPolicy``
directly, through ``observe()`` and ``advance()``: the same LR writer ``UncertaintyLR``
uses, so another callback that moves the LR composes with it the same way.

Install with ``pip install 'uncertainty-lr[keras]'``. Only this module imports Keras.

Backend: if Keras is not imported yet and ``KERAS_BACKEND`` is unset, importing this
module sets ``KERAS_BACKEND=torch`` (torch is already a dependency of this package).
Set the variable yourself before the first ``import keras`` to use another backend; the
callback only uses ``model.predict``, ``model(x, training=True)`` and numpy.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import numpy as np
import torch

from uncertainty_lr.integrations._common import (
    CALLBACK_OPTIONS,
    LABELLED_SIGNAL,
    SignalMean,
    check_signal_choice,
    keep_callback_options,
    missing_framework,
    per_sample_signal,
)
from uncertainty_lr.schedulers.policy import UncertaintyPolicy
from uncertainty_lr.signals.functions import overconfidence

if "keras" not in sys.modules:
    os.environ.setdefault("KERAS_BACKEND", "torch")
try:
    import keras
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise missing_framework("UncertaintyLRKerasCallback", "keras", "keras") from error

# Probabilities sum to 1 up to float32 round-off; logits essentially never do.
_ROW_SUM_TOLERANCE = 1e-3


def _inputs_of(validation_data: Any) -> Any:
    """(x, y) or (x, y, sample_weight) -> x; anything else is x itself."""
    if isinstance(validation_data, tuple):
        if not validation_data:
            raise ValueError("validation_data must hold inputs, got an empty tuple")
        return validation_data[0]
    return validation_data


def _labels_of(validation_data: Any) -> np.ndarray | None:
    """(x, y[, sample_weight]) -> y as class ids (one-hot rows become their argmax)."""
    if not isinstance(validation_data, tuple) or len(validation_data) < 2:
        return None
    y = np.asarray(keras.ops.convert_to_numpy(validation_data[1]))
    return (y.argmax(axis=-1) if y.ndim == 2 else y).astype(np.int64)


def _looks_like_probs(outputs: np.ndarray) -> bool:
    return bool(
        np.all(outputs >= 0) and np.all(np.abs(outputs.sum(axis=-1) - 1.0) <= _ROW_SUM_TOLERANCE)
    )


class UncertaintyLRKerasCallback(keras.callbacks.Callback):
    """Set ``model.optimizer.learning_rate`` from the uncertainty on ``validation_data``.

    At each ``on_epoch_end`` the callback predicts ``validation_data`` (one
    ``model.predict`` pass, or ``mc_samples`` passes of ``model(x, training=True)``),
    turns the outputs into the signal, steps an ``UncertaintyPolicy`` whose base LR is the
    optimizer's LR at the first ``fit``, assigns the new LR and adds ``"lr"`` (also as
    ``"learning_rate"``, the Keras 3 key) and ``"uncertainty"`` (the raw signal) to the
    epoch logs, so ``History`` and other callbacks see them. A second ``fit`` continues
    the schedule; ``state_dict()`` / ``load_state_dict()`` carry it across processes.

    With ``mode="cycle"`` the policy moves after every training batch instead: it reads
    that batch's loss from the model's loss tracker (its total and count, so the batch's
    own mean loss, not the epoch's running mean the logs hold) while it searches the LR
    level, and the epoch's signal (by default ``overconfidence``, which needs the labels in
    ``validation_data``) is acted on at the next batch. Keep ``steps_per_execution`` at 1:
    the callback sees one batch per optimizer step only then.

    Args:
        validation_data: inputs x (array or tensor), or a tuple (x, y[, sample_weight]).
        signal: "confidence", "entropy" (default) or "margin"; with ``mc_samples >= 2``
            also "mutual_information" or "variance"; "overconfidence" (the default with
            ``mode="cycle"``) reads the labels y of validation_data too.
        mc_samples: 0 = one ``model.predict`` pass; >= 2 = that many passes with
            ``training=True`` (dropout on; BatchNormalization uses batch statistics, and
            its moving statistics are put back afterwards). x must be one array.
        from_logits: whether the model outputs logits; None (default) = probabilities if
            every row is >= 0 and sums to 1 (within 1e-3), else logits.
        batch_size: rows per prediction batch (default 256).
        budget: with ``mode="cycle"``, "free" (default) or "known": the decay ends at the
            last step of the first ``fit`` (``total_steps`` = epochs x steps per epoch).
        **policy_kwargs: UncertaintyPolicy options (threshold, step_size, mode, ...).
    """

    def __init__(
        self,
        validation_data: Any,
        signal: str | None = None,
        mc_samples: int = 0,
        from_logits: bool | None = None,
        batch_size: int = 256,
        budget: str = "free",
        **policy_kwargs: Any,
    ) -> None:
        super().__init__()
        keep_callback_options(
            self,
            policy_kwargs,
            "the fit's epochs x steps",
            signal=signal,
            mc_samples=mc_samples,
            batch_size=batch_size,
            budget=budget,
        )
        self.labels = _labels_of(validation_data)
        if self.signal != LABELLED_SIGNAL:
            check_signal_choice(self.signal, mc_samples)
        elif self.labels is None or mc_samples:
            raise ValueError(
                f"signal={LABELLED_SIGNAL!r} reads one pass over validation_data=(x, y) with "
                f"its labels; got {'mc_samples=' + str(mc_samples) if mc_samples else 'no labels'}"
            )
        if from_logits not in (None, True, False):
            raise ValueError(f"from_logits must be None, True or False, got {from_logits!r}")
        self.inputs = _inputs_of(validation_data)
        self.from_logits = from_logits
        self.policy: UncertaintyPolicy | None = None
        #: One entry per epoch: {"epoch", "signal", "lr"} (the LR the next epoch starts at).
        self.history: list[dict] = []
        self._loss_seen = (0.0, 0.0)  # the loss tracker's (total, count) after the last batch

    # -- config and state ---------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """Constructor arguments except validation_data: ``cls(data, **get_config())``."""
        names = (*CALLBACK_OPTIONS, "from_logits")
        return {**{name: getattr(self, name) for name in names}, **self.policy_kwargs}

    def state_dict(self) -> dict[str, Any]:
        """Policy state (plain numbers, JSON-able) and history; {"policy": None} before fit."""
        return {
            "policy": None if self.policy is None else self.policy.state_dict(),
            "history": [dict(entry) for entry in self.history],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from state_dict(); the next fit continues that schedule."""
        saved = state.get("policy")
        if saved is None:
            self.policy = None
        else:
            if "base_lrs" not in saved:
                raise ValueError("callback state's policy is missing keys: base_lrs")
            self.policy = UncertaintyPolicy(saved["base_lrs"])
            self.policy.load_state_dict(saved)  # restores the configuration too
        self.history = [dict(entry) for entry in state.get("history", [])]

    # -- events -------------------------------------------------------------------------
    def on_train_begin(self, logs: dict | None = None) -> None:
        optimizer = self.model.optimizer
        if optimizer is None:
            raise ValueError("UncertaintyLRKerasCallback needs a compiled model, got no optimizer")
        if self.policy is None:
            options = dict(self.policy_kwargs)
            if self.budget == "known":
                epochs, steps = self.params.get("epochs"), self.params.get("steps")
                if not steps:
                    raise ValueError("budget='known' needs a fit whose steps per epoch are known "
                                     "(an array, or a dataset with a length / steps_per_epoch)")  # fmt: skip
                options["total_steps"] = epochs * steps
            self.policy = UncertaintyPolicy([self._lr()], **options)
            (lr,) = self.policy.restart()  # the policy's starting LR (warmup may lower it)
        else:
            (lr,) = self.policy.applied  # a second fit continues where the first ended
        self._set_lr(lr)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._loss_seen = (0.0, 0.0)  # Keras resets its metrics before each epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if not self.per_step:
            return
        if self.policy.wants_loss:
            self.policy.observe_loss(self._batch_loss())
        (lr,) = self.policy.advance([self._current()])
        self._set_lr(lr)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        signal = self.measure()
        self.policy.observe(signal)
        if self.per_step:  # acted on at the next batch
            (lr,) = self.policy.applied
        else:
            (lr,) = self.policy.advance([self._current()])
            self._set_lr(lr)
        self.history.append({"epoch": epoch, "signal": signal, "lr": lr})
        if logs is not None:
            logs.update({"lr": lr, "learning_rate": lr, "uncertainty": signal})

    # -- measuring ----------------------------------------------------------------------
    def measure(self) -> float:
        """The signal of ``self.model`` on the validation inputs now, in [0, 1]."""
        if self.signal == LABELLED_SIGNAL:
            probs = self._to_probs(self._predict())
            return overconfidence(torch.from_numpy(probs), torch.from_numpy(self.labels))
        if self.mc_samples:
            outputs = self._mc_outputs()  # (T, N, C)
            probs = self._to_probs(outputs)
            values = per_sample_signal(self.signal, mc_probs=torch.from_numpy(probs))
        else:
            probs = torch.from_numpy(self._to_probs(self._predict()))
            values = per_sample_signal(self.signal, probs=probs)
        return SignalMean.mean(float(values.sum()), values.numel())

    def _predict(self) -> np.ndarray:
        outputs = np.asarray(self.model.predict(self.inputs, batch_size=self.batch_size, verbose=0))
        if outputs.ndim != 2:
            raise ValueError(
                f"the model must output (N, C) scores, got shape {tuple(outputs.shape)}"
            )
        return outputs

    def _batch_loss(self) -> float:
        """The mean loss of the batch just trained on, from the loss tracker's running total
        and count (the logs hold the epoch's running mean)."""
        tracker = next((m for m in self.model.metrics if m.name == "loss"), None)
        if tracker is None or not hasattr(tracker, "total"):
            raise ValueError(
                "mode='cycle' reads the training loss of every batch while it searches the LR "
                "level, and the model tracks no loss: compile it with a loss, or pass search=False"
            )
        total, count = (
            float(keras.ops.convert_to_numpy(v)) for v in (tracker.total, tracker.count)
        )
        seen_total, seen_count = self._loss_seen
        self._loss_seen = (total, count)
        return (total - seen_total) / (count - seen_count)

    def _to_probs(self, outputs: np.ndarray) -> np.ndarray:
        outputs = outputs.astype(np.float64)
        logits = not _looks_like_probs(outputs) if self.from_logits is None else self.from_logits
        if not logits:
            return outputs
        shifted = outputs - outputs.max(axis=-1, keepdims=True)
        exp = np.exp(shifted)
        return exp / exp.sum(axis=-1, keepdims=True)

    def _mc_outputs(self) -> np.ndarray:
        x = self.inputs
        if not hasattr(x, "shape") or isinstance(x, (list, tuple, dict)):
            raise ValueError(
                f"mc_samples needs validation inputs as one array, got {type(x).__name__}"
            )
        # training=True also moves BatchNormalization's moving statistics: put them back.
        saved = [keras.ops.convert_to_numpy(v) for v in self.model.non_trainable_variables]
        try:
            passes = []
            for _ in range(self.mc_samples):
                batches = [
                    keras.ops.convert_to_numpy(
                        self.model(x[start : start + self.batch_size], training=True)
                    )
                    for start in range(0, x.shape[0], self.batch_size)
                ]
                passes.append(np.concatenate(batches))
        finally:
            for variable, value in zip(self.model.non_trainable_variables, saved):
                variable.assign(value)
        outputs = np.stack(passes)
        if outputs.ndim != 3:
            raise ValueError(
                f"the model must output (N, C) scores, got shape {tuple(outputs.shape[1:])}"
            )
        return outputs

    def _lr(self) -> float:
        return float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))

    def _current(self) -> float:
        """The optimizer's LR; Keras keeps it as float32: if it still holds the policy's last
        write, rounded, that write, so that alone the policy's LR comes out exactly."""
        current = self._lr()
        (applied,) = self.policy.applied
        return applied if np.float32(applied) == np.float32(current) else current

    def _set_lr(self, lr: float) -> None:
        try:
            self.model.optimizer.learning_rate = lr
        except TypeError as error:
            raise ValueError(
                "UncertaintyLRKerasCallback needs an optimizer built with a float learning_rate, "
                "got a LearningRateSchedule"
            ) from error

"""Every schedule as the training loop sees it, so the loop never special-cases one.

The loop calls, per epoch::

    schedule.train()                       # before the training batches
    for batch: ...; schedule.optimizer.step(); schedule.after_batch(logits)
    schedule.eval()                        # before evaluation
    schedule.after_epoch(metrics)          # metrics: "val_loss", "val_entropy", ...

``make_schedule(name, optimizer, epochs=..., steps_per_epoch=..., **options)`` builds one
from the registry (``uncertainty_lr.schedulers.registry``) and wraps it in the class its
entry's ``adapter`` names (``ADAPTER_CLASSES``). What is here knows about the loop: validation
metric keys, signals from training batches, BatchNorm recalibration.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from uncertainty_lr import distributed
from uncertainty_lr.schedulers.averaging import WeightAverage
from uncertainty_lr.schedulers.baselines import build_scheduler
from uncertainty_lr.schedulers.prodigy import effective_lrs
from uncertainty_lr.schedulers.registry import SCHEDULES
from uncertainty_lr.schedulers.uncertainty import mean_over_ranks
from uncertainty_lr.signals.catalog import signal_spec


class Schedule:
    """A schedule as the training loop sees it. Subclasses override the hooks they need."""

    name = "constant"
    #: Validation signals the loop must compute for this schedule (beyond the defaults).
    val_signals: tuple[str, ...] = ()
    #: True when BatchNorm statistics must be recomputed after eval() (schedule-free).
    recalibrate_batchnorm = False

    def __init__(self, optimizer: torch.optim.Optimizer) -> None:
        self.optimizer = optimizer
        self.last_signal: float | None = None

    @classmethod
    def from_built(cls, name: str, optimizer, scheduler, options: dict[str, Any]) -> Schedule:
        """Wrap what ``build_scheduler`` returned for schedule ``name`` (with its resolved
        ``options``) around ``optimizer``. Here: nothing to step (``constant``)."""
        return cls(optimizer)

    def train(self) -> None:
        """Called before the training batches of each epoch."""

    def eval(self) -> None:
        """Called before evaluation (validation, test, checkpointing)."""

    def after_batch(
        self, logits: torch.Tensor | None = None, loss: torch.Tensor | None = None
    ) -> None:
        """Called after every optimizer step with the batch's (detached) logits."""

    def after_epoch(self, metrics: dict[str, float]) -> None:
        """Called once per epoch with the validation metrics."""

    def get_last_lr(self) -> list[float]:
        return [float(g["lr"]) for g in self.optimizer.param_groups]

    @property
    def annealed(self) -> bool | None:
        """Whether the schedule says training can stop (a budget-free anneal has ended);
        None for a schedule that never says."""
        return None

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from state_dict()."""


class TorchSchedule(Schedule):
    """A torch scheduler stepped per batch, per epoch, or per epoch on a metric."""

    def __init__(self, name: str, optimizer, scheduler, every: str, metric: str | None = None):
        super().__init__(optimizer)
        self.name, self.scheduler, self.every, self.metric = name, scheduler, every, metric

    @classmethod
    def from_built(cls, name, optimizer, scheduler, options) -> TorchSchedule:
        """Stepped as the registry entry's ``every`` says; on ``metric`` (default val_loss)."""
        every = SCHEDULES[name].every
        metric = options.get("metric", "val_loss") if every == "metric" else None
        return cls(name, optimizer, scheduler, every, metric=metric)

    def after_batch(self, logits=None, loss=None) -> None:
        if self.every == "step":
            self.scheduler.step()

    def after_epoch(self, metrics: dict[str, float]) -> None:
        if self.every == "epoch":
            self.scheduler.step()
        elif self.every == "metric":
            value = metrics.get(self.metric)
            if value is None or not math.isfinite(value):
                return  # nothing to judge: hold, as ReduceLROnPlateau would on a missing eval
            self.scheduler.step(value)

    def state_dict(self) -> dict[str, Any]:
        return {"scheduler": self.scheduler.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.scheduler.load_state_dict(state["scheduler"])


class ScheduleFree(Schedule):
    """A schedule-free optimizer; its train()/eval() parameter switching is done here."""

    name = "schedule_free"
    recalibrate_batchnorm = True

    @classmethod
    def from_built(cls, name, optimizer, scheduler, options) -> ScheduleFree:
        """``scheduler`` is the schedule-free optimizer that replaces ``optimizer``."""
        return cls(scheduler)

    def train(self) -> None:
        self.optimizer.train()

    def eval(self) -> None:
        self.optimizer.eval()

    def get_last_lr(self) -> list[float]:
        return [float(g.get("scheduled_lr", 0.0) or g["lr"]) for g in self.optimizer.param_groups]


class Prodigy(Schedule):
    """Prodigy in place of the optimizer. The LR it reports is the step size ``d x lr`` the
    last step used (``lr`` is Prodigy's multiplier, 1.0). ``step()`` moves ``d`` but steps
    with the ``d`` it had on entry, so that value is kept before each step moves it."""

    name = "prodigy"

    def __init__(self, optimizer) -> None:
        super().__init__(optimizer)
        self._step_lrs = effective_lrs(optimizer)  # what the next step will use

    @classmethod
    def from_built(cls, name, optimizer, scheduler, options) -> Prodigy:
        """``scheduler`` is the Prodigy optimizer that replaces ``optimizer``."""
        return cls(scheduler)

    def get_last_lr(self) -> list[float]:
        return list(self._step_lrs)

    def after_batch(self, logits=None, loss=None) -> None:
        self._step_lrs = effective_lrs(self.optimizer)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._step_lrs = effective_lrs(self.optimizer)  # the optimizer's d is restored first


class UncertaintySchedule(TorchSchedule):
    """UncertaintyLR fed from a validation signal or from the training logits.

    The signal is averaged over ranks (``mean_over_ranks``) before each decision, so under
    DDP every rank applies the same LR; outside DDP that is the signal itself.
    """

    def __init__(self, optimizer, scheduler, signal: str, every: str, tracker_momentum: float,
                 average: float = 0.0):  # fmt: skip
        scheduler, self.envelope = scheduler if isinstance(scheduler, tuple) else (scheduler, None)
        super().__init__("uncertainty", optimizer, scheduler, every)
        self.signal = signal
        self.average = WeightAverage(optimizer, average) if average > 0 else None
        self.recalibrate_batchnorm = self.average is not None
        self.tracker = None
        spec = signal_spec(signal)
        if spec.from_training:
            from uncertainty_lr.signals.tracker import BatchSignalTracker

            self.tracker = BatchSignalTracker(spec.statistic, momentum=tracker_momentum)
        elif not spec.every_evaluation:
            self.val_signals = (signal,)

    @classmethod
    def from_built(cls, name, optimizer, scheduler, options) -> UncertaintySchedule:
        """Fed the signal ``options["signal"]``, every epoch or step (``options["every"]``)."""
        return cls(optimizer, scheduler, options["signal"], options["every"],
                   options["tracker_momentum"], options["average"])  # fmt: skip

    def train(self) -> None:
        if self.average is not None:
            self.average.use_live()

    def eval(self) -> None:
        if self.average is not None:
            self.average.use_average()

    def after_batch(self, logits=None, loss=None) -> None:
        if self.envelope is not None:
            self.envelope.step()
        if self.average is not None:
            self.average.update()
        if self.scheduler.policy.rule.per_step:  # mode=cycle: one step per optimizer step
            if self.scheduler.wants_loss and loss is not None:
                self.scheduler.observe_loss(distributed.mean_over_ranks(loss))
            self.scheduler.step()
            return
        if self.tracker is None or logits is None:
            return
        value = self.tracker.update(logits)
        if self.every == "step" and math.isfinite(value):
            self._step(value)

    def after_epoch(self, metrics: dict[str, float]) -> None:
        if self.every == "step":
            return
        value = (
            self.tracker.value if self.tracker is not None else metrics.get(f"val_{self.signal}")
        )
        if value is None or not math.isfinite(value):
            return  # a diverged epoch has no signal; the loop stops the run
        self._step(value)

    @property
    def annealed(self) -> bool | None:
        """``UncertaintyLR.annealed`` for a mode that anneals (``anneal``, ``cycle``)."""
        return bool(self.scheduler.annealed) if self.scheduler.policy.rule.anneals else None

    def _step(self, value: float) -> None:
        low = self.scheduler.policy.signal_low  # -1 for a signed signal (explore)
        signal = mean_over_ranks(min(max(float(value), low), 1.0))
        if self.scheduler.policy.rule.per_step:  # decided at the next optimizer step
            self.scheduler.observe(signal)
            self.last_signal = signal
            return
        self.scheduler.step(signal)
        self.last_signal = self.scheduler.last_signal

    def state_dict(self) -> dict[str, Any]:
        state = {"scheduler": self.scheduler.state_dict(), "last_signal": self.last_signal}
        if self.tracker is not None:
            state["tracker"] = self.tracker.state_dict()
        if self.envelope is not None:
            state["envelope"] = self.envelope.state_dict()
        if self.average is not None:
            state["average"] = self.average.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.scheduler.load_state_dict(state["scheduler"])
        self.last_signal = state.get("last_signal")
        if self.tracker is not None:
            self.tracker.load_state_dict(state["tracker"])
        if self.envelope is not None:
            self.envelope.load_state_dict(state["envelope"])
        if self.average is not None:
            self.average.load_state_dict(state["average"])


#: The loop's class for each ``ScheduleSpec.adapter`` (``registry.ADAPTERS``).
ADAPTER_CLASSES: dict[str, type[Schedule]] = {
    "torch": TorchSchedule,
    "fixed": Schedule,
    "schedule_free": ScheduleFree,
    "prodigy": Prodigy,
    "uncertainty": UncertaintySchedule,
}


def make_schedule(
    name: str, optimizer: torch.optim.Optimizer, *, epochs: int, steps_per_epoch: int, **options
) -> Schedule:
    """Build the schedule ``name`` (one of the registry's SCHEDULES) around ``optimizer``.

    ``epochs`` and ``steps_per_epoch`` size the fixed schedules; ``options`` are the
    schedule's own (an unknown one is an error listing the allowed ones). For
    ``schedule_free`` the schedule's ``optimizer`` is the schedule-free twin of the given
    one (same params, LRs and regularisation), for ``prodigy`` a Prodigy optimizer.
    """
    scheduler, resolved = build_scheduler(
        name, optimizer, epochs=epochs, steps_per_epoch=steps_per_epoch, **options
    )
    adapter = ADAPTER_CLASSES[SCHEDULES[name].adapter]
    return adapter.from_built(name, optimizer, scheduler, resolved)

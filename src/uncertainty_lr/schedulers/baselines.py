"""Every schedule behind one small interface, so the training loop never special-cases one.

The loop calls, per epoch::

    schedule.train()                       # before the training batches
    for batch: ...; schedule.optimizer.step(); schedule.after_batch(logits)
    schedule.eval()                        # before evaluation
    schedule.after_epoch(metrics)          # metrics: "val_loss", "val_entropy", ...

``make_schedule(name, optimizer, epochs=..., steps_per_epoch=..., **options)`` builds one.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch.optim import lr_scheduler as torch_sched

from uncertainty_lr.schedulers.greedy import make_greedy
from uncertainty_lr.schedulers.uncertainty import UncertaintyLR

SCHEDULES: dict[str, str] = {
    "constant": "the optimizer's LR, unchanged",
    "step": "step decay: LR x gamma (0.1) every step_epochs (epochs // 3)",
    "cosine": "cosine annealing from the LR to eta_min (0) over all steps",
    "plateau": "ReduceLROnPlateau on val_loss: factor 0.2, patience 3, min_lr 1e-6 (the study plan)",
    "onecycle": "one-cycle: up to max_lr (3 x LR) over 30 % of steps, then cosine down",
    "warmup_cosine": "linear warmup over warmup_fraction (5 %) of steps, then cosine to 0",
    "greedy": "loss-driven GreedyLR: LR / factor after improving evaluations, x factor on a plateau",
    "schedule_free": "schedule-free AdamW (schedulefree package), warmup 5 % of steps",
    "uncertainty": "UncertaintyLR: LR up while the model is unsure, down once it is sure",
}

#: Signals an uncertainty schedule can read. val_* come from the loop's validation pass,
#: mc_* / ll_* from (last-layer) MC dropout on validation data, train_* from the
#: training logits the loop already has (no extra forward pass).
UNCERTAINTY_SIGNALS = (
    "confidence", "entropy", "margin",
    "mc_entropy", "mc_mutual_information", "mc_variance",
    "ll_entropy", "ll_mutual_information", "ll_variance",
    "train_confidence", "train_entropy", "train_margin",
)  # fmt: skip


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

    def train(self) -> None:
        """Called before the training batches of each epoch."""

    def eval(self) -> None:
        """Called before evaluation (validation, test, checkpointing)."""

    def after_batch(self, logits: torch.Tensor | None = None) -> None:
        """Called after every optimizer step with the batch's (detached) logits."""

    def after_epoch(self, metrics: dict[str, float]) -> None:
        """Called once per epoch with the validation metrics."""

    def get_last_lr(self) -> list[float]:
        return [float(g["lr"]) for g in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from state_dict()."""


class TorchSchedule(Schedule):
    """A torch.optim.lr_scheduler stepped per batch, per epoch, or per epoch on a metric."""

    def __init__(self, name: str, optimizer, scheduler, every: str, metric: str | None = None):
        super().__init__(optimizer)
        self.name, self.scheduler, self.every, self.metric = name, scheduler, every, metric

    def after_batch(self, logits=None) -> None:
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
    """Schedule-free AdamW; its train()/eval() parameter switching is done here."""

    name = "schedule_free"
    recalibrate_batchnorm = True

    def train(self) -> None:
        self.optimizer.train()

    def eval(self) -> None:
        self.optimizer.eval()

    def get_last_lr(self) -> list[float]:
        return [float(g.get("scheduled_lr", 0.0) or g["lr"]) for g in self.optimizer.param_groups]


class UncertaintySchedule(Schedule):
    """UncertaintyLR fed from a validation signal or from the training logits."""

    name = "uncertainty"

    def __init__(
        self,
        optimizer,
        signal: str = "entropy",
        every: str = "epoch",
        tracker_momentum: float = 0.9,
        **policy,
    ):
        super().__init__(optimizer)
        if signal not in UNCERTAINTY_SIGNALS:
            raise ValueError(
                f"signal must be one of {', '.join(UNCERTAINTY_SIGNALS)}; got {signal!r}"
            )
        if every not in ("epoch", "step"):
            raise ValueError(f"every must be 'epoch' or 'step', got {every!r}")
        if every == "step" and not signal.startswith("train_"):
            raise ValueError(
                f"every='step' needs a train_* signal (no extra forward pass), got {signal!r}"
            )
        self.signal, self.every = signal, every
        self.scheduler = UncertaintyLR(optimizer, **policy)
        self.tracker = None
        if signal.startswith("train_"):
            from uncertainty_lr.signals.tracker import BatchSignalTracker

            self.tracker = BatchSignalTracker(
                signal.removeprefix("train_"), momentum=tracker_momentum
            )
        elif signal not in ("confidence", "entropy", "margin"):
            self.val_signals = (signal,)

    def after_batch(self, logits=None) -> None:
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

    def _step(self, value: float) -> None:
        self.scheduler.step(min(max(float(value), 0.0), 1.0))
        self.last_signal = self.scheduler.last_signal

    def state_dict(self) -> dict[str, Any]:
        state = {"scheduler": self.scheduler.state_dict(), "last_signal": self.last_signal}
        if self.tracker is not None:
            state["tracker"] = self.tracker.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.scheduler.load_state_dict(state["scheduler"])
        self.last_signal = state.get("last_signal")
        if self.tracker is not None:
            self.tracker.load_state_dict(state["tracker"])


# Allowed values of the schedules' own options as (low, high, interval, integer), checked
# up front: a bad one must fail before any run, not as a negative LR or a crash mid-sweep.
# (The uncertainty policy's options are checked by UncertaintyPolicy itself.)
_OPTION_RANGES: dict[tuple[str, str], tuple[float, float, str, bool]] = {
    ("step", "step_epochs"): (1, math.inf, "[)", True),
    ("step", "gamma"): (0.0, 1.0, "(]", False),
    ("cosine", "eta_min"): (0.0, math.inf, "[)", False),
    ("plateau", "factor"): (0.0, 1.0, "()", False),
    ("plateau", "patience"): (0, math.inf, "[)", True),
    ("plateau", "min_lr"): (0.0, math.inf, "[)", False),
    ("onecycle", "max_lr_multiple"): (0.0, math.inf, "()", False),
    ("onecycle", "pct_start"): (0.0, 1.0, "()", False),
    ("warmup_cosine", "warmup_fraction"): (0.0, 1.0, "[)", False),
    ("greedy", "factor"): (0.0, 1.0, "()", False),
    ("greedy", "patience"): (0, math.inf, "[)", True),
    ("greedy", "min_lr_multiple"): (0.0, math.inf, "()", False),
    ("greedy", "max_lr_multiple"): (0.0, math.inf, "()", False),
    ("schedule_free", "warmup_fraction"): (0.0, 1.0, "[)", False),
    ("uncertainty", "tracker_momentum"): (0.0, 1.0, "[)", False),
}
#: Metrics ReduceLROnPlateau may watch: it minimises, so lower must mean better.
PLATEAU_METRICS = ("val_loss", "val_ece", "val_entropy", "val_confidence", "val_margin")


def _check_option(name: str, key: str, value: Any) -> None:
    low, high, closed, integer = _OPTION_RANGES[name, key]
    ok = not isinstance(value, bool) and isinstance(value, int if integer else (int, float))
    if ok:
        above = value >= low if closed[0] == "[" else value > low
        below = value <= high if closed[1] == "]" else value < high
        ok = math.isfinite(value) and above and below
    if not ok:
        kind = "an integer" if integer else "a number"
        raise ValueError(
            f"{key} of schedule {name!r} must be {kind} in {closed[0]}{low:g}, {high:g}{closed[1]}"
            f", got {value!r}"
        )


def _take(name: str, options: dict, defaults: dict) -> dict:
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        allowed = ", ".join(sorted(defaults)) or "none"
        raise ValueError(
            f"unknown option(s) {', '.join(unknown)} for schedule {name!r}; allowed: {allowed}"
        )
    for key, value in options.items():
        if (name, key) in _OPTION_RANGES:
            _check_option(name, key, value)
    if name == "plateau" and options.get("metric", "val_loss") not in PLATEAU_METRICS:
        raise ValueError(
            f"metric of schedule 'plateau' must be one of {', '.join(PLATEAU_METRICS)}, "
            f"got {options['metric']!r}"
        )
    return {**defaults, **options}


def _check_positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def make_schedule(
    name: str, optimizer: torch.optim.Optimizer, *, epochs: int, steps_per_epoch: int, **options
) -> Schedule:
    """Build the schedule ``name`` (one of SCHEDULES) around ``optimizer``.

    ``epochs`` and ``steps_per_epoch`` size the fixed schedules; ``options`` are the
    schedule's own (an unknown one is an error listing the allowed ones). For
    ``schedule_free`` the optimizer's params, lr, betas and weight decay are moved into a
    new AdamWScheduleFree, available as ``schedule.optimizer``.
    """
    if name not in SCHEDULES:
        raise ValueError(f"unknown schedule {name!r}; known: {', '.join(SCHEDULES)}")
    epochs = _check_positive_int("epochs", epochs)
    steps_per_epoch = _check_positive_int("steps_per_epoch", steps_per_epoch)
    total = epochs * steps_per_epoch
    base = [g["lr"] for g in optimizer.param_groups]
    if name == "constant":
        _take(name, options, {})
        return Schedule(optimizer)
    if name == "step":
        o = _take(name, options, {"step_epochs": max(1, epochs // 3), "gamma": 0.1})
        s = torch_sched.StepLR(optimizer, step_size=o["step_epochs"], gamma=o["gamma"])
        return TorchSchedule(name, optimizer, s, "epoch")
    if name == "cosine":
        o = _take(name, options, {"eta_min": 0.0})
        s = torch_sched.CosineAnnealingLR(optimizer, T_max=total, eta_min=o["eta_min"])
        return TorchSchedule(name, optimizer, s, "step")
    if name == "plateau":
        o = _take(
            name, options, {"factor": 0.2, "patience": 3, "min_lr": 1e-6, "metric": "val_loss"}
        )
        s = torch_sched.ReduceLROnPlateau(
            optimizer, mode="min", factor=o["factor"], patience=o["patience"], min_lr=o["min_lr"]
        )
        return TorchSchedule(name, optimizer, s, "metric", metric=o["metric"])
    if name == "onecycle":
        o = _take(name, options, {"max_lr_multiple": 3.0, "pct_start": 0.3})
        s = torch_sched.OneCycleLR(
            optimizer,
            max_lr=[lr * o["max_lr_multiple"] for lr in base],
            total_steps=total,
            pct_start=o["pct_start"],
        )
        return TorchSchedule(name, optimizer, s, "step")
    if name == "warmup_cosine":
        o = _take(name, options, {"warmup_fraction": 0.05})
        warm = max(1, round(total * o["warmup_fraction"]))
        s = torch_sched.SequentialLR(
            optimizer,
            [
                torch_sched.LinearLR(optimizer, start_factor=1.0 / warm, total_iters=warm),
                torch_sched.CosineAnnealingLR(optimizer, T_max=max(1, total - warm)),
            ],
            milestones=[warm],
        )
        return TorchSchedule(name, optimizer, s, "step")
    if name == "greedy":
        o = _take(
            name,
            options,
            {"factor": 0.9, "patience": 1, "min_lr_multiple": 1e-3, "max_lr_multiple": 10.0},
        )
        s = make_greedy(
            optimizer,
            factor=o["factor"],
            patience=o["patience"],
            min_lrs=[lr * o["min_lr_multiple"] for lr in base],
            max_lrs=[lr * o["max_lr_multiple"] for lr in base],
        )
        return TorchSchedule(name, optimizer, s, "metric", metric="val_loss")
    if name == "schedule_free":
        o = _take(name, options, {"warmup_fraction": 0.05})
        return ScheduleFree(
            _schedule_free_optimizer(optimizer, round(total * o["warmup_fraction"]))
        )
    policy_defaults = {
        "signal": "entropy", "every": "epoch", "tracker_momentum": 0.9, "threshold": 0.05,
        "step_size": 0.1, "mode": "threshold", "min_lr": None, "max_lr": None, "smoothing": 0.0,
        "cooldown": 0, "warmup": 0, "reference": "absolute", "reference_steps": 1,
        "band_width": 0.5, "warmup_start_factor": 0.1,
    }  # fmt: skip
    return UncertaintySchedule(optimizer, **_take(name, options, policy_defaults))


def _schedule_free_optimizer(optimizer: torch.optim.Optimizer, warmup_steps: int):
    try:
        import schedulefree
    except ImportError as e:  # pragma: no cover - it is a core dependency
        raise ValueError(
            "schedule 'schedule_free' needs the schedulefree package: pip install schedulefree"
        ) from e
    groups = []
    for g in optimizer.param_groups:
        groups.append(
            {
                "params": g["params"],
                "lr": g.get("initial_lr", g["lr"]),
                "weight_decay": g.get("weight_decay", 0.0),
            }
        )
    betas = optimizer.param_groups[0].get("betas", (0.9, 0.999))
    opt = schedulefree.AdamWScheduleFree(
        groups, lr=groups[0]["lr"], betas=betas, warmup_steps=warmup_steps
    )
    opt.train()
    return opt

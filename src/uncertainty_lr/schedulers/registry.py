"""The schedules the harness compares: name -> description, typed options, how it is stepped.

Torch-free on purpose: ``check_schedule(name, options)`` validates a schedule's options
(names, types, ranges) without building an optimizer, so a config can be checked before
torch is imported. ``schedulers.baselines.build_scheduler`` builds the torch objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from uncertainty_lr.schedulers.options import (
    RECOMMENDED,
    Option,
    UncertaintyOptions,
    check_options,
)
from uncertainty_lr.signals.catalog import SIGNALS

#: Signals an uncertainty schedule can read in the harness: every signal of the catalog
#: (``signals.catalog``), which says where each comes from and what it needs.
UNCERTAINTY_SIGNALS = tuple(SIGNALS)
#: Metrics ReduceLROnPlateau may watch: it minimises, so lower must mean better.
PLATEAU_METRICS = ("val_loss", "val_ece", "val_entropy", "val_confidence", "val_margin")

_POSITIVE = {"low": 0.0, "closed": "()"}
_FRACTION = {"low": 0.0, "high": 1.0}


@dataclass(frozen=True)
class ScheduleSpec:
    """A schedule: what it does, its options, and when the loop steps it.

    ``every`` is "step" (after each optimizer step), "epoch", "metric" (after each
    evaluation, with a validation metric) or "none" (the schedule is in the optimizer).
    ``budget`` says whether the schedule must know the number of epochs in advance.
    """

    description: str
    options: Mapping[str, Option] = field(default_factory=dict)
    every: str = "none"
    budget: bool = False


SCHEDULES: dict[str, ScheduleSpec] = {
    "constant": ScheduleSpec("the optimizer's LR, unchanged"),
    "step": ScheduleSpec(
        "step decay: LR x gamma (0.1) every step_epochs (epochs // 3)",
        {"step_epochs": Option(None, kind="int", low=1), "gamma": Option(0.1, closed="(]", **_FRACTION)},
        every="epoch", budget=True,
    ),
    "cosine": ScheduleSpec(
        "cosine annealing from the LR to eta_min (0) over all steps",
        {"eta_min": Option(0.0, low=0.0, closed="[)")}, every="step", budget=True,
    ),
    "linear": ScheduleSpec(
        "linear decay from the LR to 0 over all steps, after an optional linear warmup over "
        "warmup_fraction (0) of steps",
        {"warmup_fraction": Option(0.0, closed="[)", **_FRACTION)}, every="step", budget=True,
    ),
    "wsd": ScheduleSpec(
        "warmup-stable-decay: linear warmup over warmup_fraction (5 %) of steps, the LR, then "
        "linear decay to 0 over the last decay_fraction (20 %) of steps",
        {"warmup_fraction": Option(0.05, closed="[)", **_FRACTION),
         "decay_fraction": Option(0.2, closed="(]", **_FRACTION)},
        every="step", budget=True,
    ),
    "plateau": ScheduleSpec(
        "ReduceLROnPlateau on val_loss: factor 0.2, patience 3, min_lr 1e-6 (the study plan)",
        {"factor": Option(0.2, closed="()", **_FRACTION), "patience": Option(3, kind="int", low=0),
         "min_lr": Option(1e-6, low=0.0, closed="[)"),
         "metric": Option("val_loss", kind="choice", choices=PLATEAU_METRICS)},
        every="metric",
    ),
    "onecycle": ScheduleSpec(
        "one-cycle: up to max_lr (3 x LR) over 30 % of steps, then cosine down",
        {"max_lr_multiple": Option(3.0, **_POSITIVE), "pct_start": Option(0.3, closed="()", **_FRACTION)},
        every="step", budget=True,
    ),
    "warmup_cosine": ScheduleSpec(
        "linear warmup over warmup_fraction (5 %) of steps, then cosine to 0",
        {"warmup_fraction": Option(0.05, closed="[)", **_FRACTION)}, every="step", budget=True,
    ),
    "greedy": ScheduleSpec(
        "loss-driven GreedyLR: LR / factor after improving evaluations, x factor on a plateau",
        {"factor": Option(0.9, closed="()", **_FRACTION), "patience": Option(1, kind="int", low=0),
         "min_lr_multiple": Option(1e-3, **_POSITIVE), "max_lr_multiple": Option(10.0, **_POSITIVE)},
        every="metric",
    ),
    # Warmup in epochs, not a fraction of the run: a fraction of T would tell the arm the
    # budget. 0.3 epochs is the former 5 % of the study's 6 epochs, so at that budget the
    # arm is the one measured before.
    "schedule_free": ScheduleSpec(
        "schedule-free AdamW / SGD (schedulefree package), same weight decay as the other arms, "
        "warmup over warmup_epochs (0.3) epochs of steps",
        {"warmup_epochs": Option(0.3, low=0.0)},
    ),
    "prodigy": ScheduleSpec(
        "Prodigy (prodigyopt package) in place of Adam / AdamW: lr 1.0, d_coef 1.0, the "
        "optimizer's betas and weight decay; learning-rate free",
    ),
    "uncertainty": ScheduleSpec(
        "UncertaintyLR. With no mode given, the default: hold the LR until the model is over 5 % "
        "surer than it is right on validation data for 2 epochs in a row, then decay linearly "
        "to ~0 over half the epochs so far (mode=anneal, trigger=threshold, "
        "signal=overconfidence). With a mode (threshold: the study plan's rule on entropy; "
        "band, proportional, anneal), the plain option defaults; envelope=linear adds a "
        "linear-to-zero envelope",
        {"signal": Option("entropy", kind="choice", choices=UNCERTAINTY_SIGNALS),
         "every": Option("epoch", kind="choice", choices=("epoch", "step")),
         "tracker_momentum": Option(0.9, closed="[)", **_FRACTION),
         # envelope x modulation: a per-step linear-to-zero envelope (budget-aware) times
         # the uncertainty factor, composed the way ChainedScheduler composes them.
         "envelope": Option("none", kind="choice", choices=("none", "linear")),
         **UncertaintyOptions.table()},
        every="metric",
    ),
}  # fmt: skip


#: What the arm ``uncertainty`` runs when no ``mode`` is given: the default chosen in the
#: annealing study (docs/results.md), every other option at its plain default. Given a
#: mode, the plain defaults apply, so ``uncertainty:mode=threshold`` is the study plan's rule.
DEFAULT_UNCERTAINTY = {**RECOMMENDED, "signal": "overconfidence"}


def uses_default_uncertainty(name: str, options: Mapping[str, Any] | None) -> bool:
    """Whether this arm runs the chosen default (``uncertainty`` with no ``mode`` given)."""
    return name == "uncertainty" and "mode" not in (options or {})


def check_schedule(name: str, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The schedule's options with defaults filled in, every value checked (no torch).

    Raises ValueError naming an unknown schedule, an unknown option (listing the allowed
    ones) or a bad value.
    """
    if name not in SCHEDULES:
        raise ValueError(f"unknown schedule {name!r}; known: {', '.join(SCHEDULES)}")
    # The uncertainty options read as they do for UncertaintyLR ("threshold must be ...").
    qualify = name != "uncertainty"
    table = SCHEDULES[name].options
    given = dict(options or {})
    if uses_default_uncertainty(name, given):
        given = {**DEFAULT_UNCERTAINTY, **given}
    resolved = check_options(f"schedule {name!r}", given, table, qualify=qualify)
    if name == "uncertainty":
        signal, every = resolved["signal"], resolved["every"]
        if every == "step" and not SIGNALS[signal].from_training:
            raise ValueError(
                f"every='step' needs a train_* signal (no extra forward pass), got {signal!r}"
            )
        policy = {k: resolved[k] for k in UncertaintyOptions.table()}
        UncertaintyOptions(**policy)  # one place for cross-option rules, too
        _check_bounds(resolved.get("min_lr"), resolved.get("max_lr"))
    if name == "wsd" and resolved["warmup_fraction"] + resolved["decay_fraction"] > 1:
        raise ValueError(
            "warmup_fraction + decay_fraction of schedule 'wsd' must be <= 1, got "
            f"{resolved['warmup_fraction']:g} + {resolved['decay_fraction']:g}"
        )
    return resolved


def needs_budget(name: str, options: Mapping[str, Any] | None = None) -> bool:
    """Whether the arm must be told the number of epochs (its schedule reads ``epochs``)."""
    if name == "uncertainty":
        return check_schedule(name, options)["envelope"] != "none"
    return SCHEDULES[name].budget


def _check_bounds(min_lr: Any, max_lr: Any) -> None:
    """min_lr <= max_lr where both are single numbers (lists are checked per group later)."""
    if isinstance(min_lr, (int, float)) and isinstance(max_lr, (int, float)) and min_lr > max_lr:
        raise ValueError(
            f"min_lr must not exceed max_lr, got min_lr={min_lr:g} > max_lr={max_lr:g}"
        )


#: Which schedule-free optimizer stands in for each harness optimizer, and how its weight
#: decay is applied so that it regularises exactly as the other arms do.
SCHEDULE_FREE_TWIN: dict[str, tuple[str, str]] = {
    "adam": ("AdamWScheduleFree", "L2 added to the gradient before the Adam update, as torch.optim.Adam"),
    "adamw": ("AdamWScheduleFree", "decoupled, lr x weight_decay per step, as torch.optim.AdamW"),
    "sgd": ("SGDScheduleFree", "L2 added to the gradient, as torch.optim.SGD; momentum 0.9"),
}  # fmt: skip


#: How Prodigy stands in for each harness optimizer it can replace (SGD has no twin).
PRODIGY_TWIN: dict[str, str] = {
    "adam": "decouple=False: L2 added to the gradient, as torch.optim.Adam",
    "adamw": "decouple=True: decoupled, step size x weight_decay per step, as torch.optim.AdamW",
}


def check_optimizer(schedule: str, optimizer: str) -> None:
    """Refuse an optimizer the schedule cannot replace (prodigy: Adam or AdamW only)."""
    if schedule == "prodigy" and optimizer not in PRODIGY_TWIN:
        raise ValueError(
            f"schedule 'prodigy' replaces Adam or AdamW ({', '.join(PRODIGY_TWIN)}), "
            f"got optimizer {optimizer!r}"
        )


def optimizer_description(optimizer: str, schedule: str, weight_decay: float) -> str:
    """What an arm actually ran with, e.g. "Adam, L2 weight decay 0.0001", for the report."""
    base = {"adam": "Adam", "adamw": "AdamW", "sgd": "SGD (momentum 0.9)"}[optimizer]
    decay = "decoupled weight decay" if optimizer == "adamw" else "L2 weight decay"
    if schedule == "prodigy" and optimizer in PRODIGY_TWIN:
        how = PRODIGY_TWIN[optimizer]
        return f"Prodigy (lr 1.0, d_coef 1.0) in place of {base}, weight decay {weight_decay:g} ({how})"
    if schedule != "schedule_free":
        return f"{base}, {decay} {weight_decay:g}"
    twin, how = SCHEDULE_FREE_TWIN[optimizer]
    return f"{twin} in place of {base}, weight decay {weight_decay:g} ({how})"

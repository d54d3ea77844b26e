"""The schedules the harness compares: name -> description, typed options, builder, stepping.

Torch-free on purpose: ``check_schedule(name, options)`` validates a schedule's options
(names, types, ranges) without building an optimizer, so a config can be checked before
torch is imported. Each entry names its builder as a "module:function" string that
``schedulers.baselines.build_scheduler`` imports when it builds, so this table can say how
a schedule is built without importing torch. Adding a plain torch schedule is an entry
here and its builder in ``baselines.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
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
#: When the loop steps a schedule (``ScheduleSpec.every``).
STEPPING = ("step", "epoch", "metric", "none")
#: How the harness's loop drives what a builder returns (``ScheduleSpec.adapter``); each
#: has one class in ``experiments/schedules.py``. "torch": a torch LR scheduler stepped
#: as ``every`` says; "fixed": nothing (None); "schedule_free": an optimizer with
#: train() / eval() weights; "prodigy": an optimizer whose step size is d x lr;
#: "uncertainty": an UncertaintyLR fed a signal.
ADAPTERS = ("torch", "fixed", "schedule_free", "prodigy", "uncertainty")
#: Where the baseline builders live (``ScheduleSpec.builder`` = "module:function").
BASELINES = "uncertainty_lr.schedulers.baselines"

_POSITIVE = {"low": 0.0, "closed": "()"}
_FRACTION = {"low": 0.0, "high": 1.0}


@dataclass(frozen=True)
class ScheduleSpec:
    """A schedule: what it does, how it is built, its options, and when the loop steps it.

    ``builder`` is "module:function": ``function(optimizer, options, budget)`` returns the
    scheduler (see ``schedulers.baselines.build_scheduler``). ``every`` is "step" (after
    each optimizer step), "epoch", "metric" (after each evaluation, with a validation
    metric) or "none" (the schedule is in the optimizer). ``budget`` says whether the
    schedule must know the number of epochs in advance. ``adapter`` is one of
    ``ADAPTERS`` (default "torch"). ``check``, if given, takes the resolved options and
    raises ValueError for a combination the single options allow (e.g. wsd's warmup +
    decay > 1).
    """

    description: str
    builder: str
    options: Mapping[str, Option] = field(default_factory=dict)
    every: str = "none"
    budget: bool = False
    adapter: str = "torch"
    check: Callable[[dict[str, Any]], None] | None = None

    def __post_init__(self) -> None:
        module, colon, function = self.builder.partition(":")
        if not (module and colon and function.isidentifier()):
            raise ValueError(f"builder must look like 'module:function', got {self.builder!r}")
        if self.every not in STEPPING:
            raise ValueError(f"every must be one of {', '.join(STEPPING)}; got {self.every!r}")
        if self.adapter not in ADAPTERS:
            raise ValueError(f"adapter must be one of {', '.join(ADAPTERS)}; got {self.adapter!r}")


def _check_wsd(resolved: dict[str, Any]) -> None:
    if resolved["warmup_fraction"] + resolved["decay_fraction"] > 1:
        raise ValueError(
            "warmup_fraction + decay_fraction of schedule 'wsd' must be <= 1, got "
            f"{resolved['warmup_fraction']:g} + {resolved['decay_fraction']:g}"
        )


def _check_uncertainty(resolved: dict[str, Any]) -> None:
    signal, every = resolved["signal"], resolved["every"]
    if resolved["total_steps"] is not None:
        raise ValueError(
            "total_steps is set by the harness from --epochs: give budget=known, got "
            f"total_steps={resolved['total_steps']!r}"
        )
    if resolved["budget"] == "known" and resolved["mode"] != "cycle":
        raise ValueError(
            f"budget=known needs mode='cycle' (the default with budget=known), got mode="
            f"{resolved['mode']!r}"
        )
    if resolved["mode"] == "cycle" and every == "step":
        raise ValueError(
            "mode='cycle' is stepped every optimizer step already; leave every='epoch'"
        )
    if every == "step" and not SIGNALS[signal].from_training:
        raise ValueError(
            f"every='step' needs a train_* signal (no extra forward pass), got {signal!r}"
        )
    policy = {k: resolved[k] for k in UncertaintyOptions.table()}
    UncertaintyOptions(**policy)  # one place for cross-option rules, too
    _check_bounds(resolved.get("min_lr"), resolved.get("max_lr"))


def _check_bounds(min_lr: Any, max_lr: Any) -> None:
    """min_lr <= max_lr where both are single numbers (lists are checked per group later)."""
    if isinstance(min_lr, (int, float)) and isinstance(max_lr, (int, float)) and min_lr > max_lr:
        raise ValueError(
            f"min_lr must not exceed max_lr, got min_lr={min_lr:g} > max_lr={max_lr:g}"
        )


SCHEDULES: dict[str, ScheduleSpec] = {
    "constant": ScheduleSpec(
        "the optimizer's LR, unchanged", f"{BASELINES}:build_constant", adapter="fixed",
    ),
    "step": ScheduleSpec(
        "step decay: LR x gamma (0.1) every step_epochs (epochs // 3)", f"{BASELINES}:build_step",
        {"step_epochs": Option(None, kind="int", low=1), "gamma": Option(0.1, closed="(]", **_FRACTION)},
        every="epoch", budget=True,
    ),
    "cosine": ScheduleSpec(
        "cosine annealing from the LR to eta_min (0) over all steps", f"{BASELINES}:build_cosine",
        {"eta_min": Option(0.0, low=0.0, closed="[)")}, every="step", budget=True,
    ),
    "linear": ScheduleSpec(
        "linear decay from the LR to 0 over all steps, after an optional linear warmup over "
        "warmup_fraction (0) of steps", f"{BASELINES}:build_linear",
        {"warmup_fraction": Option(0.0, closed="[)", **_FRACTION)}, every="step", budget=True,
    ),
    "wsd": ScheduleSpec(
        "warmup-stable-decay: linear warmup over warmup_fraction (5 %) of steps, the LR, then "
        "linear decay to 0 over the last decay_fraction (20 %) of steps", f"{BASELINES}:build_wsd",
        {"warmup_fraction": Option(0.05, closed="[)", **_FRACTION),
         "decay_fraction": Option(0.2, closed="(]", **_FRACTION)},
        every="step", budget=True, check=_check_wsd,
    ),
    "plateau": ScheduleSpec(
        "ReduceLROnPlateau on val_loss: factor 0.2, patience 3, min_lr 1e-6 (the study plan)",
        f"{BASELINES}:build_plateau",
        {"factor": Option(0.2, closed="()", **_FRACTION), "patience": Option(3, kind="int", low=0),
         "min_lr": Option(1e-6, low=0.0, closed="[)"),
         "metric": Option("val_loss", kind="choice", choices=PLATEAU_METRICS)},
        every="metric",
    ),
    "onecycle": ScheduleSpec(
        "one-cycle: up to max_lr (3 x LR) over 30 % of steps, then cosine down",
        f"{BASELINES}:build_onecycle",
        {"max_lr_multiple": Option(3.0, **_POSITIVE), "pct_start": Option(0.3, closed="()", **_FRACTION)},
        every="step", budget=True,
    ),
    "warmup_cosine": ScheduleSpec(
        "linear warmup over warmup_fraction (5 %) of steps, then cosine to 0",
        f"{BASELINES}:build_warmup_cosine",
        {"warmup_fraction": Option(0.05, closed="[)", **_FRACTION)}, every="step", budget=True,
    ),
    "greedy": ScheduleSpec(
        "loss-driven GreedyLR: LR / factor after improving evaluations, x factor on a plateau",
        f"{BASELINES}:build_greedy",
        {"factor": Option(0.9, closed="()", **_FRACTION), "patience": Option(1, kind="int", low=0),
         "min_lr_multiple": Option(1e-3, **_POSITIVE), "max_lr_multiple": Option(10.0, **_POSITIVE)},
        every="metric",
    ),
    # Warmup in epochs, not a fraction of the run: a fraction of T would tell the arm the
    # budget. 0.3 epochs is the former 5 % of the study's 6 epochs, so at that budget the
    # arm is the one measured before.
    "schedule_free": ScheduleSpec(
        "schedule-free AdamW / SGD (schedulefree package), same weight decay as the other arms, "
        "warmup over warmup_epochs (0.3) epochs of steps", f"{BASELINES}:build_schedule_free",
        {"warmup_epochs": Option(0.3, low=0.0)}, adapter="schedule_free",
    ),
    "prodigy": ScheduleSpec(
        "Prodigy (prodigyopt package) in place of Adam / AdamW: lr 1.0, d_coef 1.0, the "
        "optimizer's betas and weight decay; learning-rate free", f"{BASELINES}:build_prodigy",
        adapter="prodigy",
    ),
    "uncertainty": ScheduleSpec(
        "UncertaintyLR. With no mode given, the default (mode=cycle, signal=overconfidence, "
        "average=0.2): search the LR level over the first epoch (up to 10 x, back to a third "
        "if the model then is over 10 % surer than it is right), hold it, and decay to ~0 over "
        "half the steps so far once it has been over 5 % surer than right for 2 epochs; "
        "evaluated on a running average of the weights. budget=known: the same told the "
        "budget, its decay ending at 0 at the last step. With a mode (threshold: the study "
        "plan's rule on entropy; band, proportional, anneal, cycle), the plain option "
        "defaults; envelope=linear adds a linear-to-zero envelope",
        f"{BASELINES}:build_uncertainty",
        # The harness's own options (which signal, how often, the training signal's EMA,
        # the envelope), then UncertaintyLR's, which the builder passes on to it.
        {"signal": Option("entropy", kind="choice", choices=UNCERTAINTY_SIGNALS),
         "every": Option("epoch", kind="choice", choices=("epoch", "step")),
         "tracker_momentum": Option(0.9, closed="[)", **_FRACTION),
         # envelope x modulation: a per-step linear-to-zero envelope (budget-aware) times
         # the uncertainty factor, composed the way ChainedScheduler composes them.
         "envelope": Option("none", kind="choice", choices=("none", "linear")),
         # budget=known: mode=cycle told the run's length (total_steps = epochs x steps per
         # epoch), so its decay ends at 0 there; budget-aware, like cosine.
         "budget": Option("free", kind="choice", choices=("free", "known")),
         # average=h: evaluate (and take the signal from) a running average of the weights
         # over about the last share h of the steps so far, instead of the weights trained.
         "average": Option(0.0, low=0.0, high=1.0, closed="[)"),
         **UncertaintyOptions.table()},
        every="metric", adapter="uncertainty", check=_check_uncertainty,
    ),
}  # fmt: skip


#: What the arm ``uncertainty`` runs when no ``mode`` is given: the default chosen in the
#: method study (docs/results.md), every other option at its plain default. Given a mode,
#: the plain defaults apply, so ``uncertainty:mode=threshold`` is the study plan's rule and
#: ``uncertainty:mode=anneal,trigger=threshold,signal=overconfidence`` the former default.
DEFAULT_UNCERTAINTY = {**RECOMMENDED, "signal": "overconfidence", "average": 0.2}
#: What ``uncertainty:budget=known`` runs when no ``mode`` is given (docs/results.md): the
#: cycle told the run's length; its decay ends at 0 there, so no average is evaluated.
DEFAULT_UNCERTAINTY_KNOWN = {**RECOMMENDED, "signal": "overconfidence"}


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
        default = (
            DEFAULT_UNCERTAINTY_KNOWN if given.get("budget") == "known" else DEFAULT_UNCERTAINTY
        )
        given = {**default, **given}
    resolved = check_options(f"schedule {name!r}", given, table, qualify=qualify)
    if SCHEDULES[name].check is not None:
        SCHEDULES[name].check(resolved)
    return resolved


def needs_budget(name: str, options: Mapping[str, Any] | None = None) -> bool:
    """Whether the arm must be told the number of epochs (its schedule reads ``epochs``)."""
    if name == "uncertainty":
        resolved = check_schedule(name, options)
        return resolved["envelope"] != "none" or resolved["budget"] == "known"
    return SCHEDULES[name].budget


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

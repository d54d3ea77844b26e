"""Run configuration: one dataclass, filled from problem defaults, a TOML file and flags.

``RunConfig`` fields left as None take the problem's default, then the study preset's.
``resolve`` returns a copy with every value set and checked, which is what a run stores
and what its id hashes, so rerunning the same command finds the same runs.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomllib

from uncertainty_lr.problems import STUDY_PRESET, get_problem

OPTIMIZERS = ("adam", "adamw", "sgd")
DEVICES = ("auto", "cpu", "cuda", "mps")
# Where a run's lr came from, which decides its ruleset in the report: "given" = the
# configured lr (self-tuning ruleset), "tuning" = a point of an LR tuning grid,
# "tuned" = the lr its arm's tuning chose (external-tuning ruleset).
LR_SOURCES = ("given", "tuning", "tuned")


@dataclass
class RunConfig:
    """Everything one training run needs. None = the problem's (then the study plan's) default.

    Units: lr in optimizer units; epochs, sizes and patience are counts; val_fraction in (0, 1).
    ``lr_source`` (default "given") is one of ``LR_SOURCES``; the tuning commands set it.
    """

    problem: str = "digits_mlp"
    schedule: str = "constant"
    schedule_options: dict = field(default_factory=dict)
    seed: int = 0
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    optimizer: str | None = None
    weight_decay: float | None = None
    dropout: float | None = None
    train_size: int | None = None
    val_size: int | None = None
    test_size: int | None = None
    val_fraction: float = 0.1
    max_length: int | None = None
    vocab_size: int = 8000
    pretrained: str | None = None
    model_options: dict | None = None
    data_dir: str | None = None
    source: str | None = None
    image_column: str | None = None
    text_column: str | None = None
    label_column: str | None = None
    train_split: str | None = None
    val_split: str | None = None
    test_split: str | None = None
    signals: tuple[str, ...] = ()
    mc_samples: int = 10
    early_stopping: int = 0
    test_every_epoch: bool = False
    device: str = "auto"
    bf16: bool = False
    channels_last: bool = False
    eval_batch_size: int = 1024
    # Which of train_size / val_size / test_size ``resolve`` took from the problem's
    # defaults: those are upper bounds ("at most 5,000"), cut to the rows a split has;
    # a size set explicitly must fit or the run is refused. Set by ``resolve`` only.
    default_sizes: tuple[str, ...] = ()
    lr_source: str = "given"

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["signals"] = list(self.signals)
        d["default_sizes"] = list(self.default_sizes)
        return d


FIELDS = {f.name for f in dataclasses.fields(RunConfig)}
# Settings that describe where the data comes from or how the run is executed, not what
# is trained: they do not enter the run id, so moving the data folder resumes the same runs.
NOT_IN_RUN_ID = ("data_dir", "device", "eval_batch_size", "default_sizes")
SIZE_FIELDS = ("train_size", "val_size", "test_size")


def _positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _optional_positive_int(name: str, value: Any) -> None:
    if value is not None:
        _positive_int(name, value)


def _positive_float(name: str, value: Any) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"{name} must be a positive number, got {value!r}")


def resolve(cfg: RunConfig) -> RunConfig:
    """Fill defaults (problem, then study preset) and validate every field."""
    problem = get_problem(cfg.problem)
    merged = {**STUDY_PRESET, **problem.defaults}
    values = {}
    # Resolving twice (the sweep, then train) must keep the first pass's bounds.
    default_sizes = set(cfg.default_sizes or ())
    for f in dataclasses.fields(RunConfig):
        v = getattr(cfg, f.name)
        if v is None and f.name in merged:
            v = merged[f.name]
            if f.name in SIZE_FIELDS and v is not None:
                default_sizes.add(f.name)
        values[f.name] = v
    values["default_sizes"] = tuple(n for n in SIZE_FIELDS if n in default_sizes)
    for name in ("schedule_options", "model_options"):  # a TOML file can hold anything here
        if values[name] is not None and not isinstance(values[name], dict):
            raise ValueError(f"{name} must be a table of options (a dict), got {values[name]!r}")
    sig = values["signals"]
    if sig is not None and (not isinstance(sig, (list, tuple)) or not all(isinstance(s, str) for s in sig)):  # fmt: skip
        raise ValueError(f"signals must be a list of signal names, got {sig!r}")
    values["schedule_options"] = dict(values["schedule_options"] or {})
    values["signals"] = tuple(values["signals"] or ())
    values["model_options"] = dict(values["model_options"] or {})
    out = RunConfig(**values)
    validate(out)
    return out


def validate(cfg: RunConfig) -> None:
    """Raise ValueError naming the first bad value and what is allowed."""
    from uncertainty_lr.schedulers.registry import (
        SCHEDULES,
        UNCERTAINTY_SIGNALS,
        check_optimizer,
        check_schedule,
    )

    if cfg.schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {cfg.schedule!r}; known: {', '.join(SCHEDULES)}")
    if isinstance(cfg.seed, bool) or not isinstance(cfg.seed, int) or cfg.seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {cfg.seed!r}")
    for name in ("epochs", "batch_size", "mc_samples", "vocab_size", "eval_batch_size"):
        _positive_int(name, getattr(cfg, name))
    for name in ("train_size", "val_size", "test_size", "max_length"):
        _optional_positive_int(name, getattr(cfg, name))
    _positive_float("lr", cfg.lr)
    wd = cfg.weight_decay
    if isinstance(wd, bool) or not isinstance(wd, (int, float)) or not math.isfinite(wd) or wd < 0:
        raise ValueError(f"weight_decay must be a non-negative number, got {wd!r}")
    dp = cfg.dropout
    if isinstance(dp, bool) or not isinstance(dp, (int, float)) or not 0.0 <= dp < 1.0:
        raise ValueError(f"dropout must be a number in [0, 1), got {dp!r}")
    vf = cfg.val_fraction
    if isinstance(vf, bool) or not isinstance(vf, (int, float)) or not 0.0 < vf < 1.0:
        raise ValueError(f"val_fraction must be a number in (0, 1), got {vf!r}")
    if cfg.optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}; got {cfg.optimizer!r}")
    check_optimizer(cfg.schedule, cfg.optimizer)
    if cfg.lr_source not in LR_SOURCES:
        raise ValueError(f"lr_source must be one of {', '.join(LR_SOURCES)}; got {cfg.lr_source!r}")
    if cfg.device not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}; got {cfg.device!r}")
    if (
        isinstance(cfg.early_stopping, bool)
        or not isinstance(cfg.early_stopping, int)
        or cfg.early_stopping < 0
    ):
        raise ValueError(
            f"early_stopping must be a non-negative integer (patience; 0 = off), got {cfg.early_stopping!r}"
        )
    for f in dataclasses.fields(RunConfig):  # flags and TOML values of the wrong type
        value = getattr(cfg, f.name)
        if f.type == "bool" and not isinstance(value, bool):
            raise ValueError(f"{f.name} must be true or false, got {value!r}")
        if f.type == "str | None" and not isinstance(value, (str, os.PathLike, type(None))):
            raise ValueError(f"{f.name} must be a string, got {value!r}")
    known = tuple(s for s in UNCERTAINTY_SIGNALS if not s.startswith("train_"))
    for s in cfg.signals:
        if s not in known:
            raise ValueError(f"unknown signal {s!r}; known: {', '.join(known)}")
    if not isinstance(cfg.schedule_options, dict):
        raise ValueError(
            f"schedule_options must be a table of options, got {cfg.schedule_options!r}"
        )
    options = check_schedule(cfg.schedule, cfg.schedule_options)  # names, types, ranges; no torch
    schedule_signals = (options["signal"],) if cfg.schedule == "uncertainty" else ()
    _check_dropout_signals(cfg, (*cfg.signals, *schedule_signals))


def _check_dropout_signals(cfg: RunConfig, signals: tuple[str, ...]) -> None:
    """Refuse MC-dropout signals (mc_*, ll_*) that dropout = 0 would make exactly 0.

    Through Dropout(p=0) every MC sample is the same, so mutual information and variance
    are 0 and an uncertainty schedule reading them only ever lowers the LR. ll_* samples
    the head alone (p = dropout); mc_* is allowed when the model has dropout elsewhere.
    """
    if cfg.dropout > 0:
        return
    from uncertainty_lr.models import has_feature_dropout

    model = get_problem(cfg.problem).model
    for signal in signals:
        if signal.startswith("ll_") or (
            signal.startswith("mc_") and not has_feature_dropout(model, cfg.model_options)
        ):
            why = (
                "last-layer MC dropout samples only the head's dropout"
                if signal.startswith("ll_")
                else f"model {model!r} has no other dropout"
            )
            raise ValueError(
                f"signal {signal!r} needs dropout > 0: {why}, so with dropout {cfg.dropout!r} "
                "every MC sample is the same (mutual information and variance exactly 0)"
            )


def schedule_label(cfg: RunConfig | dict) -> str:
    """The name a run's schedule gets in the store and the report: name plus its options.

    Takes a RunConfig or its dict form (``RunResult.config``).
    """
    schedule, options = (
        (cfg["schedule"], cfg.get("schedule_options")) if isinstance(cfg, dict)
        else (cfg.schedule, cfg.schedule_options)
    )  # fmt: skip
    if not options:
        return schedule
    opts = ",".join(f"{k}={v}" for k, v in sorted(options.items()))
    return f"{schedule}:{opts}"


def run_key(cfg: RunConfig) -> dict[str, Any]:
    """The part of a resolved config that identifies a run (hashed into its id)."""
    d = cfg.to_dict()
    for k in NOT_IN_RUN_ID:
        d.pop(k)
    if d["lr_source"] == "given":  # runs stored before tuning existed keep their ids
        d.pop("lr_source")
    return d


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML config file; unknown keys are an error listing the allowed ones.

    Top-level keys are RunConfig fields plus the sweep keys ``problems``, ``schedules``,
    ``seeds`` (lists), ``out``; a ``[schedule_options]`` table is passed to the schedule.
    Tuning keys: ``lrs`` (list of numbers), ``tune_seeds`` (list), ``select``
    ("final" / "best") for ``tune``, and ``tuned`` (true: ``run`` uses the tuned LRs).
    ``lr_source`` is set by those commands, never by a file.
    """
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"config file not found: {p}")
    try:
        data = tomllib.loads(p.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"config file {p} is not valid TOML: {e}") from None
    allowed = FIELDS - {"problem", "schedule", "seed", "default_sizes", "lr_source"}
    allowed |= {"problems", "schedules", "seeds", "out", "lrs", "tune_seeds", "select", "tuned"}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ValueError(
            f"unknown key(s) in {p}: {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}"
        )
    for key, kind, what in (("problems", str, "names"), ("schedules", str, "names"),
                            ("seeds", int, "integers"), ("tune_seeds", int, "integers")):  # fmt: skip
        value = data.get(key)
        if value is not None and (
            not isinstance(value, list)
            or not value
            or not all(isinstance(v, kind) and not isinstance(v, bool) for v in value)
        ):
            raise ValueError(f"{key} in {p} must be a non-empty list of {what}, got {value!r}")
    kinds = {"schedule_options": (dict, "table of options"), "model_options": (dict, "table of options"),
             "signals": (list, "list of signal names"), "out": (str, "folder path (a string)")}  # fmt: skip
    tuning = {"lrs": (list, "list of numbers"), "select": (str, "string: final or best"),
              "tuned": (bool, "boolean (true or false)")}  # fmt: skip
    for key, (kind, what) in {**kinds, **tuning}.items():
        if key in data and not isinstance(data[key], kind):
            raise ValueError(f"{key} in {p} must be a {what}, got {data[key]!r}")
    return data

"""Run configuration: one dataclass, filled from problem defaults, a TOML file and flags.

``RunConfig`` fields left as None take the problem's default, then the study preset's.
``resolve`` returns a copy with every value set and checked, which is what a run stores
and what its id hashes, so rerunning the same command finds the same runs.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomllib

from uncertainty_lr.checks import (
    check_bool,
    check_choice,
    check_int,
    check_list,
    check_number,
    check_type,
)
from uncertainty_lr.experiments.records import hash_run_id
from uncertainty_lr.problems import STUDY_PRESET, get_problem, has_feature_dropout
from uncertainty_lr.signals.catalog import SIGNALS, evaluated_signals

OPTIMIZERS = ("adam", "adamw", "sgd")
DEVICES = ("auto", "cpu", "cuda", "mps")
# Where a run's lr came from, which decides its ruleset in the report: "given" = the
# configured lr (self-tuning ruleset), "tuning" = a point of an LR tuning grid,
# "tuned" = the lr its arm's tuning chose (external-tuning ruleset).
LR_SOURCES = ("given", "tuning", "tuned")


def setting(default: Any = None, *, factory=None, data: bool = False, loader: bool = False,
            flag: str | None = None, toml: bool = True, **cli: Any):  # fmt: skip
    """A RunConfig field and where it is used, stated once.

    ``data``: it decides the run's DataBundle (in `data_key`). ``loader``: it goes to
    `load_data` under its own name (`data_arguments`). ``flag``: the `run` / `tune` flag
    group it appears in ("training" or "data"), with argparse keywords ``cli`` (help,
    choices, metavar); the flag's type follows the field's. ``toml``: allowed as a
    top-level key of a config file.
    """
    meta = {"data": data, "loader": loader, "flag": flag, "toml": toml, "cli": cli}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class RunConfig:
    """Everything one training run needs. None = the problem's (then the study plan's) default.

    Units: lr in optimizer units; epochs, sizes and patience are counts; val_fraction in (0, 1).
    ``lr_source`` (default "given") is one of ``LR_SOURCES``; the tuning commands set it.
    Each field's metadata (`setting`) says whether it is a flag, a TOML key, part of the
    data key and a loader argument.
    """

    problem: str = setting("digits_mlp", data=True, toml=False)
    schedule: str = setting("constant", toml=False)
    schedule_options: dict = setting(factory=dict)
    seed: int = setting(0, data=True, loader=True, toml=False)
    epochs: int | None = setting(flag="training", help="epochs per run")
    batch_size: int | None = setting(flag="training", help="training rows per batch")
    lr: float | None = setting(flag="training", help="base learning rate")
    optimizer: str | None = setting(flag="training", choices=OPTIMIZERS)
    weight_decay: float | None = setting(flag="training", help="the optimizer's weight decay")
    dropout: float | None = setting(flag="training", help="dropout probability of the model's head")
    train_size: int | None = setting(data=True, flag="training",
        help="training rows, a stratified seeded subset (default: the problem's bound, see `list`)")  # fmt: skip
    val_size: int | None = setting(data=True, flag="training",
        help="validation rows (default: the whole validation split)")  # fmt: skip
    test_size: int | None = setting(data=True, flag="training",
        help="test rows (default: the problem's bound, see `list`)")  # fmt: skip
    val_fraction: float = setting(0.1, data=True, loader=True, flag="training",
        help="share of train carved off as validation when the dataset has no validation split")  # fmt: skip
    max_length: int | None = setting(data=True, flag="training",
                                     help="text: tokens per row, longer cut (default 256)")  # fmt: skip
    vocab_size: int = setting(8000, data=True, loader=True, flag="training",
                              help="text: size of the BPE vocabulary trained on train")  # fmt: skip
    pretrained: str | None = setting(data=True, flag="data",
        help="BERT: hub id or folder of the weights and tokenizer (default: imdb_bert's, bert-base-uncased)")  # fmt: skip
    model_options: dict | None = setting()
    data_dir: str | None = setting(data=True, flag="data",
        help="folder of datasets in the hub layout (default: none, load from the Hugging Face hub)")  # fmt: skip
    source: str | None = setting(data=True, flag="data",
        help="hub id or folder of another classification dataset (default: the problem's dataset)")  # fmt: skip
    image_column: str | None = setting(data=True, loader=True, flag="data",
                                       help="default: the Image feature")  # fmt: skip
    text_column: str | None = setting(data=True, loader=True, flag="data",
                                      help="default: the string column")  # fmt: skip
    label_column: str | None = setting(data=True, loader=True, flag="data",
                                       help="default: the ClassLabel column")  # fmt: skip
    train_split: str | None = setting(data=True, loader=True, flag="data", help="default: train")
    val_split: str | None = setting(data=True, loader=True, flag="data",
        help="default: the first of validation, valid, val, dev; none: carved from train")  # fmt: skip
    test_split: str | None = setting(data=True, loader=True, flag="data",
        help="default: test; none: a fixed 20 %% of train (seed 0)")  # fmt: skip
    signals: tuple[str, ...] = setting((), flag="training",
                                       help="extra validation signals to record (mc_*, ll_*)")  # fmt: skip
    mc_samples: int = setting(10, flag="training", help="passes of the mc_*, ll_* signals")
    early_stopping: int = setting(0, flag="training", metavar="N",
        help="stop a run after N epochs without a lower val_loss, then test the weights of its "
        "lowest-val_loss epoch (like Keras EarlyStopping with restore_best_weights=True); "
        "0 = off (default; --preset study: 5)")  # fmt: skip
    test_every_epoch: bool = setting(False, flag="training", help="test after every epoch too")
    device: str = setting("auto", flag="training", help="auto, cpu, cuda or mps (default auto)")
    bf16: bool = setting(False, flag="training", help="bfloat16 autocast, CUDA only")
    channels_last: bool = setting(False, flag="training", help="channels-last images, CUDA only")
    eval_batch_size: int = setting(1024, flag="training", help="rows per evaluation pass")
    # Which of train_size / val_size / test_size ``resolve`` took from the problem's
    # defaults: those are upper bounds ("at most 5,000"), cut to the rows a split has;
    # a size set explicitly must fit or the run is refused. Set by ``resolve`` only.
    default_sizes: tuple[str, ...] = setting((), data=True, toml=False)
    lr_source: str = setting("given", toml=False)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["signals"] = list(self.signals)
        d["default_sizes"] = list(self.default_sizes)
        return d


FIELDS = {f.name for f in dataclasses.fields(RunConfig)}
#: Fields in declaration order that decide a run's DataBundle (problem and seed first).
DATA_FIELDS = tuple(f.name for f in dataclasses.fields(RunConfig) if f.metadata["data"])
#: Top-level RunConfig keys a TOML config file may set.
TOML_FIELDS = frozenset(f.name for f in dataclasses.fields(RunConfig) if f.metadata["toml"])
# Settings that describe where the data comes from or how the run is executed, not what
# is trained: they do not enter the run id, so moving the data folder resumes the same runs.
NOT_IN_RUN_ID = ("data_dir", "device", "eval_batch_size", "default_sizes")
SIZE_FIELDS = ("train_size", "val_size", "test_size")


def resolve(cfg: RunConfig) -> RunConfig:
    """Fill defaults (problem, then study preset) and validate every field."""
    problem = get_problem(cfg.problem)
    merged = {**STUDY_PRESET, **problem.defaults}
    values = {}
    # Resolving twice (the sweep, then train) must keep the first pass's bounds. A size
    # listed there but left None has no bound: the whole split (--preset study, "all data").
    default_sizes = set(cfg.default_sizes or ())
    for f in dataclasses.fields(RunConfig):
        v = getattr(cfg, f.name)
        if v is None and f.name in SIZE_FIELDS and f.name in default_sizes:
            values[f.name] = None
            continue
        if v is None and f.name in merged:
            v = merged[f.name]
            if f.name in SIZE_FIELDS and v is not None:
                default_sizes.add(f.name)
        values[f.name] = v
    values["default_sizes"] = tuple(n for n in SIZE_FIELDS if n in default_sizes)
    for name in ("schedule_options", "model_options"):  # a TOML file can hold anything here
        check_type(name, values[name], (dict, type(None)), "a table of options (a dict)",
                   show_value=True)  # fmt: skip
    check_list("signals", values["signals"], str, "a list of signal names", optional=True)
    values["schedule_options"] = dict(values["schedule_options"] or {})
    values["signals"] = tuple(values["signals"] or ())
    values["model_options"] = dict(values["model_options"] or {})
    out = RunConfig(**values)
    validate(out)
    return out


def validate(cfg: RunConfig) -> None:
    """Raise ValueError naming the first bad value and what is allowed."""
    from uncertainty_lr.schedulers.registry import SCHEDULES, check_optimizer, check_schedule

    if cfg.schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {cfg.schedule!r}; known: {', '.join(SCHEDULES)}")
    check_int("seed", cfg.seed, 0)
    for name in ("epochs", "batch_size", "mc_samples", "vocab_size", "eval_batch_size"):
        check_int(name, getattr(cfg, name))
    for name in ("train_size", "val_size", "test_size", "max_length"):
        check_int(name, getattr(cfg, name), optional=True)
    check_number("lr", cfg.lr)
    check_number("weight_decay", cfg.weight_decay, closed="[)")
    check_number("dropout", cfg.dropout, 0.0, 1.0, "[)")
    check_number("val_fraction", cfg.val_fraction, 0.0, 1.0)
    check_choice("optimizer", cfg.optimizer, OPTIMIZERS)
    check_optimizer(cfg.schedule, cfg.optimizer)
    check_choice("lr_source", cfg.lr_source, LR_SOURCES)
    check_choice("device", cfg.device, DEVICES)
    check_int("early_stopping", cfg.early_stopping, 0, why=" (patience; 0 = off)")
    for f in dataclasses.fields(RunConfig):  # flags and TOML values of the wrong type
        value = getattr(cfg, f.name)
        if f.type == "bool":
            check_bool(f.name, value)
        if f.type == "str | None":
            check_type(f.name, value, (str, os.PathLike, type(None)), "a string", show_value=True)
    known = evaluated_signals()
    for s in cfg.signals:
        if s not in known:
            raise ValueError(f"unknown signal {s!r}; known: {', '.join(known)}")
    check_type("schedule_options", cfg.schedule_options, dict, "a table of options",
               show_value=True)  # fmt: skip
    options = check_schedule(cfg.schedule, cfg.schedule_options)  # names, types, ranges; no torch
    schedule_signals = (options["signal"],) if "signal" in options else ()  # the arm reads it
    _check_dropout_signals(cfg, (*cfg.signals, *schedule_signals))


def _check_dropout_signals(cfg: RunConfig, signals: tuple[str, ...]) -> None:
    """Refuse MC-dropout signals that dropout = 0 would make exactly 0.

    Through Dropout(p=0) every MC sample is the same, so mutual information and variance
    are 0 and an uncertainty schedule reading them only ever lowers the LR. A signal whose
    family samples the head (``needs_dropout == "head"``: last-layer MC dropout) needs
    p = dropout > 0; one that samples the whole model ("model") is allowed when the model
    has dropout elsewhere.
    """
    if cfg.dropout > 0:
        return
    model = get_problem(cfg.problem).model
    for signal in signals:
        where = SIGNALS[signal].needs_dropout
        if where == "head" or (
            where == "model" and not has_feature_dropout(model, cfg.model_options)
        ):
            why = (
                "last-layer MC dropout samples only the head's dropout"
                if where == "head"
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


def resolved_schedule_options(cfg: RunConfig) -> dict[str, Any]:
    """The schedule's options as the run uses them: every default filled in (the registry's
    ``check_schedule``), so ``step`` and ``step:gamma=0.1`` name the same options."""
    from uncertainty_lr.schedulers.registry import check_schedule

    return check_schedule(cfg.schedule, cfg.schedule_options)


def run_key(cfg: RunConfig) -> dict[str, Any]:
    """What identifies a run (hashed into its id): every training setting of the resolved
    config, and the schedule's options with their defaults filled in.

    A default that changes (a schedule option's, the default uncertainty arm's, a problem's
    epochs or sizes) changes the key, so a store made under the old default does not take
    the run as finished. The options as typed and the label are left out: ``step`` and
    ``step:gamma=0.1`` (the default) are one run. Stores made before this rule keep their
    rows and ids; the report reads them, and a rerun trains each run again under its new id.
    """
    d = cfg.to_dict()
    for k in NOT_IN_RUN_ID:
        d.pop(k)
    d["schedule_options"] = resolved_schedule_options(cfg)
    return d


def run_id(cfg: RunConfig) -> str:
    """A resolved config's run id: `hash_run_id` of problem, schedule name, seed, `run_key`."""
    return hash_run_id(cfg.problem, cfg.schedule, cfg.seed, run_key(cfg))


def data_key(cfg: RunConfig) -> tuple:
    """The values of ``DATA_FIELDS`` (problem, seed, then the rest): runs that share
    them share one DataBundle, so a sweep loads it once."""
    return tuple(getattr(cfg, name) for name in DATA_FIELDS)


def data_arguments(cfg: RunConfig) -> dict[str, Any]:
    """Keyword arguments of `uncertainty_lr.data.load_data` (`DataSettings` fields) for a
    resolved config: the ``loader`` fields by name, the sizes, max_length and a tokenizer."""
    args = {
        f.name: getattr(cfg, f.name) for f in dataclasses.fields(RunConfig) if f.metadata["loader"]
    }
    # A size the problem's defaults supplied is "at most": a smaller split is used whole.
    for name in SIZE_FIELDS:
        args[("max_" + name) if name in cfg.default_sizes else name] = getattr(cfg, name)
    args["max_length"] = cfg.max_length or 256
    bert = get_problem(cfg.problem).model == "bert"
    args["tokenizer"] = cfg.pretrained if bert and cfg.pretrained else None
    return args


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
    allowed = set(TOML_FIELDS) | {
        "problems",
        "schedules",
        "seeds",
        "out",
        "lrs",
        "tune_seeds",
        "select",
        "tuned",
    }
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ValueError(
            f"unknown key(s) in {p}: {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}"
        )
    for key, kind, what in (("problems", str, "names"), ("schedules", str, "names"),
                            ("seeds", int, "integers"), ("tune_seeds", int, "integers")):  # fmt: skip
        check_list(f"{key} in {p}", data.get(key), kind, f"a non-empty list of {what}",
                   empty=False, optional=True)  # fmt: skip
    kinds = {"schedule_options": (dict, "table of options"), "model_options": (dict, "table of options"),
             "signals": (list, "list of signal names"), "out": (str, "folder path (a string)")}  # fmt: skip
    tuning = {"lrs": (list, "list of numbers"), "select": (str, "string: final or best"),
              "tuned": (bool, "boolean (true or false)")}  # fmt: skip
    for key, (kind, what) in {**kinds, **tuning}.items():
        if key in data:
            check_type(f"{key} in {p}", data[key], kind, f"a {what}", show_value=True)
    return data

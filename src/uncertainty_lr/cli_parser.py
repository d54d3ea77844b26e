"""The argument parser of the ``uncertainty-lr`` command (cli.py runs what it parses).

The `run` and `tune` flags are generated from RunConfig's fields (each field's metadata
says its flag group and help); every help line ends with the default, read from the
problem registry where a problem sets it, so the help cannot drift from the code.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections import Counter

from uncertainty_lr import __version__
from uncertainty_lr.experiments.config import RunConfig

DEMO_OUT = "uncertainty-lr-demo"


class UsageError(ValueError):
    """Bad command-line input (exit code 2)."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, like every other bad input
        raise UsageError(message)


def _run_flags(p: argparse.ArgumentParser, seeds_help: str) -> None:
    g = p.add_argument_group("grid")
    g.add_argument("--problem", "--problems", dest="problems", nargs="+",
                   help=f"problem name(s), see `list` (default: {RunConfig.problem})")  # fmt: skip
    g.add_argument("--schedule", "--schedules", dest="schedules", nargs="+",
                   help="schedule name(s); NAME:KEY=VALUE,... sets options for that entry "
                   "(default: uncertainty)")  # fmt: skip
    g.add_argument("--seeds", nargs="+", type=int, help=seeds_help)
    g.add_argument("--config", help="TOML file with any of these settings (flags override it; "
                   "default: none)")  # fmt: skip
    g.add_argument("--out", help="output folder holding results.sqlite (default: runs)")
    g.add_argument(
        "--preset",
        choices=["study"],
        help="study: the study plan's full settings (50 epochs, all data, early stopping 5; "
        "default: none)",
    )
    g.add_argument(
        "--opt",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="schedule option for every schedule (default: none)",
    )
    groups = {"training": p.add_argument_group("training"), "data": p.add_argument_group("data")}
    for f in dataclasses.fields(RunConfig):  # every setting a flag names, in field order
        if f.metadata["flag"] is not None:
            groups[f.metadata["flag"]].add_argument(
                "--" + f.name.replace("_", "-"),
                dest=f.name,
                **_flag_kind(f.type),
                **{**f.metadata["cli"], "help": _help_with_default(f)},
            )
    groups["training"].add_argument("--threads", type=int,
                                    help="torch CPU threads (default: torch's, the cores)")  # fmt: skip
    lg = p.add_argument_group("logging")
    lg.add_argument("--tensorboard", metavar="DIR",
                    help="also write per-epoch metrics as TensorBoard events (default: off)")  # fmt: skip
    lg.add_argument("--mlflow", metavar="URI",
                    help="also log to MLflow, e.g. sqlite:///mlflow.db (default: off)")  # fmt: skip
    x = p.add_argument_group("execution", "see docs/scale-out.md (DDP: torchrun ... -m uncertainty_lr run)")  # fmt: skip
    x.add_argument("--workers", type=int, help="runs in parallel: local processes (default 1) "
                   "or most Ray tasks in flight (default: all the cluster takes)")  # fmt: skip
    x.add_argument("--threads-per-worker", type=int, dest="threads_per_worker",
                   help="torch threads (and Ray CPUs) per run (default cores // workers)")  # fmt: skip
    x.add_argument("--executor", choices=["local", "ray"], default="local",
                   help="where runs train (default: local)")  # fmt: skip
    x.add_argument("--address", help="Ray cluster: auto or HOST:PORT (default: a local Ray)")
    _output_flags(p)


def _output_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-report", action="store_true", help="do not write the report at the end")
    p.add_argument("--quiet", action="store_true",
                   help="no progress bar (nor the per-run lines shown when stderr is not a terminal)")  # fmt: skip


def _help_with_default(f: dataclasses.Field) -> str:
    """A RunConfig flag's help, ending with its default unless the help states it already.

    A field left None takes the problem's value, then the study preset's (config.resolve);
    those are read from the problem registry, so the help cannot drift from it.
    """
    from uncertainty_lr.problems import PROBLEMS, STUDY_PRESET

    text = f.metadata["cli"].get("help", "")
    if "default" in text:
        return text
    if f.type == "bool":
        default = "off"
    elif f.default == ():
        default = "none"
    elif f.default is not None:
        default = _shown(f.default)
    else:
        values = {n: p.defaults.get(f.name, STUDY_PRESET.get(f.name)) for n, p in PROBLEMS.items()}
        common = Counter(values.values()).most_common(1)[0][0]
        others = [f"{n} {_shown(v)}" for n, v in values.items() if v != common]
        default = _shown(common) + (f"; {', '.join(others)}" if others else "")
        default = ("the problem's: " if others else "") + default
    return f"{text} (default: {default})" if text else f"default: {default}"


def _shown(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _flag_kind(annotation: str) -> dict:
    """argparse keywords of a RunConfig field's type: bool -> a switch, tuple -> a list."""
    if annotation == "bool":
        return {"action": "store_true", "default": None}
    if annotation.startswith("tuple"):
        return {"nargs": "+"}
    base = annotation.removesuffix(" | None")
    return {"type": {"int": int, "float": float, "str": str}[base]}


def build_parser() -> Parser:
    from uncertainty_lr.experiments.tuning import DEFAULT_TUNING_SEEDS

    p = Parser(
        prog="uncertainty-lr",
        description="Uncertainty-driven LR schedules, tested against baselines.",
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)
    run = sub.add_parser("run", help="train a grid of problems x schedules x seeds")
    _run_flags(run, seeds_help="seed list (default: 0)")
    run.add_argument("--tuned", action="store_true", default=None,
                     help="each arm at the LR `tune` chose and stored in --out (external tuning; "
                     "default: off, every arm at --lr)")  # fmt: skip
    tune = sub.add_parser(
        "tune", help="choose each arm's LR on validation: a grid of LRs x tuning seeds"
    )
    _run_flags(tune, seeds_help=f"tuning seeds, disjoint from the comparison seeds (default: "
                                f"{' '.join(map(str, DEFAULT_TUNING_SEEDS))})")  # fmt: skip
    tune.add_argument("--lrs", nargs="+", type=float,
                      help="LR grid (default: the problem's lr x 0.3, 1, 3, 10)")  # fmt: skip
    tune.add_argument("--select", choices=["final", "best"],
                      help="score of a tuning run: final (default) or best validation accuracy")  # fmt: skip
    tune.add_argument("--extend", action="store_true", help="while an arm's pick is the grid's "
                      "smallest or largest LR, add the LR x3 beyond it (at most 5 times)")  # fmt: skip
    demo = sub.add_parser(
        "demo", help="digits, every schedule, 3 seeds (about 3 minutes of CPU time)"
    )
    demo.add_argument("--out", default=DEMO_OUT,
                      help=f"output folder holding results.sqlite (default: {DEMO_OUT})")  # fmt: skip
    _output_flags(demo)
    rep = sub.add_parser(
        "report", help="plots, tables and the written analysis of a results folder"
    )
    rep.add_argument("dir", help="results folder (holding results.sqlite)")
    rep.add_argument(
        "--target", type=float, help="target validation accuracy (default: AlgoPerf-style)"
    )
    rep.add_argument(
        "--uncertainty",
        default="uncertainty",
        help="schedule label under test: 'uncertainty' = every uncertainty variant, "
        "or one label such as 'uncertainty:mode=proportional' (default: uncertainty)",
    )
    rep.add_argument(
        "--schedules", nargs="+", help="report only these schedule labels (default: all)"
    )
    rep.add_argument("--margin", type=float, help="non-inferiority margin in test accuracy: "
                     "'as good as' = one-sided 95%% lower bound above -margin (default 0.005)")  # fmt: skip
    rep.add_argument(
        "--budgets", nargs="+", type=int, metavar="EPOCHS",
        help="anytime report: per budget (epochs) the verdict, final-metrics and A/B tables, "
        "profile and AlgoPerf score; budget-free arms are cut from their longest run "
        "(default: none, one report of the runs as trained)",
    )  # fmt: skip
    rep.add_argument("--also", nargs="+", metavar="DIR",
                     help="more results folders whose comparison runs join DIR's (not their "
                     "tuning runs), e.g. budget-aware arms tuned at another budget "
                     "(default: none)")  # fmt: skip
    rep.add_argument("--out", help="folder for the report (default: DIR/report)")
    exp = sub.add_parser(
        "export", help="write runs.csv and epochs.csv (and parquet) of a results folder"
    )
    exp.add_argument("dir", help="results folder (holding results.sqlite)")
    exp.add_argument("--out", help="folder for the tables (default: DIR itself)")
    sub.add_parser("list", help="problems, schedules and signals, one line each")
    return p

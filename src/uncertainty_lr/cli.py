"""The ``uncertainty-lr`` command: run, tune, demo, report, export, list.

Bad input (a read-only output included) is one line on stderr naming the value and what
is allowed, exit code 2, and nothing written; other failures end as exits.py says.
"""

from __future__ import annotations

import gc
import shlex
import sys
from pathlib import Path

from uncertainty_lr import exits
from uncertainty_lr.cli_parser import UsageError, build_parser
from uncertainty_lr.experiments.config import FIELDS, SIZE_FIELDS, RunConfig, load_toml

#: The demo's arms: the baselines, the budget-free default and the default told the budget.
DEMO_SCHEDULES = ("constant", "step", "cosine", "plateau", "onecycle", "warmup_cosine", "greedy",
                  "schedule_free", "uncertainty", "uncertainty:budget=known")  # fmt: skip


def _grid_from_args(args) -> tuple[list[str], list[str], list[int], RunConfig, Path]:
    from uncertainty_lr.experiments.grid import parse_value
    from uncertainty_lr.problems import STUDY_PRESET

    file = load_toml(args.config) if args.config else {}
    values: dict = {}
    if args.preset == "study":
        values.update({k: v for k, v in STUDY_PRESET.items() if k in FIELDS})
    values.update({k: v for k, v in file.items() if k in FIELDS})
    for name in FIELDS:
        v = getattr(args, name, None)
        if v is not None:
            values[name] = tuple(v) if name == "signals" else v
    options = dict(values.get("schedule_options") or {})
    for item in args.opt:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise UsageError(f"--opt {item!r} must look like KEY=VALUE")
        options[key] = parse_value(value)
    values["schedule_options"] = options
    if "signals" in values:
        values["signals"] = tuple(values["signals"])
    if args.preset == "study":  # all data: sizes not set explicitly take whole splits
        values["default_sizes"] = tuple(n for n in SIZE_FIELDS if values.get(n) is None)
    base = RunConfig(**values)
    problems = args.problems or file.get("problems") or [base.problem]
    schedules = args.schedules or file.get("schedules") or ["uncertainty"]
    seeds = args.seeds if args.seeds is not None else file.get("seeds", [0])
    out = Path(args.out or file.get("out") or "runs")
    return list(problems), list(schedules), list(seeds), base, out


def _set_threads(args) -> None:
    if args.threads is not None:
        if args.threads < 1:
            raise UsageError(f"--threads must be a positive integer, got {args.threads}")
        import torch

        torch.set_num_threads(args.threads)


def _store_seeds(out: Path) -> dict[str, set[int]]:
    """lr_source -> seeds of the runs already in ``out``'s store (empty without a store)."""
    from uncertainty_lr.experiments.store import StoreReader, check_store_writable, store_exists
    from uncertainty_lr.experiments.tuning import seeds_by_source

    check_store_writable(out)  # run and tune write there: refused before anything is read
    if not store_exists(out):
        return {}
    with StoreReader(out) as store:
        return seeds_by_source(store)


def _comparison_configs(args, problems, schedules, seeds, base, out):
    """The run grid; with --tuned (or `tuned = true`) each arm at its stored tuned LR."""
    from uncertainty_lr.experiments.grid import expand_grid
    from uncertainty_lr.experiments.store_reader import StoreReader, store_exists
    from uncertainty_lr.experiments.tuning import apply_tuned, check_disjoint, load_choices

    check_disjoint(_store_seeds(out).get("tuning", ()), seeds)
    configs = expand_grid(problems, schedules, seeds, base)
    file = load_toml(args.config) if args.config else {}
    if not (args.tuned or file.get("tuned")):
        return configs
    if not store_exists(out):
        raise ValueError(f"no results store in {out}; run `uncertainty-lr tune --out {out}` first")
    with StoreReader(out) as store:
        return apply_tuned(configs, load_choices(store))


def _sweep(configs, out: Path, args):
    """run_sweep with the command's execution and logging flags -> (results, rank)."""
    from uncertainty_lr import distributed
    from uncertainty_lr.experiments.sweep import run_sweep

    hooks = []
    if args.tensorboard or args.mlflow:
        from uncertainty_lr.integrations.tracking import make_loggers

        hooks = make_loggers(tensorboard=args.tensorboard, mlflow=args.mlflow)
    try:
        results = run_sweep(configs, out, progress=not args.quiet, hooks=hooks,
                            workers=args.workers, threads_per_worker=args.threads_per_worker,
                            executor=args.executor, address=args.address)  # fmt: skip
    finally:
        for hook in hooks:
            hook.close()
        rank = distributed.rank()
        distributed.teardown()
    return results, rank


def cmd_run(args, argv) -> int:
    _set_threads(args)
    problems, schedules, seeds, base, out = _grid_from_args(args)
    configs = _comparison_configs(args, problems, schedules, seeds, base, out)
    results, rank = _sweep(configs, out, args)
    if rank != 0:
        return 0  # under torchrun: rank 0 prints the summary and writes the report
    _finish(out, results, args.no_report, command="uncertainty-lr " + shlex.join(argv))
    return exits.failed_runs(configs, results)


def cmd_tune(args, argv) -> int:
    """Train the LR grid on the tuning seeds, pick each arm's LR, store and print the choices."""
    from uncertainty_lr import distributed
    from uncertainty_lr.experiments.store import StoreReader
    from uncertainty_lr.experiments.tuning import (
        DEFAULT_TUNING_SEEDS,
        check_disjoint,
        check_select,
        choice_lines,
        estimate_text,
        finish_tuning,
        tuning_grid,
    )

    _set_threads(args)
    if args.extend and distributed.env_world_size() > 1:
        raise UsageError("--extend is not offered under torchrun; extend the grid with --lrs")
    file = load_toml(args.config) if args.config else {}
    if args.seeds is None:  # --seeds of `tune` are tuning seeds; a shared TOML keeps both
        args.seeds = list(file.get("tune_seeds", DEFAULT_TUNING_SEEDS))
    problems, schedules, seeds, base, out = _grid_from_args(args)
    select = check_select(args.select or file.get("select", "final"))
    stored = _store_seeds(out)
    check_disjoint(seeds, set(file.get("seeds", ())) | stored.get("given", set()) | stored.get("tuned", set()))  # fmt: skip
    configs = tuning_grid(problems, schedules, seeds, base, args.lrs or file.get("lrs"))
    runs = []
    if stored:
        with StoreReader(out) as store:
            runs = store.runs()
    print(f"tuning: {estimate_text(configs, runs)}", flush=True)
    _, rank = _sweep(configs, out, args)
    if rank != 0:
        return 0  # under torchrun: rank 0 picks, stores and prints the choices
    choices = finish_tuning(out, select, configs, lambda more: _sweep(more, out, args), args.extend)
    print("\n".join(choice_lines(choices)))
    print(f"\nresults: {out / 'results.sqlite'}")
    if not args.no_report:
        from uncertainty_lr.report import write_report

        print(f"report: {write_report(out, command='uncertainty-lr ' + shlex.join(argv))}")
    return 0


def cmd_demo(args, argv) -> int:
    from uncertainty_lr.experiments.grid import expand_grid
    from uncertainty_lr.experiments.sweep import run_sweep

    configs = expand_grid(["digits_mlp"], DEMO_SCHEDULES, [0, 1, 2], RunConfig())
    out = Path(args.out)
    results = run_sweep(configs, out, progress=not args.quiet)
    _finish(out, results, args.no_report, command="uncertainty-lr " + shlex.join(argv))
    return exits.failed_runs(configs, results)


def _finish(out: Path, results, no_report: bool, command: str) -> None:
    from uncertainty_lr.experiments.summary import summary_table

    print(summary_table(results))
    print(f"\nresults: {out / 'results.sqlite'}")
    if not no_report:
        try:
            from uncertainty_lr.report import write_report
        except ImportError:
            return
        with exits.runs_kept_if_report_fails(out):
            path = write_report(out, command=command)
        print(f"report: {path}")


def cmd_report(args, argv) -> int:
    from uncertainty_lr.report import write_report

    command = "uncertainty-lr " + shlex.join(argv)
    print(write_report(Path(args.dir), args.out, target=args.target,
                       uncertainty_schedule=args.uncertainty, command=command,
                       schedules=args.schedules, budgets=args.budgets,
                       margin=args.margin, also=args.also or ()))  # fmt: skip
    return 0


def cmd_export(args) -> int:
    from uncertainty_lr.experiments.export import export_tables

    for path in export_tables(args.dir, Path(args.out or args.dir)):
        print(path)
    return 0


def cmd_list() -> int:
    from uncertainty_lr.problems import PROBLEMS
    from uncertainty_lr.schedulers.registry import SCHEDULES
    from uncertainty_lr.signals.catalog import SIGNALS

    print("problems (default sizes are upper bounds, a smaller split is used whole; "
          "an explicit --train-size / --val-size / --test-size must fit):")  # fmt: skip
    for p in PROBLEMS.values():
        bounds = [f"{k.removesuffix('_size')} at most {v:,}" for k, v in p.defaults.items()
                  if k.endswith("_size") and k != "batch_size"]  # fmt: skip
        sizes = f"; {', '.join(bounds)}" if bounds else ""
        print(f"  {p.name:<20} {p.description}{sizes}")
    print("schedules:")
    for name, spec in SCHEDULES.items():
        print(f"  {name:<20} {spec.description}")
    print("signals (uncertainty schedule option signal=..., or --signals except train_*):")
    for name, spec in SIGNALS.items():
        print(f"  {name:<24} {spec.description}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
        if args.command == "run":
            return cmd_run(args, argv)
        if args.command == "tune":
            return cmd_tune(args, argv)
        if args.command == "demo":
            return cmd_demo(args, argv)
        if args.command == "report":
            return cmd_report(args, argv)
        if args.command == "export":
            return cmd_export(args)
        return cmd_list()
    except (ValueError, FileNotFoundError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        print(f"uncertainty-lr: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM under entry()
        return exits.interrupted(e)
    except Exception as e:  # a write the file system refused: one line, exit 1; else re-raised
        return exits.refused_write(e)


def entry() -> int:
    """The ``uncertainty-lr`` command: `main`, then a quick exit.

    `gc.freeze` before the interpreter shuts down spares its final collections a walk
    over the ~10^6 objects torch's import leaves (about half a second per command).
    Only the command does this; `main` called from Python leaves the collector alone.
    """
    with exits.sigterm_interrupts():  # a scheduler's preemption unwinds like Ctrl-C
        code = main()
    gc.freeze()
    return code


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(entry())

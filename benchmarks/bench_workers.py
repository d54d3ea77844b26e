"""Two workers with one thread each vs one worker with two threads, on a grid of small runs.

Each measurement is the real command, ``python -m uncertainty_lr run ... --workers W
--threads-per-worker T``, in a fresh output folder (so nothing is skipped), timed from
launch to exit: interpreter and worker start-up count, as they do for a user. The two
settings alternate (1x2, 2x1, then 2x1, 1x2, ...) so slow drift in machine load hits both
alike; the medians and their ratio are printed with the hardware, versions and sizes.

    python benchmarks/bench_workers.py            # digits_mlp x 4 schedules x 2 seeds, 30 epochs
    python benchmarks/bench_workers.py --smoke    # a tiny grid, 1 repeat (CI: it runs, not how fast)
    # runs sharing one GPU: 1, 2 and 4 workers with 4 threads each
    python benchmarks/bench_workers.py --problem cifar10_resnet18 --data-dir ../shared/datasets \
        --device cuda --epochs 3 --seeds 0 1 --settings 1x4 2x4 4x4 --repeats 1 \
        --run-args="--bf16 --channels-last"

ratio = median(first setting) / median(each other setting); > 1 means the other one wins
(by default: 1 worker x 2 threads against 2 workers x 1 thread).
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCHEDULES = ("constant", "cosine", "plateau", "uncertainty")
SETTINGS = ((1, 2), (2, 1))  # (workers, threads per worker)


def command(out: Path, workers: int, threads: int, schedules, seeds, epochs: int,
            run: argparse.Namespace) -> list[str]:  # fmt: skip
    extra = ["--data-dir", run.data_dir] if run.data_dir else []
    if run.train_size:
        extra += ["--train-size", str(run.train_size)]
    return [sys.executable, "-m", "uncertainty_lr", "run", "--problem", run.problem,
            "--schedules", *schedules, "--seeds", *map(str, seeds), "--epochs", str(epochs),
            "--out", str(out), "--workers", str(workers), "--threads-per-worker", str(threads),
            "--device", run.device, *extra, *shlex.split(run.run_args), "--no-report",
            "--quiet"]  # fmt: skip


def parse_setting(text: str) -> tuple[int, int]:
    """'2x1' -> (2 workers, 1 thread each)."""
    try:
        workers, threads = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"a setting is WORKERSxTHREADS, e.g. 2x1; got {text!r}"
        ) from None
    if workers < 1 or threads < 1:
        raise argparse.ArgumentTypeError(f"workers and threads must be positive, got {text!r}")
    return workers, threads


def timed_run(cmd: list[str]) -> float:
    """Wall seconds of one command; a failure stops the benchmark with its output."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # torch threads come from the flags only
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(
            f"command failed ({done.returncode}): {' '.join(cmd)}\n{done.stderr[-2000:]}"
        )
    return seconds


def check_all_done(out: Path, expected: int) -> None:
    """Every run of the grid finished (a fast failure must not pass for a fast run)."""
    from uncertainty_lr.experiments.store import Store

    with Store(out, create=False) as store:
        done = len(store.runs("done"))
    if done != expected:
        raise SystemExit(f"{out}: {done} of {expected} runs done")


def describe(schedules, seeds, epochs: int, repeats: int, run: argparse.Namespace) -> None:
    import torch

    import uncertainty_lr
    from uncertainty_lr.experiments.build import load_problem_data
    from uncertainty_lr.experiments.config import RunConfig, resolve
    from uncertainty_lr.experiments.runtime import cpu_name

    cfg = resolve(RunConfig(problem=run.problem, epochs=epochs, data_dir=run.data_dir,
                            train_size=run.train_size))  # fmt: skip
    data = load_problem_data(cfg)  # also warms the on-disk data cache before any timing
    print(f"hardware: {cpu_name()}, {os.cpu_count()} cores, load average {os.getloadavg()}")
    if run.device == "cuda":
        print(f"gpu: {torch.cuda.get_device_name()}")
    print(f"versions: python {platform.python_version()}, torch {torch.__version__}, "
          f"uncertainty-lr {uncertainty_lr.__version__}")  # fmt: skip
    print(f"sizes: {run.problem} x {len(schedules)} schedules ({', '.join(schedules)}) x "
          f"{len(seeds)} seeds = {len(schedules) * len(seeds)} runs, {epochs} epochs, "
          f"batch {cfg.batch_size}, splits {data.sizes()}, device {run.device} "
          f"{run.run_args}".rstrip())  # fmt: skip
    print(f"repeats: {repeats} per setting, alternating order, fresh output folder each")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--smoke", action="store_true", help="2 schedules x 1 seed, 2 epochs, 1 repeat")
    p.add_argument("--problem", default="digits_mlp")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--train-size", type=int, default=None)
    p.add_argument("--device", default="cpu")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--settings", type=parse_setting, nargs="+", default=list(SETTINGS),
                   help="WORKERSxTHREADS each, the first is the baseline (default: 1x2 2x1)")  # fmt: skip
    p.add_argument("--run-args", default="", help="more flags for every run, e.g. '--bf16'")
    args = p.parse_args(argv)
    schedules, seeds = (SCHEDULES[:2], (0,)) if args.smoke else (SCHEDULES, tuple(args.seeds))
    epochs, repeats = (2, 1) if args.smoke else (args.epochs, args.repeats)
    if epochs < 1 or repeats < 1:
        raise SystemExit(f"--epochs and --repeats must be positive, got {epochs}, {repeats}")
    settings = list(dict.fromkeys(args.settings))
    describe(schedules, seeds, epochs, repeats, args)
    times: dict[tuple[int, int], list[float]] = {s: [] for s in settings}
    with tempfile.TemporaryDirectory(prefix="bench_workers_") as tmp:
        for r in range(repeats):
            order = settings if r % 2 == 0 else settings[::-1]
            for workers, threads in order:
                out = Path(tmp) / f"r{r}_w{workers}_t{threads}"
                cmd = command(out, workers, threads, schedules, seeds, epochs, args)
                seconds = timed_run(cmd)
                check_all_done(out, len(schedules) * len(seeds))
                times[(workers, threads)].append(seconds)
                print(
                    f"  repeat {r + 1}: {workers} worker(s) x {threads} thread(s): {seconds:.2f} s",
                    flush=True,
                )
    medians = {s: statistics.median(times[s]) for s in settings}
    print("median wall: " + ", ".join(f"{w}x{t} {m:.2f} s" for (w, t), m in medians.items()))
    (w0, t0), base = settings[0], medians[settings[0]]
    for (w, t), m in list(medians.items())[1:]:
        print(f"ratio ({w0}x{t0} / {w}x{t}): {base / m:.2f}  (> 1: {w}x{t} wins)")
    print(f"load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

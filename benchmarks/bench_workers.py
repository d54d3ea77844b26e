"""Two workers with one thread each vs one worker with two threads, on a grid of small runs.

Each measurement is the real command, ``python -m uncertainty_lr run ... --workers W
--threads-per-worker T``, in a fresh output folder (so nothing is skipped), timed from
launch to exit: interpreter and worker start-up count, as they do for a user. The two
settings alternate (1x2, 2x1, then 2x1, 1x2, ...) so slow drift in machine load hits both
alike; the medians and their ratio are printed with the hardware, versions and sizes.

    python benchmarks/bench_workers.py            # digits_mlp x 4 schedules x 2 seeds, 30 epochs
    python benchmarks/bench_workers.py --smoke    # a tiny grid, 1 repeat (CI: it runs, not how fast)

ratio = median(1 worker x 2 threads) / median(2 workers x 1 thread); > 1 means two workers win.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCHEDULES = ("constant", "cosine", "plateau", "uncertainty")
SETTINGS = ((1, 2), (2, 1))  # (workers, threads per worker)


def command(out: Path, workers: int, threads: int, schedules, seeds, epochs: int) -> list[str]:
    return [sys.executable, "-m", "uncertainty_lr", "run", "--problem", "digits_mlp",
            "--schedules", *schedules, "--seeds", *map(str, seeds), "--epochs", str(epochs),
            "--out", str(out), "--workers", str(workers), "--threads-per-worker", str(threads),
            "--no-report", "--quiet"]  # fmt: skip


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


def describe(schedules, seeds, epochs: int, repeats: int) -> None:
    import torch

    import uncertainty_lr
    from uncertainty_lr.experiments.config import RunConfig, resolve
    from uncertainty_lr.experiments.runtime import cpu_name
    from uncertainty_lr.train import load_problem_data

    cfg = resolve(RunConfig(problem="digits_mlp", epochs=epochs))
    data = load_problem_data(cfg)  # also warms the on-disk data cache before any timing
    print(f"hardware: {cpu_name()}, {os.cpu_count()} cores, load average {os.getloadavg()}")
    print(f"versions: python {platform.python_version()}, torch {torch.__version__}, "
          f"uncertainty-lr {uncertainty_lr.__version__}")  # fmt: skip
    print(f"sizes: digits_mlp x {len(schedules)} schedules ({', '.join(schedules)}) x "
          f"{len(seeds)} seeds = {len(schedules) * len(seeds)} runs, {epochs} epochs, "
          f"batch {cfg.batch_size}, splits {data.sizes()}")  # fmt: skip
    print(f"repeats: {repeats} per setting, alternating order, fresh output folder each")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--smoke", action="store_true", help="2 schedules x 1 seed, 2 epochs, 1 repeat")
    args = p.parse_args(argv)
    schedules, seeds = (SCHEDULES[:2], (0,)) if args.smoke else (SCHEDULES, (0, 1))
    epochs, repeats = (2, 1) if args.smoke else (args.epochs, args.repeats)
    if epochs < 1 or repeats < 1:
        raise SystemExit(f"--epochs and --repeats must be positive, got {epochs}, {repeats}")
    describe(schedules, seeds, epochs, repeats)
    times: dict[tuple[int, int], list[float]] = {s: [] for s in SETTINGS}
    with tempfile.TemporaryDirectory(prefix="bench_workers_") as tmp:
        for r in range(repeats):
            order = SETTINGS if r % 2 == 0 else SETTINGS[::-1]
            for workers, threads in order:
                out = Path(tmp) / f"r{r}_w{workers}_t{threads}"
                cmd = command(out, workers, threads, schedules, seeds, epochs)
                seconds = timed_run(cmd)
                check_all_done(out, len(schedules) * len(seeds))
                times[(workers, threads)].append(seconds)
                print(
                    f"  repeat {r + 1}: {workers} worker(s) x {threads} thread(s): {seconds:.2f} s"
                )
    one, two = (statistics.median(times[s]) for s in SETTINGS)
    print(f"median wall: 1 worker x 2 threads {one:.2f} s, 2 workers x 1 thread {two:.2f} s")
    print(f"ratio (1x2 / 2x1): {one / two:.2f}  (> 1: two workers win)")
    print(f"load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

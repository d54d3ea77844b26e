"""The anytime comparison at full data on one GPU: cifar10_fast, every arm, paired seeds.

Budget-aware arms run once per budget (10 and 20 epochs); budget-free arms run once, at the
longer budget, with test metrics every epoch, so their first 10 epochs are their 10-epoch
run (README, "The anytime comparison"). Seeds are paired: seed k is the same validation
split, initial weights, batch order and augmentation under every arm. In order:

1. a probe: 2 epochs of `constant` (test every epoch, a throwaway store) time an epoch
   and a run's fixed cost;
2. the grid sized to end by ``--minutes`` less the report's reserve: as many seeds as fit
   (3 to 5) at budgets 10/20, else 3 seeds at shorter budgets; what was cut is printed;
3. the grid, seed by seed, one line per run as it ends; a run whose projected end passes
   the deadline is stopped and dropped (printed), so a run cut short still reports;
4. test accuracy per arm and budget (mean ± std, n) and each arm's paired difference to the
   best budget-aware arm (95 % t-interval), then the anytime report;
5. if time is left: cifar10_resnet18 and cifar10_vgg16 at 10 epochs, one seed, the
   default `uncertainty` against one-cycle, in a store of their own.

Into ``--out``: results.sqlite (a snapshot of the store after every run), report.tar.gz
(`uncertainty-lr report STORE --budgets ...`), tail.sqlite, plan.json (probe, grid, cuts).

The device call (the package runs from src/; the only wheel it needs there is schedulefree;
`python benchmarks/gpu_pack.py` fills .gpu/ here first and checks the 64 MiB; the
command is one line, at most 2,000 characters; docs/scale-out.md has it too):

    run(kind="nvidia-h100-x1", timeout_s=600, carry=[".gpu"], command=
        "python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .gpu/wheels/*.whl || exit 1; export PYTHONPATH=/tmp/site:$PWD/src PYTHONUNBUFFERED=1; set -o pipefail; python3 benchmarks/gpu_study.py --data-dir .gpu/datasets --out $OUT 2>&1 | tee $OUT/gpu_study.log")

On the CPU at a tiny size (tests/slow/test_gpu_study.py runs it): 256/128/128 images,
batch 64, width-8 net, budgets 1/2, 3 seeds, the tail at 1 epoch:

    python benchmarks/gpu_study.py --tiny --data-dir ../shared/datasets --out /tmp/gpu_study
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import sys
import tarfile
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED, cifar10_payload, header  # noqa: E402
from gpu_study_tally import Tally  # noqa: E402

from uncertainty_lr.data.load import carve  # noqa: E402
from uncertainty_lr.experiments.config import RunConfig, schedule_label  # noqa: E402
from uncertainty_lr.experiments.grid import parse_schedule_spec  # noqa: E402
from uncertainty_lr.experiments.run import train  # noqa: E402
from uncertainty_lr.experiments.store import DB_NAME, Store  # noqa: E402
from uncertainty_lr.schedulers.registry import check_schedule, needs_budget  # noqa: E402

PROBLEM = "cifar10_fast"
#: The arms, in the CLI's spelling. An arm the installed registry refuses is skipped with a
#: printed note; whether an arm is told the budget comes from the registry (`needs_budget`).
ARMS = (
    "uncertainty",  # the budget-free default
    "uncertainty:mode=threshold",  # the study plan's rule
    "uncertainty:budget=known",  # the budget-known variant, once the registry has it
    "onecycle",
    "linear",
    "wsd",
    "constant",
    "schedule_free",
)
#: Item 4 of issue 27: the study plan's models at full data, one seed, if time is left.
TAIL = (("cifar10_resnet18", ("uncertainty", "onecycle")), ("cifar10_vgg16", ("uncertainty", "onecycle")))  # fmt: skip
#: Budgets tried, in order, when 3 seeds at the full budgets do not fit (x the budgets).
BUDGET_SCALES = (1.0, 0.8, 0.6, 0.5)


@dataclass(frozen=True)
class Size:
    """How big the study is: budgets (epochs), seeds (at least, at most), split sizes
    (None = all), per-problem model options, batch size (None = the problem's), tail epochs."""

    budgets: tuple[int, int] = (10, 20)
    seeds: tuple[int, int] = (3, 5)
    sizes: tuple[int | None, int | None, int | None] = (None, None, None)
    model_options: dict = field(default_factory=dict)
    batch_size: int | None = None
    tail_epochs: int = 10


FULL = Size()
TINY = Size(budgets=(1, 2), seeds=(3, 3), sizes=(256, 128, 128), batch_size=64, tail_epochs=1,
            model_options={"cifar10_fast": {"width": 8}, "cifar10_resnet18": {"width": 4},
                           "cifar10_vgg16": {"width_mult": 1 / 16}})  # fmt: skip


class OutOfTime(Exception):
    """A run would end after the deadline; ``run_id`` names it."""

    def __init__(self, run_id: str, message: str) -> None:
        super().__init__(message)
        self.run_id = run_id


class Deadline:
    """A run hook: stops a run (`OutOfTime`) once ``now + epochs left x its slowest epoch``
    passes ``at`` (time.monotonic seconds); ``epoch_seconds`` holds the epochs' wall time
    (training, validation, test when logged, checkpoint), the last run's."""

    def __init__(self, at: float) -> None:
        self.at, self.epoch_seconds, self.last = at, [], time.monotonic()

    def on_run_start(self, run: dict) -> None:
        self.epoch_seconds, self.last = [], time.monotonic()

    def on_epoch_end(self, run: dict, epoch: int, record: dict) -> None:
        now = time.monotonic()
        self.epoch_seconds.append(now - self.last)
        self.last = now
        left = run["config"]["epochs"] - epoch
        if left > 0 and now + left * max(self.epoch_seconds) > self.at:
            raise OutOfTime(run["run_id"], f"stopped after epoch {epoch}: {left} more epochs "
                            f"of up to {max(self.epoch_seconds):.1f} s would pass the deadline")  # fmt: skip


@dataclass(frozen=True)
class Arm:
    spec: str
    name: str
    options: dict
    budget_aware: bool


def known_arms(specs=ARMS) -> tuple[list[Arm], list[str]]:
    """The arms the installed registry accepts, and a note for each it refuses."""
    arms, notes = [], []
    for spec in specs:
        name, options = parse_schedule_spec(spec)
        try:
            check_schedule(name, options)
        except ValueError as error:
            notes.append(f"skipped arm {spec}: the installed registry refuses it ({error})")
            continue
        arms.append(Arm(spec, name, options, needs_budget(name, options)))
    return arms, notes


def config(size: Size, problem: str, device: str, **kw) -> RunConfig:
    """A run of ``problem`` at ``size`` on ``device`` (bf16 and channels_last on CUDA)."""
    train_size, val_size, test_size = size.sizes
    extra = {"batch_size": size.batch_size} if size.batch_size else {}
    return RunConfig(problem=problem, device=device, bf16=True, channels_last=True,
                     train_size=train_size, val_size=val_size, test_size=test_size,
                     model_options=size.model_options.get(problem, {}), **extra, **kw)  # fmt: skip


def grid(arms: list[Arm], budgets: tuple[int, int], seeds: int) -> list[tuple[int, Arm, int]]:
    """(seed, arm, epochs), seed by seed: budget-aware arms at each budget, the rest at the
    longer one (tested every epoch)."""
    return [(seed, arm, epochs) for seed in range(seeds) for arm in arms
            for epochs in (budgets if arm.budget_aware else budgets[-1:])]  # fmt: skip


@dataclass(frozen=True)
class Probe:
    """Seconds per epoch (the second, warm) and a run's fixed cost (build, warm-up, test)."""

    epoch_s: float
    setup_s: float

    def cost(self, runs: list[tuple[int, Arm, int]], margin: float = 1.1) -> float:
        return margin * sum(self.setup_s + epochs * self.epoch_s for _, _, epochs in runs)


def probe(size: Size, data, device: str) -> Probe:
    """Time 2 epochs of `constant` (test every epoch) into a throwaway store."""
    clock = Deadline(float("inf"))  # only its clock
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(tmp)
        start = time.monotonic()
        train(config=config(size, PROBLEM, device, schedule="constant", epochs=2, test_every_epoch=True),
              data=data, store=store, hooks=[clock])  # fmt: skip
        total = time.monotonic() - start
        store.close()
    epoch_s = clock.epoch_seconds[-1]
    return Probe(epoch_s, max(0.0, total - 2 * epoch_s))


def choose(
    arms, size: Size, cost: Probe, seconds: float
) -> tuple[list, tuple[int, int], list[str]]:
    """The biggest grid that fits in ``seconds``: most seeds at full budgets, else the
    fewest seeds at shorter budgets, else that smallest grid anyway (the deadline cuts it)."""
    low, high = size.seeds
    full = grid(arms, size.budgets, high)
    for seeds in range(high, low - 1, -1):
        runs = grid(arms, size.budgets, seeds)
        if cost.cost(runs) <= seconds:
            dropped = ", ".join(str(s) for s in range(seeds, high))
            cuts = [] if seeds == high else [f"seeds {dropped} (all {high} seeds: ~{cost.cost(full):.0f} s, {seconds:.0f} s left)"]  # fmt: skip
            return runs, size.budgets, cuts
    for scale in BUDGET_SCALES[1:]:
        budgets = tuple(max(1, round(b * scale)) for b in size.budgets)
        runs = grid(arms, budgets, low)
        if cost.cost(runs) <= seconds:
            return runs, budgets, [f"budgets {size.budgets} -> {budgets} ({low} seeds at {size.budgets}: ~{cost.cost(grid(arms, size.budgets, low)):.0f} s, {seconds:.0f} s left)"]  # fmt: skip
    budgets = tuple(max(1, round(b * BUDGET_SCALES[-1])) for b in size.budgets)
    return grid(arms, budgets, low), budgets, [f"budgets {budgets}, {low} seeds still need ~{cost.cost(grid(arms, budgets, low)):.0f} s of {seconds:.0f} s: the deadline stops what does not fit"]  # fmt: skip


def snapshot(store: Store, path: Path) -> None:
    """A consistent single-file copy of the store (no WAL beside it), replaced atomically."""
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    with sqlite3.connect(store.path) as src, sqlite3.connect(tmp) as dst:
        src.backup(dst)
    tmp.replace(path)


def run_all(runs, make_config, data_for, store, deadline: Deadline, tally: Tally, snap: Path) -> list[str]:  # fmt: skip
    """Train ``runs`` into ``store``, printing a line per run and snapshotting the store to
    ``snap`` after each. A run the deadline stops is removed with its checkpoint; a run that
    raises stays in the store as failed. Returns a note for each run cut or failed."""
    notes = []
    for seed, arm, epochs in runs:
        cfg = make_config(seed, arm, epochs)
        what, began = f"{cfg.problem} {schedule_label(cfg)} seed {seed} ({epochs} epochs)", time.monotonic()  # fmt: skip
        if began >= deadline.at:
            notes.append(f"{what}: not started, no time left")
            print(f"  cut: {notes[-1]}", flush=True)
            continue
        try:
            result = train(config=cfg, data=data_for(seed), store=store, hooks=[deadline])
        except OutOfTime as stop:
            store.delete_run(stop.run_id)
            (Path(store.out_dir) / "checkpoints" / f"{stop.run_id}.pt").unlink(missing_ok=True)
            notes.append(f"{what}: {stop}")
            print(f"  cut: {notes[-1]}", flush=True)
            continue
        except Exception as error:  # noqa: BLE001 - stored as failed; the study goes on
            notes.append(f"{what}: failed, {type(error).__name__}: {error}")
            print(f"  {notes[-1]}", flush=True)
            continue
        tally.add(cfg.problem, schedule_label(cfg), arm.budget_aware, seed, epochs, result,
                  time.monotonic() - began)  # fmt: skip
        snapshot(store, snap)
    return notes


def write_anytime_report(work: Path, out: Path, budgets, command: str) -> None:
    """The anytime report of the store in ``work``, as ``out/report.tar.gz``; a report that
    fails is printed, not raised (the store's snapshot is in ``out`` already)."""
    try:
        from uncertainty_lr.report import write_report

        began = time.monotonic()
        report = write_report(work, work / "report", budgets=list(budgets), command=command)
        with tarfile.open(out / "report.tar.gz", "w:gz") as tar:
            tar.add(report, arcname="report")
        print(f"\nreport: {out / 'report.tar.gz'} ({time.monotonic() - began:.0f} s to write)")
    except Exception as error:  # noqa: BLE001
        print(f"\nreport failed: {type(error).__name__}: {error}")


def run_tail(size: Size, device: str, data_for, work: Path, out: Path, deadline: Deadline) -> list[str]:  # fmt: skip
    """Item 4 of issue 27 in its own store: each TAIL problem, seed 0, its arms."""
    store, tally, notes = Store(work / "tail"), Tally((size.tail_epochs,)), []
    tally.header("the study plan's models, seed 0, if time is left")
    for problem, specs in TAIL:
        arms, refused = known_arms(specs)
        notes += refused

        def make(seed, arm, epochs, problem=problem):
            return config(size, problem, device, schedule=arm.name, schedule_options=arm.options,
                          seed=seed, epochs=epochs)  # fmt: skip

        notes += run_all(grid(arms, (size.tail_epochs,), 1), make, data_for, store, deadline,
                         tally, out / "tail.sqlite")  # fmt: skip
    tally.summary()
    store.close()
    return notes


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", default=str(SHARED), help="holds cifar10/ (parquet, hub layout)")
    ap.add_argument("--out", required=True, help="where results, report and plan go ($OUT)")
    ap.add_argument("--work", help="the live store (default: a fresh temporary folder)")
    ap.add_argument("--minutes", type=float, default=8.5, help="wall-time budget (default 8.5)")
    ap.add_argument("--report-reserve", type=float, default=60.0, metavar="S",
                    help="seconds kept for the report (default 60)")  # fmt: skip
    ap.add_argument("--tiny", action="store_true", help="CPU-sized: tiny splits and net")
    ap.add_argument("--no-tail", action="store_true", help="skip cifar10_resnet18 / vgg16")
    args = ap.parse_args(argv)
    start = time.monotonic()
    end = start + 60 * args.minutes
    size = TINY if args.tiny else FULL
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.backends.cudnn.benchmark = True  # fixed shapes: autotune each conv once
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(args.work or tempfile.mkdtemp(prefix="gpu_study_"))
    payload = cifar10_payload(Path(args.data_dir) / "cifar10")
    bundles: dict[int, object] = {}

    def data_for(seed: int):  # seed k's split, one at a time (all images: ~190 MB of uint8)
        if seed not in bundles:
            bundles.clear()
            bundles[seed] = carve(payload, seed, 0.1, *size.sizes)
        return bundles[seed]

    arms, notes = known_arms()
    header("GPU study: the anytime comparison at full data", problem=PROBLEM, device=device,
           splits=data_for(0).sizes(), arms=len(arms), budgets=size.budgets, minutes=args.minutes)  # fmt: skip
    for note in notes:
        print(f"note: {note}")
    grid_deadline = Deadline(end - args.report_reserve)  # the tail may use what is left after
    cost = probe(size, data_for(0), device)
    left = grid_deadline.at - time.monotonic()
    runs, budgets, cuts = choose(arms, size, cost, left)
    seeds = 1 + max(seed for seed, _, _ in runs)
    print(f"probe: {cost.epoch_s:.2f} s an epoch (test every epoch), {cost.setup_s:.2f} s a run; "
          f"{time.monotonic() - start:.0f} s so far")  # fmt: skip
    print(f"grid: {seeds} seeds x budgets {budgets}: {len(runs)} runs, "
          f"{sum(e for _, _, e in runs)} epochs, ~{cost.cost(runs):.0f} s of {left:.0f} s")  # fmt: skip
    for cut in cuts:
        print(f"cut: {cut}")
    plan = {"device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
            "torch": torch.__version__, "splits": data_for(0).sizes(), "probe": asdict(cost),
            "seeds": seeds, "budgets": budgets, "arms": [a.spec for a in arms], "notes": notes,
            "cuts": list(cuts)}  # fmt: skip
    (out / "plan.json").write_text(json.dumps(plan, indent=1) + "\n")  # there if the call is cut

    def main_config(seed, arm, epochs):
        return config(size, PROBLEM, device, schedule=arm.name, schedule_options=arm.options,
                      seed=seed, epochs=epochs, test_every_epoch=not arm.budget_aware)  # fmt: skip

    tally, store = Tally(budgets), Store(work)
    tally.header(f"{PROBLEM}: test accuracy at each budget a run answers for")
    plan["cuts"] += run_all(runs, main_config, data_for, store, grid_deadline, tally, out / DB_NAME)
    store.close()
    tally.summary()
    command = f"python benchmarks/gpu_study.py {' '.join(sys.argv[1:] if argv is None else argv)}"
    write_anytime_report(work, out, budgets, command)
    if not args.no_tail:
        plan["cuts"] += run_tail(size, device, data_for, work, out, Deadline(end))
    plan["seconds"] = round(time.monotonic() - start, 1)
    (out / "plan.json").write_text(json.dumps(plan, indent=1) + "\n")
    print(
        f"\ndone in {plan['seconds']:.0f} s; cut or failed: {'; '.join(plan['cuts']) or 'nothing'}"
    )
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Learning-rate tuning: a grid of base LRs per arm, trained on tuning seeds, and the pick.

An arm is a (problem, schedule label) pair. ``tuning_grid`` expands problems x schedules x
tuning seeds x LRs into resolved configs with ``lr_source="tuning"``; they run through the
ordinary sweep, so they land in the same store, resume and run in parallel like any run.
``pick_lr`` then chooses each arm's LR from validation accuracy only: the test split is
never read, so the comparison that follows stays honest. The chosen LRs are kept in the
store's meta table (``save_choices`` / ``load_choices``), and ``apply_tuned`` turns a
comparison grid into runs at those LRs (``lr_source="tuned"``).

A pick at the smallest or largest LR an arm tried says only that the best LR may lie
beyond the grid (``edges``); ``extension_configs`` gives the runs one step further out, and
``tune --extend`` repeats that until every pick is interior (at most ``MAX_EXTENSIONS``).

No torch is imported here (the report reads ``pick_lr`` and the stored choices).
"""

from __future__ import annotations

import json
import math
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from uncertainty_lr.checks import is_number
from uncertainty_lr.experiments.config import RunConfig, resolve, run_id, schedule_label
from uncertainty_lr.experiments.grid import expand_grid
from uncertainty_lr.experiments.store import Store, is_finished

#: Tuning seeds unless given: far from the comparison seeds 0..N, so the two never meet.
DEFAULT_TUNING_SEEDS = (100, 101)
#: The default grid: the problem's lr times these (1e-3 -> 3e-4, 1e-3, 3e-3, 1e-2).
GRID_FACTORS = (0.3, 1.0, 3.0, 10.0)
#: How a tuning run is scored: its last epoch's or its best validation accuracy.
SELECT_METRICS = ("final", "best")
CHOICE_PREFIX = "tuned_lr:"
# Mean validation accuracies this close count as a tie (they are k/n fractions, so real
# differences are far larger); ties go to the smaller LR, the safer of the two.
TIE_TOLERANCE = 1e-9
#: ``--extend`` steps this factor beyond a grid's edge (the default grid is spaced about x3).
EXTEND_FACTOR = 3.0
#: ``--extend`` widens the grid at most this many times, then reports the pick as it stands.
MAX_EXTENSIONS = 5


def default_grid(lr: float) -> list[float]:
    """``GRID_FACTORS`` x ``lr``, rounded to 3 significant digits (3e-4, not 3.0000000000000003e-4)."""
    return [float(f"{lr * factor:.3g}") for factor in GRID_FACTORS]


def check_grid(lrs: Iterable) -> list[float]:
    """The LR grid as sorted floats; ValueError for a non-positive, non-finite or repeated LR."""
    out = []
    for lr in lrs:
        if not is_number(lr) or lr <= 0:
            raise ValueError(f"tuning LRs must be positive numbers, got {lr!r}")
        if float(lr) in out:
            raise ValueError(f"tuning LR {lr!r} is listed twice")
        out.append(float(lr))
    if not out:
        raise ValueError("at least one tuning LR is needed, got none")
    return sorted(out)


def check_select(select: object) -> str:
    if select not in SELECT_METRICS:
        raise ValueError(f"select must be one of {', '.join(SELECT_METRICS)}; got {select!r}")
    return select  # type: ignore[return-value]


def check_disjoint(tuning_seeds: Iterable[int], comparison_seeds: Iterable[int]) -> None:
    """ValueError naming the seeds that are both tuning and comparison seeds."""
    both = sorted(set(tuning_seeds) & set(comparison_seeds))
    if both:
        raise ValueError(
            f"tuning seeds must be disjoint from the comparison seeds; both use {both} "
            f"(default tuning seeds: {', '.join(map(str, DEFAULT_TUNING_SEEDS))})"
        )


def tuning_grid(
    problems: Iterable[str],
    schedules: Iterable[str],
    seeds: Iterable[int],
    base: RunConfig,
    lrs: Iterable[float] | None = None,
) -> list[RunConfig]:
    """Resolved tuning configs, ordered problem > seed > schedule > lr.

    ``lrs`` None = ``default_grid`` of each problem's resolved lr (``base.lr`` when set).
    Every arm gets the same LRs and seeds.
    """
    grid = None if lrs is None else check_grid(lrs)
    configs = []
    for cfg in expand_grid(problems, schedules, seeds, replace(base, lr_source="tuning")):
        for lr in grid or default_grid(cfg.lr):
            configs.append(resolve(replace(cfg, lr=lr)))
    return configs


def score_run(status: str, val_accuracy: Iterable[float | None], select: str) -> float | None:
    """A tuning run's validation score, or None when it must not win.

    ``val_accuracy``: the run's validation accuracy per epoch, in epoch order. A run that
    is not 'done' (diverged, failed, still running) or has no finite value scores None.
    """
    if status != "done":
        return None
    values = [v for v in val_accuracy if v is not None and math.isfinite(v)]
    if not values:
        return None
    return values[-1] if select == "final" else max(values)


@dataclass
class Choice:
    """The tuning result of one arm.

    ``scores`` maps each grid LR to its runs' validation scores, one per tuning seed in
    seed order (None = diverged, failed or unfinished). ``mean`` maps an LR to the mean
    score, None when any of its seeds has no score (such an LR cannot be chosen).
    ``lr`` is the chosen LR, None when no LR of the grid finished every seed.
    """

    problem: str
    schedule: str
    select: str
    seeds: list[int]
    scores: dict[float, list[float | None]]
    mean: dict[float, float | None]
    lr: float | None

    def to_json(self) -> str:
        return json.dumps({"problem": self.problem, "schedule": self.schedule, "lr": self.lr,
                           "select": self.select, "seeds": self.seeds,
                           "scores": [[lr, s] for lr, s in self.scores.items()]})  # fmt: skip


def pick_lr(records: Iterable[dict], select: str = "final") -> dict[tuple[str, str], Choice]:
    """Each arm's LR from tuning records: the highest mean validation score wins.

    A record is a dict with ``problem``, ``schedule`` (label), ``lr``, ``seed``,
    ``status`` and ``val_accuracy`` (list per epoch); nothing else is read, so a test
    metric cannot sway the choice. An LR counts only when every tuning seed of the arm
    finished it ('done'): a diverged run never wins. Ties (within ``TIE_TOLERANCE``) go
    to the smaller LR. Returns {(problem, schedule): Choice} in first-seen order.
    """
    check_select(select)
    arms: dict[tuple[str, str], dict[float, dict[int, float | None]]] = {}
    for r in records:
        per_lr = arms.setdefault((r["problem"], r["schedule"]), defaultdict(dict))
        per_lr[float(r["lr"])][int(r["seed"])] = score_run(r["status"], r["val_accuracy"], select)
    choices = {}
    for (problem, schedule), per_lr in arms.items():
        seeds = sorted({seed for runs in per_lr.values() for seed in runs})
        scores = {lr: [per_lr[lr].get(s) for s in seeds] for lr in sorted(per_lr)}
        mean = {lr: None if None in v else statistics.fmean(v) for lr, v in scores.items()}
        valid = {lr: m for lr, m in mean.items() if m is not None}
        chosen = None
        if valid:
            top = max(valid.values())
            chosen = min(lr for lr, m in valid.items() if m >= top - TIE_TOLERANCE)
        choices[(problem, schedule)] = Choice(
            problem, schedule, select, seeds, scores, mean, chosen
        )
    return choices


def edges(choice: Choice) -> tuple[str, ...]:
    """Which ends of the LRs the arm tried its pick sits on: ("low",), ("high",), both (a
    one-LR grid) or () when the pick is interior or there is none."""
    if choice.lr is None:
        return ()
    tried = sorted(choice.scores)
    return tuple(side for side, lr in (("low", tried[0]), ("high", tried[-1])) if choice.lr == lr)


def edge_text(choice: Choice) -> str:
    """'' for an interior pick, else a sentence saying which edge and what to do about it."""
    sides = edges(choice)
    if not sides:
        return ""
    where = {"low": "smallest", "high": "largest"}
    which = " and ".join(where[side] for side in sides)
    return (f"at the grid's edge (the {which} LR tried): the best LR may lie beyond it; "
            "`tune --extend` widens the grid")  # fmt: skip


def extension_lr(choice: Choice, side: str, factor: float = EXTEND_FACTOR) -> float:
    """One step beyond the arm's tried LRs on ``side`` ('low' / 'high'), 3 significant digits."""
    tried = sorted(choice.scores)
    lr = tried[-1] * factor if side == "high" else tried[0] / factor
    return float(f"{lr:.3g}")


def extension_configs(
    choices: dict[tuple[str, str], Choice], configs: Iterable[RunConfig]
) -> list[RunConfig]:
    """Tuning runs one step beyond the edge of every arm whose pick is on an edge.

    ``configs``: the tuning configs run so far (the templates: an arm's runs differ only in
    lr and seed). Each arm at an edge gets one new LR per edge (``extension_lr``), on every
    tuning seed it used; arms with an interior pick or none get nothing.
    """
    templates: dict[tuple[str, str, int], RunConfig] = {}
    for cfg in configs:
        templates.setdefault((cfg.problem, schedule_label(cfg), cfg.seed), cfg)
    out = []
    for (problem, label), choice in choices.items():
        for side in edges(choice):
            lr = extension_lr(choice, side)
            for seed in choice.seeds:
                template = templates.get((problem, label, seed))
                if template is not None:
                    out.append(resolve(replace(template, lr=lr)))
    return out


def finish_tuning(
    out_dir,
    select: str,
    configs: list[RunConfig],
    train: Callable[[list[RunConfig]], object],
    extend: bool = False,
    log: Callable[[str], None] = print,
) -> dict[tuple[str, str], Choice]:
    """Pick each arm's LR from the tuning runs in ``out_dir``'s store and save the choices.

    With ``extend`` (``tune --extend``): while an arm's pick is on an edge of the LRs it
    tried, ``train`` the runs one step beyond it (``extension_configs``) and pick again, at
    most ``MAX_EXTENSIONS`` times. ``configs``: the tuning configs already trained.
    """

    def pick() -> dict[tuple[str, str], Choice]:
        with Store(out_dir) as store:
            return pick_lr(tuning_records(store), select)

    choices, configs = pick(), list(configs)
    for _ in range(MAX_EXTENSIONS if extend else 0):
        more = extension_configs(choices, configs)
        if not more:
            break
        lrs = ", ".join(sorted({f"{cfg.lr:g}" for cfg in more}, key=float))
        log(f"tuning: a pick is at the grid's edge; extending by {len(more)} runs at LR {lrs}")
        train(more)
        configs += more
        choices = pick()
    with Store(out_dir) as store:
        save_choices(store, choices.values())
    return choices


def choice_lines(choices: dict[tuple[str, str], Choice]) -> list[str]:
    """What `tune` prints: each arm's LR, and whether the pick sits on the grid's edge."""
    select = next((c.select for c in choices.values()), "final")
    lines = [f"tuned LRs (by {select} validation accuracy, mean over the arm's tuning seeds):"]
    for choice in choices.values():
        lr = "none: no LR finished every seed" if choice.lr is None else f"{choice.lr:g}"
        edge = f"  ({edge_text(choice)})" if edge_text(choice) else ""
        lines.append(f"  {choice.problem:<16} {choice.schedule:<32} {lr}{edge}")
    return lines


def tuning_records(store) -> list[dict]:
    """The store's tuning runs as ``pick_lr`` records (validation columns only)."""
    records = []
    for run in store.runs():
        config = run["config"] or {}
        if config.get("lr_source") != "tuning":
            continue
        epochs = store.epochs(run["run_id"])
        records.append({"problem": run["problem"], "schedule": run["schedule"],
                        "lr": config["lr"], "seed": run["seed"], "status": run["status"],
                        "val_accuracy": [row["val_accuracy"] for row in epochs]})  # fmt: skip
    return records


def seeds_by_source(store) -> dict[str, set[int]]:
    """lr_source -> the seeds the store's runs use ('given' for runs without the key)."""
    out: dict[str, set[int]] = defaultdict(set)
    for run in store.runs():
        out[(run["config"] or {}).get("lr_source", "given")].add(run["seed"])
    return out


def save_choices(store, choices: Iterable[Choice]) -> None:
    """Write each choice into the store's meta table (key ``tuned_lr:problem:schedule``)."""
    for choice in choices:
        store.set_meta(f"{CHOICE_PREFIX}{choice.problem}:{choice.schedule}", choice.to_json())


def load_choices(store) -> dict[tuple[str, str], dict]:
    """{(problem, schedule): stored choice dict with lr, select, seeds, scores}."""
    out = {}
    for value in store.meta(CHOICE_PREFIX).values():
        item = json.loads(value)
        out[(item["problem"], item["schedule"])] = item
    return out


def apply_tuned(
    configs: Iterable[RunConfig], choices: dict[tuple[str, str], dict]
) -> list[RunConfig]:
    """Each config at its arm's tuned LR (``lr_source="tuned"``); ValueError for an arm without one."""
    out = []
    for cfg in configs:
        label = schedule_label(cfg)
        item = choices.get((cfg.problem, label))
        if item is None or item.get("lr") is None:
            why = (
                "has not been tuned"
                if item is None
                else "has no tuned LR (no grid LR finished every seed)"
            )
            raise ValueError(
                f"arm {cfg.problem} / {label} {why}; run `uncertainty-lr tune` with the same "
                "problems, schedules and --out first"
            )
        out.append(resolve(replace(cfg, lr=float(item["lr"]), lr_source="tuned")))
    return out


def estimate_text(configs: list[RunConfig], runs: list[dict]) -> str:
    """'N runs to train (E epochs); estimate ...' before a sweep starts.

    ``runs`` are the store's run rows: finished ones are skipped by the sweep, and the
    median seconds per epoch of a problem's finished runs times its pending epochs gives
    the estimate (one worker); a problem without finished runs makes it unknown.
    """
    by_id = {run["run_id"]: run for run in runs}
    per_epoch: dict[str, list[float]] = defaultdict(list)
    for run in runs:
        if run["status"] == "done" and run["wall_time"] and run["epochs_done"]:
            per_epoch[run["problem"]].append(run["wall_time"] / run["epochs_done"])
    pending = [cfg for cfg in configs if not is_finished(by_id.get(run_id(cfg)))]
    epochs = sum(cfg.epochs for cfg in pending)
    head = f"{len(configs)} runs in the grid, {len(pending)} to train ({epochs} epochs)"
    if not pending:
        return head + "; nothing left to do"
    unknown = sorted({cfg.problem for cfg in pending if not per_epoch[cfg.problem]})
    if unknown:
        return (
            head + f"; time estimate unknown (no finished run of {', '.join(unknown)} in the store)"
        )
    seconds = sum(cfg.epochs * statistics.median(per_epoch[cfg.problem]) for cfg in pending)
    return (
        head + f"; estimate {seconds / 60:.1f} min on one worker (median s/epoch of finished runs)"
    )

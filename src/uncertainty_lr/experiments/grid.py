"""The grid of a sweep: schedule specs, flag values, problems x seeds x schedules -> configs.

Torch-free: the CLI, the tuning commands and the report build grids without the
training code.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from uncertainty_lr.experiments.config import RunConfig, resolve, schedule_label
from uncertainty_lr.experiments.files import check_writable  # noqa: F401 - imported from here too


def parse_schedule_spec(spec: str) -> tuple[str, dict]:
    """ "uncertainty:mode=band,signal=entropy" -> ("uncertainty", {"mode": "band", "signal": "entropy"})."""
    name, _, rest = spec.partition(":")
    options = {}
    for item in filter(None, rest.split(",")):
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise ValueError(f"schedule option {item!r} in {spec!r} must look like KEY=VALUE")
        options[key.strip()] = parse_value(value.strip())
    return name.strip(), options


def canonical_label(spec: str) -> str:
    """``spec`` as the store labels it: ``"uncertainty:signal=x,mode=y"`` ->
    ``"uncertainty:mode=y,signal=x"`` (options sorted, spaces and value spellings such as
    ``1e-3`` / ``0.001`` as ``schedule_label`` writes them), so a label typed in any order
    finds its runs."""
    name, options = parse_schedule_spec(spec)
    return schedule_label({"schedule": name, "schedule_options": options})


def parse_value(text: str):
    """A flag or spec value as int, float, bool, None or string (in that order of preference)."""
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def expand_grid(
    problems: Iterable[str], schedules: Iterable[str], seeds: Iterable[int], base: RunConfig
) -> list[RunConfig]:
    """Resolved configs, ordered problem > seed > schedule (one dataset split per seed)."""
    configs = []
    problems, schedules, seeds = list(problems), list(schedules), list(seeds)
    for label, values in (("problem", problems), ("schedule", schedules), ("seed", seeds)):
        if not values:
            raise ValueError(f"at least one {label} is needed, got none")
    for problem in problems:
        for seed in seeds:
            for spec in schedules:
                name, options = parse_schedule_spec(spec)
                cfg = replace(base, problem=problem, schedule=name, seed=seed,
                              schedule_options={**base.schedule_options, **options})  # fmt: skip
                configs.append(resolve(cfg))
    return configs

"""Every study config in docs/study/ names known problems and valid schedules: the commands
docs/results.md quotes still run."""

from __future__ import annotations

from pathlib import Path

import pytest

from uncertainty_lr.experiments.config import load_toml
from uncertainty_lr.experiments.grid import parse_schedule_spec
from uncertainty_lr.problems import PROBLEMS
from uncertainty_lr.schedulers.registry import check_schedule

STUDY = Path(__file__).resolve().parents[1] / "docs" / "study"


@pytest.mark.parametrize("path", sorted(STUDY.glob("*.toml")), ids=lambda p: p.name)
def test_study_config_is_valid(path):
    config = load_toml(path)
    assert set(config["problems"]) <= set(PROBLEMS)
    for spec in config["schedules"]:
        check_schedule(*parse_schedule_spec(spec))

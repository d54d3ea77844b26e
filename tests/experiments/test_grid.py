"""Schedule specs as typed on the command line and in study configs."""

from __future__ import annotations

import pytest

from uncertainty_lr.experiments.config import RunConfig, schedule_label
from uncertainty_lr.experiments.grid import canonical_label, parse_schedule_spec


def test_spec_parses_name_and_typed_options():
    assert parse_schedule_spec("uncertainty:mode=band, mc_samples=5, budget=none") == (
        "uncertainty", {"mode": "band", "mc_samples": 5, "budget": None})  # fmt: skip
    with pytest.raises(ValueError, match="'mode' in 'uncertainty:mode' must look like KEY=VALUE"):
        parse_schedule_spec("uncertainty:mode")


def test_canonical_label_is_the_stores_label_of_a_spec():
    cfg = RunConfig(
        schedule="uncertainty", schedule_options={"trigger": "threshold", "mode": "anneal"}
    )
    assert canonical_label("uncertainty:trigger=threshold, mode=anneal") == schedule_label(cfg)
    assert canonical_label("uncertainty:mode=anneal,trigger=threshold") == schedule_label(cfg)
    assert canonical_label("cosine") == "cosine"
    assert canonical_label("step:gamma=1e-1") == "step:gamma=0.1"

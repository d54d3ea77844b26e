"""A small, real anytime store shared by the report tests: digits, trained for seconds."""

from __future__ import annotations

from pathlib import Path

import pytest

from uncertainty_lr.cli import main

STUDY = Path(__file__).resolve().parents[2] / "docs" / "study"
TINY = ["--problem", "digits_mlp", "--seeds", "0", "1", "2", "--train-size", "300",
        "--val-size", "100", "--test-size", "200", "--quiet", "--no-report"]  # fmt: skip
#: Arms never told the budget: run once, 4 epochs, test metrics every epoch. The default
#: uncertainty arm's LR moves on digits (its level search); the former default's never
#: does (its over-confidence signal stays 0).
STATIC = "uncertainty:mode=anneal,signal=overconfidence,trigger=threshold"
FREE = ["constant", "prodigy", "uncertainty", STATIC]
#: Arms told the budget: one run per budget.
AWARE = ["cosine", "linear", "onecycle", "wsd"]
BUDGETS = (2, 4)


@pytest.fixture(scope="session")
def digits_anytime(tmp_path_factory) -> Path:
    """The anytime study's two TOMLs at tiny sizes on digits (3 seeds, budgets 2 and 4):
    4 budget-free and 4 budget-aware arms, 36 runs; a few seconds of CPU."""
    out = tmp_path_factory.mktemp("digits_anytime") / "runs"
    free = ["--config", STUDY / "anytime_free.toml", "--schedules", *FREE,
            "--epochs", max(BUDGETS)]  # fmt: skip
    assert main([str(a) for a in ["run", *free, *TINY, "--out", out]]) == 0
    for epochs in BUDGETS:
        aware = ["--config", STUDY / "anytime_aware.toml", "--schedules", *AWARE,
                 "--epochs", epochs]  # fmt: skip
        assert main([str(a) for a in ["run", *aware, *TINY, "--out", out]]) == 0
    return out

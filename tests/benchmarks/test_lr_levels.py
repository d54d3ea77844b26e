"""benchmarks/lr_levels.py on a real tiny store: the level the search holds, Prodigy's step
size and the tuned LRs, each read from where the runs recorded it."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

from uncertainty_lr.cli import main
from uncertainty_lr.experiments.config import RunConfig
from uncertainty_lr.experiments.store_reader import StoreReader
from uncertainty_lr.experiments.sweep import run_sweep
from uncertainty_lr.experiments.tuning import load_choices

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import lr_levels  # noqa: E402


def test_levels_are_read_where_the_runs_recorded_them(tmp_path):
    base = RunConfig(problem="digits_mlp", epochs=3, train_size=300, val_size=100, test_size=200)
    configs = [replace(base, schedule=s, seed=seed) for s in ("uncertainty", "prodigy", "cosine")
               for seed in (0, 1)]  # fmt: skip
    results = {(r.config["schedule"], r.config["seed"]): r for r in run_sweep(configs, tmp_path / "runs", progress=False)}  # fmt: skip
    found = lr_levels.levels(str(tmp_path / "runs"))["digits_mlp"]
    assert set(found) == {"uncertainty", "prodigy @1", "prodigy @last"}  # 3 epochs: no @6
    for seed in (0, 1):
        held = results["uncertainty", seed].history[2]["lr_first"]  # epoch 3's first step
        start = results["uncertainty", seed].config["lr"]
        assert held == found["uncertainty"][seed] and held > start  # the search raised it
        prodigy = results["prodigy", seed].history
        assert found["prodigy @1"][seed] == prodigy[0]["lr"]
        assert found["prodigy @last"][seed] == prodigy[-1]["lr"]

    tune = ["tune", "--problem", "digits_mlp", "--schedules", "constant", "onecycle", "--seeds",
            "100", "--lrs", "0.001", "0.01", "--epochs", "1", "--train-size", "300",
            "--val-size", "100", "--test-size", "200", "--quiet", "--no-report",
            "--out", str(tmp_path / "tuned")]  # fmt: skip
    assert main(tune) == 0
    tuned = load_choices(StoreReader(tmp_path / "tuned"))
    text = lr_levels.markdown(lr_levels.levels(str(tmp_path / "runs")), tuned)
    peak = tuned["digits_mlp", "onecycle"]["lr"] * lr_levels.ONECYCLE_PEAK
    assert "tuned constant | tuned onecycle | tuned one-cycle peak |" in text
    assert text.splitlines()[-1].endswith(f"| {peak:.2g} |")

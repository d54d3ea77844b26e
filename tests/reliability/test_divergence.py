"""A schedule driven to a huge LR diverges: status 'diverged', history kept, sweep goes on.

The uncertainty schedule stepping every batch on the training entropy with a tiny
threshold, step 0.99 and no real ceiling nearly doubles plain SGD's LR per batch: from
0.01 it passes 1e6 during epoch 3 and the loss turns NaN, while the constant baseline at
0.01 trains normally. Seed 0's diverged run comes before seed 1's runs in the sweep.
"""

from __future__ import annotations

import math
import re

import pytest

from uncertainty_lr.cli import main
from uncertainty_lr.experiments.store import Store

RUNAWAY = "uncertainty:mode=threshold,signal=train_entropy,every=step,threshold=0.0001,step_size=0.99,max_lr=1e12"
EPOCHS = 4


@pytest.fixture(scope="module")
def diverged_sweep(tmp_path_factory):
    """The finished sweep folder (with its report) and the CLI's exit code and output."""
    out = tmp_path_factory.mktemp("divergence") / "out"
    args = ["run", "--problem", "digits_mlp", "--schedule", "constant", RUNAWAY,
            "--optimizer", "sgd", "--lr", "0.01", "--seeds", "0", "1", "--epochs", str(EPOCHS),
            "--train-size", "300", "--batch-size", "32", "--threads", "1", "--quiet",
            "--out", str(out)]  # fmt: skip
    code = main(args)
    return out, code, args


def test_diverged_run_is_marked_and_keeps_its_history(diverged_sweep) -> None:
    out, code, _ = diverged_sweep
    assert code == 0
    with Store(out, create=False) as store:
        runs = {(r["schedule"].split(":")[0], r["seed"]): r for r in store.runs()}
        assert len(runs) == 4
        for seed in (0, 1):
            run = runs["uncertainty", seed]
            assert run["status"] == "diverged" and run["error"] is None
            assert run["test_accuracy"] is None
            rows = store.epochs(run["run_id"])
            # Every epoch before the blow-up is kept with its real numbers...
            assert [r["epoch"] for r in rows] == list(range(1, len(rows) + 1))
            assert 2 <= len(rows) < EPOCHS and run["epochs_done"] == len(rows)
            for row in rows[:-1]:
                assert all(math.isfinite(row[k]) for k in ("train_loss", "val_loss", "lr"))
            assert rows[-2]["lr"] > 100 * rows[0]["lr"]  # the LR really ran away
            # ...and the last row says where and why it stopped.
            last = rows[-1]
            assert last["train_loss"] is None and "train_loss" in last["nonfinite"]
            assert last["diverged_at"].startswith(f"train_loss at epoch {len(rows)}, step ")
            baseline = runs["constant", seed]
            assert baseline["status"] == "done" and baseline["epochs_done"] == EPOCHS
            assert 0.5 < baseline["test_accuracy"] <= 1.0
        leftovers = list((out / "checkpoints").glob("*"))
        assert leftovers == [], leftovers


def test_rerun_keeps_diverged_runs_as_they_are(diverged_sweep) -> None:
    out, _, args = diverged_sweep
    with Store(out, create=False) as store:
        before = (store.runs(), store.epochs())
    assert main([*args, "--no-report"]) == 0
    with Store(out, create=False) as store:
        assert (store.runs(), store.epochs()) == before


def test_report_names_the_diverged_runs(diverged_sweep) -> None:
    out, _, _ = diverged_sweep
    label = RUNAWAY.split(":")[0]
    md = (out / "report" / "report.md").read_text(encoding="utf-8")
    html = (out / "report" / "report.html").read_text(encoding="utf-8")
    for text in (md, html):
        assert "runs (done / diverged / failed / running)" in text
        assert "2 run(s) diverged:" in text
        assert re.search(rf"{label}:every=step\S* seed 0 \(after \d epochs\)", text), text[:2000]
        assert "seed 1 [diverged]" in text
    assert "| 2 / 2 / 0 / 0 |" in md
    assert "<td>2 / 2 / 0 / 0</td>" in html

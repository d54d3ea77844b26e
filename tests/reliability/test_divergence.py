"""A schedule driven to a huge LR diverges: status 'diverged', history kept, sweep goes on.

The uncertainty schedule stepping every batch on the training entropy with a tiny
threshold, step 0.3 and no real ceiling raises plain SGD's LR 1.3x per batch: from 0.01 it
passes 0.3 in epoch 2, and in epoch 3 the training loss explodes to ~1e4 (finite: a NaN
check alone would call the run done), past the explosion limit 10 x ln 10. The constant
baseline at 0.01 trains normally. Seed 0's diverged run comes before seed 1's in the sweep.
"""

from __future__ import annotations

import json
import math
import re

import pytest

from uncertainty_lr.cli import main
from uncertainty_lr.experiments.store import Store

RUNAWAY = "uncertainty:mode=threshold,signal=train_entropy,every=step,threshold=0.0001,step_size=0.3,max_lr=1e12"
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
            config = run["config"]
            base = (json.loads(config) if isinstance(config, str) else config)["lr"]
            assert rows[-2]["lr"] > 3 * base  # the LR really ran away (x1.3 every step)
            # ...and the last row says where and why it stopped.
            last = rows[-1]
            assert last["train_loss"] is None and "train_loss" in last["nonfinite"]
            # (which loss crosses first depends on the torch release's kernels: torch 2.4's
            # validation loss does, an epoch sooner)
            assert re.fullmatch(rf"(train|val)_loss \S+ above 10 x ln 10 = 23\.03 at epoch {len(rows)}",
                                last["diverged_at"]), last["diverged_at"]  # fmt: skip
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


@pytest.mark.parametrize("lr", [1e6, 1e3])
def test_adam_at_an_absurd_lr_explodes_without_nan_and_is_diverged(tmp_path, lr):
    # Adam keeps every loss finite here (training loss ~1e4 at lr 1e3, ~1e14 at 1e6), which
    # a NaN check alone called 'done'; the explosion rule stops it in its first epoch.
    from uncertainty_lr.experiments.config import RunConfig
    from uncertainty_lr.experiments.run import train

    config = RunConfig(problem="digits_mlp", optimizer="adam", lr=lr, epochs=3, train_size=300,
                       batch_size=32)  # fmt: skip
    with Store(tmp_path) as store:
        result = train(config=config, store=store)
        assert result.status == "diverged" and result.test == {}
        (run,) = store.runs()
        assert run["status"] == "diverged" and run["test_accuracy"] is None
        (row,) = store.epochs(run["run_id"])  # stopped at the end of epoch 1
        assert re.fullmatch(
            r"(train|val)_loss \S+ above 10 x ln 10 = 23\.03 at epoch 1", row["diverged_at"]
        ), row["diverged_at"]
        loss = float(row["diverged_at"].split()[1])
        assert math.isfinite(loss) and loss > 1e3


def test_explosion_limit_is_ten_times_chance_cross_entropy():
    from uncertainty_lr.experiments.loop import (
        EXPLOSION_FACTOR,
        Diverged,
        check_losses,
        explosion_limit,
    )

    assert EXPLOSION_FACTOR == 10.0
    assert explosion_limit(10) == pytest.approx(10 * math.log(10))
    assert explosion_limit(2) == pytest.approx(6.931, abs=1e-3)  # IMDB: overfit stays below
    check_losses({"train_loss": 2.0, "val_loss": 6.9}, 2, epoch=4)  # within: no exception
    with pytest.raises(Diverged, match=r"^val_loss 7 above 10 x ln 2 = 6\.931 at epoch 4$"):
        check_losses({"train_loss": 2.0, "val_loss": 7.0}, 2, epoch=4)
    with pytest.raises(Diverged, match=r"^train_loss at epoch 2$"):
        check_losses({"train_loss": math.inf, "val_loss": 1.0}, 10, epoch=2)

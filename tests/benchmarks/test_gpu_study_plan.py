"""benchmarks/gpu_study.py's planning parts, without training: arms, grid, sizing, deadline,
tally, and gpu_pack's count of what travels to the GPU machine."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import gpu_pack  # noqa: E402
import gpu_study  # noqa: E402
from gpu_study_tally import Tally, paired  # noqa: E402


def test_arms_come_from_the_registry_and_unknown_ones_are_skipped_with_a_note():
    arms, notes = gpu_study.known_arms(
        ("uncertainty", "onecycle", "uncertainty:nonsense=1", "nope")
    )
    assert [(a.spec, a.budget_aware) for a in arms] == [("uncertainty", False), ("onecycle", True)]
    assert len(notes) == 2 and "uncertainty:nonsense=1" in notes[0] and "nope" in notes[1]


def test_the_study_arms_include_every_baseline_the_issue_names():
    names = {gpu_study.parse_schedule_spec(s)[0] for s in gpu_study.ARMS}
    assert names == {"uncertainty", "onecycle", "linear", "wsd", "constant", "schedule_free"}
    assert "uncertainty:mode=threshold" in gpu_study.ARMS


def test_grid_runs_budget_aware_arms_per_budget_and_the_rest_once_at_the_longest():
    arms, _ = gpu_study.known_arms(("constant", "linear"))
    runs = gpu_study.grid(arms, (10, 20), 2)
    assert [(seed, arm.spec, epochs) for seed, arm, epochs in runs] == [
        (0, "constant", 20), (0, "linear", 10), (0, "linear", 20),
        (1, "constant", 20), (1, "linear", 10), (1, "linear", 20),
    ]  # fmt: skip


def test_choose_prefers_seeds_then_shorter_budgets_and_says_what_it_cut():
    arms, _ = gpu_study.known_arms(("constant", "linear"))
    size = gpu_study.Size(budgets=(10, 20), seeds=(3, 5))
    cost = gpu_study.Probe(epoch_s=1.0, setup_s=0.0)  # one seed: 20 + 10 + 20 = 50 epochs
    runs, budgets, cuts = gpu_study.choose(arms, size, cost, 5 * 50 * 1.1)
    assert (len(runs), budgets, cuts) == (15, (10, 20), [])
    runs, budgets, cuts = gpu_study.choose(arms, size, cost, 4 * 50 * 1.1)
    assert len(runs) == 12 and budgets == (10, 20) and cuts[0].startswith("seeds 4 (all 5 seeds")
    runs, budgets, cuts = gpu_study.choose(arms, size, cost, 3 * 40 * 1.1)  # 8 + 16 + 16
    assert len(runs) == 9 and budgets == (8, 16) and "budgets (10, 20) -> (8, 16)" in cuts[0]
    runs, budgets, cuts = gpu_study.choose(arms, size, cost, 10.0)
    assert budgets == (5, 10) and "the deadline stops what does not fit" in cuts[0]


def test_deadline_stops_a_run_whose_remaining_epochs_would_pass_it():
    deadline = gpu_study.Deadline(time.monotonic() + 100)
    run = {"run_id": "r1", "config": {"epochs": 5}}
    deadline.on_run_start(run)
    deadline.last -= 10  # an epoch of 10 s: 4 more fit in 100 s
    deadline.on_epoch_end(run, 1, {})
    deadline.last -= 30  # the slowest epoch now 30 s: 3 more would take 90 s
    deadline.on_epoch_end(run, 2, {})
    deadline.at = time.monotonic() + 50  # 2 more epochs of 30 s do not fit
    deadline.last -= 30
    with pytest.raises(gpu_study.OutOfTime, match="stopped after epoch 3") as stop:
        deadline.on_epoch_end(run, 3, {})
    assert stop.value.run_id == "r1"
    deadline.on_epoch_end(run, 5, {})  # the last epoch never stops


def result(status="done", test=None, accs=()):
    return SimpleNamespace(status=status, test={"test_accuracy": test},
                           history=[{"test_accuracy": a} for a in accs])  # fmt: skip


def test_tally_reads_each_budget_from_the_right_epoch(capsys):
    tally = Tally((1, 2))
    tally.add("p", "constant", False, 0, 2, result(test=0.5, accs=(0.3, 0.5)), 1.0)
    tally.add("p", "linear", True, 0, 1, result(test=0.4), 1.0)
    tally.add("p", "linear", True, 0, 2, result(test=0.6), 1.0)
    tally.add("p", "onecycle", True, 0, 2, result("diverged"), 1.0)
    assert tally.accuracy[("p", "constant", 1)] == {0: 0.3}
    assert tally.accuracy[("p", "constant", 2)] == {0: 0.5}
    assert tally.accuracy[("p", "linear", 1)] == {0: 0.4}
    assert tally.accuracy[("p", "linear", 2)] == {0: 0.6}
    assert not tally.accuracy[("p", "onecycle", 2)]
    assert "diverged" in capsys.readouterr().out


def test_paired_interval_by_hand():
    # differences 0.01, 0.03, 0.02: mean 0.02, sd 0.01, t(0.975, 2) = 4.3027
    text = paired({0: 0.51, 1: 0.53, 2: 0.52}, {0: 0.50, 1: 0.50, 2: 0.50})
    assert text == "+0.0200 [-0.0048, +0.0448] (n=3)"


def test_travel_bytes_counts_the_tree_git_sends_and_the_carried_folder(tmp_path):
    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / ".gitignore").write_text("/.gpu/\n/ignored\n")  # 16 bytes
    (tmp_path / "tracked.txt").write_text("x" * 100)
    git("add", ".")
    (tmp_path / "untracked.txt").write_text("y" * 10)
    (tmp_path / "ignored").write_text("z" * 1000)
    (tmp_path / ".gpu" / "a").mkdir(parents=True)
    (tmp_path / ".gpu" / "a" / "data").write_bytes(b"\0" * 50)
    assert gpu_pack.travel_bytes(tmp_path, [".gpu"]) == {"tree": 16 + 100 + 10, ".gpu": 50}
    assert gpu_pack.is_ignored(tmp_path, ".gpu/") and not gpu_pack.is_ignored(
        tmp_path, "untracked.txt"
    )

"""`tune`, `run --tuned` and `report` end to end on digits; test-set discipline; bad input."""

from __future__ import annotations

import dataclasses
import re

import pytest
import torch

import uncertainty_lr.experiments.sweep as sweep_module
from uncertainty_lr.cli import main
from uncertainty_lr.experiments.store import Store
from uncertainty_lr.experiments.tuning import load_choices

GRID = ["--problem", "digits_mlp", "--schedule", "constant", "uncertainty", "--epochs", "2"]
LRS = ["--lrs", "1e-3", "3e-2"]


def run_cli(*args):
    return main([str(a) for a in args])


def _choices(out):
    with Store(out, create=False) as store:
        return {key: item["lr"] for key, item in load_choices(store).items()}


def _val_curves(out):
    with Store(out, create=False) as store:
        return {(r["schedule"], r["config"]["lr"], r["seed"]): [e["val_accuracy"] for e in store.epochs(r["run_id"])]
                for r in store.runs()}  # fmt: skip


@pytest.fixture(scope="module")
def tuned_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("tune") / "out"
    assert run_cli("tune", *GRID, *LRS, "--out", out, "--quiet", "--no-report") == 0
    return out


def test_tune_then_tuned_run_then_report(tuned_out, capsys):
    out = tuned_out
    choices = _choices(out)
    assert set(choices) == {("digits_mlp", "constant"), ("digits_mlp", "uncertainty")}
    assert set(choices.values()) <= {1e-3, 3e-2}
    with Store(out, create=False) as store:
        runs = store.runs()
    assert len(runs) == 2 * 2 * 2  # schedules x tuning seeds x LRs
    assert {r["seed"] for r in runs} == {100, 101}
    assert {r["config"]["lr_source"] for r in runs} == {"tuning"}

    # resumable: the same command trains nothing again and says so before starting
    assert run_cli("tune", *GRID, *LRS, "--out", out, "--quiet", "--no-report") == 0
    printed = capsys.readouterr().out
    assert "tuning: 8 runs in the grid, 0 to train (0 epochs); nothing left to do" in printed
    # a wider grid: the estimate comes from the finished runs
    assert run_cli("tune", *GRID, "--lrs", "1e-3", "3e-2", "1e-1", "--seeds", "100", "--out",
                   out, "--quiet", "--no-report") == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert "tuning: 6 runs in the grid, 2 to train (4 epochs); estimate " in printed
    assert "min on one worker" in printed

    assert run_cli("run", *GRID, "--tuned", "--seeds", "0", "1", "--out", out, "--quiet") == 0
    assert run_cli("run", *GRID, "--seeds", "0", "1", "--out", out, "--quiet") == 0
    with Store(out, create=False) as store:
        compared = [r for r in store.runs() if r["config"]["lr_source"] != "tuning"]
        choices = {key[1]: item["lr"] for key, item in load_choices(store).items()}
    tuned = [r for r in compared if r["config"]["lr_source"] == "tuned"]
    given = [r for r in compared if r["config"]["lr_source"] == "given"]
    assert len(tuned) == len(given) == 4
    assert all(r["config"]["lr"] == choices[r["schedule"]] for r in tuned)
    assert {r["config"]["lr"] for r in given} == {1e-3}
    assert {r["status"] for r in compared} == {"done"}

    assert run_cli("report", out) == 0
    md = (out / "report" / "report.md").read_text()
    assert "### Does the result survive tuning?" in md
    assert (out / "report" / "ab_tests_tuned.csv").is_file()
    assert (out / "report" / "figures" / "lr_sensitivity_digits_mlp.png").is_file()


def test_garbage_test_split_changes_no_choice(tuned_out, tmp_path, monkeypatch):
    real = sweep_module.load_problem_data

    def garbage_test(cfg, **kwargs):
        data = real(cfg, **kwargs)  # every test label wrong, every test input zero
        y_test = (data.y_test + 1) % data.num_classes
        return dataclasses.replace(data, x_test=torch.zeros_like(data.x_test), y_test=y_test)

    monkeypatch.setattr(sweep_module, "load_problem_data", garbage_test)
    out = tmp_path / "garbage"
    assert run_cli("tune", *GRID, *LRS, "--out", out, "--quiet", "--no-report") == 0
    with Store(out, create=False) as store:
        assert all(r["test_accuracy"] < 0.3 for r in store.runs())  # the garbage was used
    assert _choices(out) == _choices(tuned_out)
    garbage, clean = _val_curves(out), _val_curves(tuned_out)
    assert len(garbage) == 8 and all(garbage[key] == clean[key] for key in garbage)


def test_tuning_config_keys(tmp_path):
    conf = tmp_path / "study.toml"
    conf.write_text('problems = ["digits_mlp"]\nschedules = ["cosine"]\nseeds = [0]\n'
                    'tune_seeds = [7]\nlrs = [0.001, 0.01]\nselect = "best"\nepochs = 1\n'
                    'tuned = true\n')  # fmt: skip
    out = tmp_path / "out"
    assert run_cli("tune", "--config", conf, "--out", out, "--quiet", "--no-report") == 0
    assert run_cli("run", "--config", conf, "--out", out, "--quiet", "--no-report") == 0
    with Store(out, create=False) as store:
        runs = store.runs()
        item = load_choices(store)[("digits_mlp", "cosine")]
    assert item["select"] == "best" and item["seeds"] == [7]
    assert sorted((r["seed"], r["config"]["lr_source"]) for r in runs) == [
        (0, "tuned"), (7, "tuning"), (7, "tuning")]  # fmt: skip


def test_tune_runs_on_local_workers(tmp_path):
    out = tmp_path / "out"
    args = ["--problem", "digits_mlp", "--schedule", "constant", "--epochs", "1", "--lrs", "1e-3", "1e-2"]  # fmt: skip
    assert run_cli("tune", *args, "--seeds", "100", "--out", out, "--quiet", "--no-report", "--workers", "2") == 0  # fmt: skip
    assert len(_choices(out)) == 1


@pytest.mark.parametrize(
    "args, message",
    [(["tune", "--seeds", "0", "1", "--config", "{conf}"], "disjoint from the comparison seeds; both use [0]"),
     (["tune", "--lrs", "0"], "tuning LRs must be positive numbers, got 0.0"),
     (["tune", "--select", "last"], "argument --select: invalid choice: 'last'"),
     (["run", "--tuned"], "no results store in {out}; run `uncertainty-lr tune --out {out}` first")],
)  # fmt: skip
def test_bad_tuning_input_exits_2_and_writes_nothing(tmp_path, capsys, args, message):
    conf = tmp_path / "c.toml"
    conf.write_text("seeds = [0, 2]\n")
    out = tmp_path / "out"
    argv = [a.format(conf=conf) for a in args] + ["--problem", "digits_mlp", "--out", out]
    assert run_cli(*argv) == 2
    assert message.format(out=out) in capsys.readouterr().err
    assert not out.exists()


def test_tuned_run_refuses_untuned_arms_and_tuning_seeds(tuned_out, capsys):
    before = _val_curves(tuned_out)
    assert run_cli("run", "--problem", "digits_mlp", "--schedule", "cosine", "--tuned", "--out", tuned_out) == 2  # fmt: skip
    assert "arm digits_mlp / cosine has not been tuned" in capsys.readouterr().err
    assert run_cli("run", *GRID, "--tuned", "--seeds", "101", "--out", tuned_out) == 2
    assert "both use [101]" in capsys.readouterr().err
    assert _val_curves(tuned_out) == before


def test_tune_says_when_a_pick_is_at_the_grid_s_edge_and_extend_widens_it(tmp_path, capsys):
    # At 2 epochs on 300 digits, Adam at 1e-2 beats 3e-3 (the grid's top), and 3e-2 is past
    # the best: --extend adds 3e-2 once, after which 1e-2 is interior.
    args = ["tune", "--problem", "digits_mlp", "--schedule", "constant", "--epochs", "2",
            "--train-size", "300", "--lrs", "3e-3", "1e-2", "--seeds", "100", "--quiet",
            "--no-report"]  # fmt: skip
    assert run_cli(*args, "--out", tmp_path / "plain") == 0
    printed = capsys.readouterr().out
    assert (
        "0.01  (at the grid's edge (the largest LR tried): the best LR may lie beyond it; "
        "`tune --extend` widens the grid)" in printed
    )
    assert run_cli(*args, "--extend", "--out", tmp_path / "wide") == 0
    printed = capsys.readouterr().out
    assert "extending by 1 runs at LR 0.03" in printed
    assert re.search(r"constant +0\.01\n", printed) and "grid's edge (the" not in printed
    with Store(tmp_path / "wide", create=False) as store:
        assert sorted(r["config"]["lr"] for r in store.runs()) == [3e-3, 1e-2, 3e-2]
    assert _choices(tmp_path / "wide") == {("digits_mlp", "constant"): 1e-2}

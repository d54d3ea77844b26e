"""`uncertainty-lr --version`, and every option's default stated in `--help`."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

import uncertainty_lr
from uncertainty_lr.cli import build_parser, main
from uncertainty_lr.experiments.tuning import DEFAULT_TUNING_SEEDS
from uncertainty_lr.problems import PROBLEMS


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


def option_help(command: str) -> dict[str, str]:
    """--flag -> its help text, for every option of ``command``."""
    return {action.option_strings[-1]: action.help or ""
            for action in subcommands()[command]._actions
            if action.option_strings and action.help != argparse.SUPPRESS}  # fmt: skip


def test_version_flag(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"uncertainty-lr {uncertainty_lr.__version__}"


def test_version_from_the_installed_command():
    out = subprocess.run([sys.executable, "-m", "uncertainty_lr", "--version"],
                         capture_output=True, text=True, check=True)  # fmt: skip
    assert out.stdout.strip() == f"uncertainty-lr {uncertainty_lr.__version__}"


@pytest.mark.parametrize("command", ["run", "tune", "demo", "report"])
def test_every_option_that_takes_a_value_states_its_default(command):
    for action in subcommands()[command]._actions:
        if not action.option_strings or action.nargs == 0 or "--help" in action.option_strings:
            continue  # switches are off unless given
        assert "default" in (action.help or ""), f"{command} {action.option_strings[-1]}"


@pytest.mark.parametrize("command", ["run", "tune"])
def test_training_switches_say_they_are_off(command):
    helps = option_help(command)
    for flag in ("--test-every-epoch", "--bf16", "--channels-last"):
        assert helps[flag].endswith("(default: off)")


def test_problem_dependent_defaults_name_each_problem_value():
    helps = option_help("run")
    assert "the problem's" in helps["--epochs"]
    for name, problem in PROBLEMS.items():
        if problem.defaults["epochs"] != 5:  # 5, the most common, is stated once up front
            assert f"{name} {problem.defaults['epochs']}" in helps["--epochs"]
    assert "(default: the problem's: 0.001; cifar10_fast 0.4, imdb_bert 2e-05)" in helps["--lr"]
    assert (
        "cifar10_resnet18 128" in helps["--batch-size"] and "imdb_bert 16" in helps["--batch-size"]
    )
    assert "see `list`" in helps["--train-size"]
    assert helps["--optimizer"] == "default: the problem's: adam; cifar10_fast sgd"


def test_seed_defaults_are_what_each_command_uses():
    assert "(default: 0)" in option_help("run")["--seeds"]
    seeds = " ".join(map(str, DEFAULT_TUNING_SEEDS))
    assert f"(default: {seeds})" in option_help("tune")["--seeds"]
    assert "(default: uncertainty-lr-demo)" in option_help("demo")["--out"]

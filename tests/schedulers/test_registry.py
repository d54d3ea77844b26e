"""The schedule registry validates options without torch, names each arm's builder and
describes its optimizer; a new torch schedule arm is two files."""

import json
import subprocess
import sys

import pytest

from uncertainty_lr.schedulers.registry import (
    ADAPTERS,
    SCHEDULES,
    STEPPING,
    ScheduleSpec,
    check_schedule,
    optimizer_description,
)


def test_defaults_are_filled_in():
    assert check_schedule("plateau") == {
        "factor": 0.2, "patience": 3, "min_lr": 1e-6, "metric": "val_loss"
    }  # fmt: skip
    o = check_schedule("uncertainty", {"mode": "band"})
    assert o["mode"] == "band" and o["threshold"] == 0.05 and o["signal"] == "entropy"


@pytest.mark.parametrize(
    "name, options, message",
    [
        ("warp", {}, "unknown schedule 'warp'; known: constant, step"),
        ("cosine", {"gama": 2}, "unknown option(s) gama for schedule 'cosine'; allowed: eta_min"),
        ("step", {"gamma": -1}, "gamma of schedule 'step' must be a number in (0, 1], got -1"),
        ("step", {"step_epochs": 1.5}, "step_epochs of schedule 'step' must be a positive integer, got 1.5"),
        ("plateau", {"metric": "val_accuracy"}, "metric of schedule 'plateau' must be one of val_loss"),
        ("uncertainty", {"mode": "sideways"}, "mode must be one of threshold, band, proportional, anneal, cycle; got 'sideways'"),
        ("uncertainty", {"threshold": True}, "threshold must be a number in (0, 1), got True"),
        ("uncertainty", {"signal": "vibes"}, "signal must be one of confidence, entropy"),
        ("uncertainty", {"mode": "anneal", "every": "step"}, "every='step' needs a train_* signal"),
        ("uncertainty", {"every": "step"}, "mode='cycle' is stepped every optimizer step already; leave every='epoch'"),
        ("uncertainty", {"min_lr": 1.0, "max_lr": 0.1}, "min_lr must not exceed max_lr"),
        ("uncertainty", {"max_lr": [1e-2, -1.0]}, "max_lr must be a number > 0 or a list of them"),
    ],
)  # fmt: skip
def test_bad_options_fail_with_one_line(name, options, message):
    with pytest.raises(ValueError) as err:
        check_schedule(name, options)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_validation_imports_no_torch():
    code = (
        "import sys; from uncertainty_lr.schedulers.registry import check_schedule; "
        "check_schedule('uncertainty', {'mode': 'band'}); check_schedule('onecycle'); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_budget_aware_arms_are_marked():
    budget = {name for name, spec in SCHEDULES.items() if spec.budget}
    assert budget == {
        "step",
        "cosine",
        "onecycle",
        "warmup_cosine",
        "linear",
        "wsd",
    }
    free = {"constant", "plateau", "greedy", "schedule_free", "prodigy", "uncertainty"}
    assert set(SCHEDULES) - budget == free


def test_optimizer_description_names_the_decay_each_arm_ran_with():
    assert optimizer_description("adam", "cosine", 1e-4) == "Adam, L2 weight decay 0.0001"
    assert optimizer_description("adamw", "constant", 0.01) == "AdamW, decoupled weight decay 0.01"
    sf = optimizer_description("adam", "schedule_free", 1e-4)
    assert sf.startswith("AdamWScheduleFree in place of Adam, weight decay 0.0001 (L2 added")
    assert optimizer_description("sgd", "schedule_free", 0).startswith(
        "SGDScheduleFree in place of SGD"
    )


def test_uncertainty_with_no_mode_runs_the_chosen_default_and_a_mode_the_plain_defaults():
    default = check_schedule("uncertainty")
    assert (default["mode"], default["signal"], default["average"]) == (
        "cycle", "overconfidence", 0.2,
    )  # fmt: skip
    assert (default["threshold"], default["patience"], default["decay_ratio"]) == (0.05, 2, 0.5)
    assert (default["search"], default["search_threshold"], default["total_steps"]) == (
        True, 0.1, None,
    )  # fmt: skip
    tweaked = check_schedule("uncertainty", {"decay_ratio": 1.0})  # still the default arm
    assert (tweaked["mode"], tweaked["signal"], tweaked["decay_ratio"]) == (
        "cycle", "overconfidence", 1.0,
    )  # fmt: skip
    known = check_schedule("uncertainty", {"budget": "known"})  # told the budget: no average (0)
    assert (known["mode"], known["signal"], known["average"]) == ("cycle", "overconfidence", 0.0)
    plan = check_schedule("uncertainty", {"mode": "threshold"})  # the study plan's rule
    assert (plan["signal"], plan["threshold"], plan["step_size"]) == ("entropy", 0.05, 0.1)
    assert check_schedule("uncertainty", {"mode": "anneal"})["trigger"] == "stall"


def test_the_default_arm_s_run_id_carries_what_the_default_is():
    from uncertainty_lr.experiments.config import RunConfig, run_key
    from uncertainty_lr.schedulers.registry import DEFAULT_UNCERTAINTY

    default = run_key(RunConfig(problem="digits_mlp", schedule="uncertainty"))
    options = default["schedule_options"]  # resolved: the default's values, spelled out
    assert {k: options[k] for k in DEFAULT_UNCERTAINTY} == DEFAULT_UNCERTAINTY
    named = RunConfig(problem="digits_mlp", schedule="uncertainty",
                      schedule_options={"mode": "threshold"})  # fmt: skip
    assert run_key(named)["schedule_options"]["mode"] != options["mode"]


def test_explore_is_checked_with_the_other_options_before_anything_is_built():
    explore = {"mode": "anneal", "trigger": "threshold", "signal": "calibration_gap",
               "explore": True}  # fmt: skip
    assert check_schedule("uncertainty", explore)["explore"] is True
    assert check_schedule("uncertainty")["explore"] is False  # not part of the default
    with pytest.raises(ValueError, match=r"explore needs mode='anneal', trigger='threshold'"):
        check_schedule("uncertainty", {"mode": "threshold", "explore": True})
    with pytest.raises(ValueError, match="explore must be true or false, got 'yes'"):
        check_schedule("uncertainty", {**explore, "explore": "yes"})


def test_every_entry_names_a_builder_that_exists():
    from uncertainty_lr.schedulers.baselines import load_builder

    for name, spec in SCHEDULES.items():
        assert callable(load_builder(spec.builder)), name
        assert spec.adapter in ADAPTERS and spec.every in STEPPING


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"builder": "build_step"}, "builder must look like 'module:function', got 'build_step'"),
        ({"every": "hourly"}, "every must be one of step, epoch, metric, none; got 'hourly'"),
        ({"adapter": "magic"}, "adapter must be one of torch, fixed, schedule_free"),
    ],
)
def test_a_malformed_entry_is_refused_in_one_line(fields, message):
    with pytest.raises(ValueError) as err:
        ScheduleSpec(**{"description": "x", "builder": "m:f", **fields})
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


#: A plain torch schedule arm as a user would add it: one entry in the registry ...
TOY_ENTRY = """
SCHEDULES["exponential"] = ScheduleSpec(
    "exponential decay: LR x gamma (0.5) after every epoch", f"{BASELINES}:build_exponential",
    {"gamma": Option(0.5, closed="(]", **_FRACTION)}, every="epoch",
)
"""
#: ... and its builder.
TOY_BUILDER = """
def build_exponential(optimizer, o, budget) -> torch_sched.ExponentialLR:
    return torch_sched.ExponentialLR(optimizer, gamma=o["gamma"])
"""


def test_a_new_torch_schedule_touches_two_files_and_runs_from_the_command_line(package_copy):
    package_copy.append("schedulers/registry.py", TOY_ENTRY)
    package_copy.append("schedulers/baselines.py", TOY_BUILDER)
    assert package_copy.changed() == {"schedulers/registry.py", "schedulers/baselines.py"}
    out = package_copy.run("""
        import contextlib, io, json
        from uncertainty_lr.cli import main
        from uncertainty_lr.experiments.store import Store
        from uncertainty_lr.schedulers.registry import check_schedule, needs_budget

        assert check_schedule("exponential") == {"gamma": 0.5}
        assert not needs_budget("exponential")
        try:
            check_schedule("exponential", {"gamma": 2})
            raise SystemExit("gamma=2 was accepted")
        except ValueError as error:
            assert str(error).startswith("gamma of schedule 'exponential' must be a number in (0, 1]")
        text = io.StringIO()
        with contextlib.redirect_stdout(text):
            assert main(["list"]) == 0
            assert main(["run", "--problem", "digits_mlp", "--schedule", "exponential:gamma=0.5",
                         "--epochs", "3", "--lr", "0.01", "--out", "out", "--quiet",
                         "--no-report"]) == 0
        assert "exponential          exponential decay: LR x gamma (0.5)" in text.getvalue()
        with Store("out", create=False) as store:
            (run,) = store.runs()
            print(json.dumps([e["lr"] for e in store.epochs(run["run_id"])]))
    """)
    assert json.loads(out.strip().splitlines()[-1]) == pytest.approx([0.01, 0.005, 0.0025])

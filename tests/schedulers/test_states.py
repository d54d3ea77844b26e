"""States saved in the first format load and continue exactly, for every mode.

``data/states_v1.json`` holds, per case, a policy and an UncertaintyLR state saved mid-run
in the first (flat, every option and all state side by side) format by the code at commit
b48a3c8, the signals that followed and the LRs that code gave for them.
"""

import json
from pathlib import Path

import pytest
import torch

from uncertainty_lr.schedulers.policy import UncertaintyPolicy
from uncertainty_lr.schedulers.uncertainty import UncertaintyLR

SAVED = json.loads((Path(__file__).parent / "data" / "states_v1.json").read_text())
POLICIES = {case["name"]: case for case in SAVED["policy"]}
SCHEDULERS = {case["name"]: case for case in SAVED["scheduler"]}


def test_the_saved_cases_cover_every_mode_and_trigger():
    seen = {(c["options"].get("mode", "threshold"), c["options"].get("trigger", "stall"),
             c["options"].get("explore", False)) for c in SAVED["policy"]}  # fmt: skip
    assert {m for m, _, _ in seen} == {"threshold", "band", "proportional", "anneal"}
    assert ("anneal", "threshold", True) in seen and ("anneal", "stall", False) in seen


@pytest.mark.parametrize("name", POLICIES)
def test_a_saved_policy_continues_exactly(name):
    case = POLICIES[name]
    policy = UncertaintyPolicy(case["base_lrs"])  # built with defaults: the state says all
    policy.load_state_dict(case["state"])
    assert policy.mode == case["options"].get("mode", "threshold")
    assert [policy.step(u) for u in case["after"]] == case["lrs"]


@pytest.mark.parametrize("name", POLICIES)
def test_a_saved_policy_with_a_pending_signal_continues_exactly(name):
    case = POLICIES[name]
    policy = UncertaintyPolicy(case["base_lrs"])
    policy.load_state_dict(case["state_pending"])
    got = [policy.advance(policy.applied)] + [policy.step(u) for u in case["after"][1:]]
    assert got == case["lrs_pending"]


@pytest.mark.parametrize("name", POLICIES)
def test_a_loaded_state_saves_in_the_current_format_and_round_trips(name):
    case = POLICIES[name]
    first = UncertaintyPolicy(case["base_lrs"])
    first.load_state_dict(case["state"])
    second = UncertaintyPolicy(case["base_lrs"])
    second.load_state_dict(json.loads(json.dumps(first.state_dict())))
    assert second.state_dict() == first.state_dict()
    assert [second.step(u) for u in case["after"]] == case["lrs"]


@pytest.mark.parametrize("name", SCHEDULERS)
def test_a_saved_scheduler_continues_exactly_and_restores_its_options(name):
    case = SCHEDULERS[name]
    params = [torch.nn.Parameter(torch.zeros(1)) for _ in case["base_lrs"]]
    opt = torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, case["base_lrs"])])
    scheduler = UncertaintyLR(opt)
    for group, lr in zip(opt.param_groups, case["optimizer_lrs"]):
        group["lr"] = lr  # as optimizer.load_state_dict() restores it
    scheduler.load_state_dict(case["state"])
    for key, value in case["options"].items():
        if key in ("min_lr", "max_lr"):  # the first format kept bounds per group only
            value = value if isinstance(value, list) else [value] * len(case["base_lrs"])
        assert getattr(scheduler.options, key) == value
    lrs = []
    for u in case["after"]:
        scheduler.step(u)
        lrs.append(scheduler.get_last_lr())
    assert lrs == case["lrs"]

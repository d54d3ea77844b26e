"""The mode classes: each equals its plain reference twin, bit for bit, under every shared
option; the registry covers the modes; a mode that moves per step plugs into the policy."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from uncertainty_lr.schedulers.modes import RULES, ModeRule
from uncertainty_lr.schedulers.modes.reference import anneal_factor, judged, reference_lrs
from uncertainty_lr.schedulers.options import READ_WHEN, UncertaintyOptions
from uncertainty_lr.schedulers.policy import MODES, UncertaintyPolicy

FRACTION = st.floats(0.01, 0.99)
#: The modes decided once per signal; cycle, stepped per optimizer step with a loss, has its
#: own twin (reference_cycle, tests/schedulers/test_cycle.py).
PER_SIGNAL = [mode for mode in MODES if mode != "cycle"]


@st.composite
def mode_options(draw, mode):
    """Options of ``mode``: its own drawn, the shared ones too (only ones the mode reads)."""
    o = {
        "mode": mode,
        "smoothing": draw(st.sampled_from([0.0, 0.3, 0.9])),
        "cooldown": draw(st.integers(0, 2)),
        "warmup": draw(st.integers(0, 3)),
        "warmup_start_factor": draw(st.sampled_from([0.1, 0.5, 1.0])),
        "reference": draw(st.sampled_from(["absolute", "initial", "running_min"])),
        "reference_steps": draw(st.integers(1, 3)),
        "min_lr": draw(st.sampled_from([None, 1e-5, [2e-4, 1e-6]])),
        "max_lr": draw(st.sampled_from([None, 5e-3, [2e-3, 1e-2]])),
    }
    if mode in ("threshold", "band", "proportional"):
        o["threshold"] = draw(FRACTION)
    if mode in ("threshold", "band"):
        o["step_size"] = draw(FRACTION)
    if mode == "band":
        o["band_width"] = draw(FRACTION)
    if mode == "anneal":
        o["trigger"] = draw(st.sampled_from(["stall", "threshold"]))
        o["patience"] = draw(st.integers(1, 3))
        o["tolerance"] = draw(st.sampled_from([0.0, 0.05, 0.3]))
        o["decay_ratio"] = draw(st.sampled_from([0.3, 0.5, 1.0, 2.0]))
        if o["trigger"] == "threshold":
            o["threshold"] = draw(FRACTION)
            if draw(st.booleans()):
                o.update(explore=True, reference="absolute", step_size=draw(FRACTION))
    return UncertaintyOptions(**o)


@settings(max_examples=150, deadline=None)
@given(data=st.data(), mode=st.sampled_from(PER_SIGNAL))
def test_every_mode_equals_its_reference_twin(data, mode):
    options = data.draw(mode_options(mode))
    low = -1.0 if options.explore else 0.0
    signals = data.draw(st.lists(st.floats(low, 1.0), min_size=1, max_size=30))
    policy = UncertaintyPolicy([1e-3, 1e-4], options)
    assert [policy.step(u) for u in signals] == reference_lrs(signals, [1e-3, 1e-4], options)


def test_the_twin_by_hand():
    # threshold: 0.5 > 0.05 -> x1.1, 0.01 -> x0.9; band holds inside [0.025, 0.075]
    o = UncertaintyOptions()
    assert reference_lrs([0.5, 0.01], [1.0], o) == [[1.1], [1.1 * 0.9]]
    band = UncertaintyOptions(mode="band")
    assert reference_lrs([0.06, 0.5, 0.02], [1.0], band) == [[1.0], [1.1], [1.1 * 0.9]]
    # initial reference: u0 = mean of the first two values; running_min: 1 - min / u
    assert judged([0.8, 0.4, 0.2], "initial", 2) == pytest.approx([1.0, 0.4 / 0.6, 0.2 / 0.6])
    assert judged([0.4, 0.8], "running_min", 1) == [0.0, 0.5]
    # anneal: two stalls after the low 0.5 at decision 3 -> decay from decision 5 over 3
    stall = UncertaintyOptions(mode="anneal")
    seen = [(1, 0.8), (2, 0.6), (3, 0.5), (4, 0.49), (5, 0.5)]
    assert anneal_factor(seen, 5, 10.0, stall) == pytest.approx(2 / 3)
    assert anneal_factor(seen[:4], 4, 10.0, stall) == 1.0


def test_every_mode_has_its_class_and_each_class_its_name():
    assert set(RULES) == set(MODES)
    for name, rule in RULES.items():
        assert rule.name == name and issubclass(rule, ModeRule)
        state = set(rule.STATE)
        assert not state & set(UncertaintyPolicy([1.0]).state_dict()), name


def test_each_mode_keeps_only_its_own_state():
    assert UncertaintyPolicy([1.0]).rule.state_dict() == {}
    anneal = UncertaintyPolicy([1.0], mode="anneal").rule.state_dict()
    assert anneal == {"best": None, "stall": 0, "decay_start": None, "decay_steps": 0, "gain": 1.0}


class HalveEveryStep(ModeRule):
    """A mode whose LR moves on every scheduler step, signal or not."""

    name = "halve"

    def decide(self, s, policy):
        return list(policy.lrs)

    def on_step(self, policy):
        return [lr / 2 for lr in policy.lrs]


def test_a_mode_that_moves_every_step_plugs_into_the_policy():
    policy = UncertaintyPolicy([1.0], min_lr=0.2)
    policy.rule = HalveEveryStep(policy.options)
    assert policy.start([1.0]) == [1.0]
    assert [policy.advance(policy.applied)[0] for _ in range(4)] == [0.5, 0.25, 0.2, 0.2]
    assert policy.restart() == [0.2]  # the hand-over writes the policy's LRs, moving nothing


@pytest.mark.parametrize("mode", MODES)
def test_a_mode_reads_the_options_read_when_says_it_reads(mode):
    """READS (what the class keeps) and READ_WHEN (what UncertaintyOptions refuses as
    unread) name the same options: those read in the mode under some setting of it."""
    anneal_settings = {"trigger", "explore"}  # settings only mode anneal has
    read_here = {
        name
        for name, readers in READ_WHEN.items()
        if mode in readers.get("mode", ()) or (mode == "anneal" and anneal_settings & set(readers))
    }
    # read by the policy (warmup, cooldown) or by cycle's LevelSearch, not kept by the rule
    mode_wide = {"warmup", "cooldown", "search", "search_steps", "search_margin", "search_safety"}
    assert set(RULES[mode].READS) == read_here - mode_wide
    rule = RULES[mode](UncertaintyOptions(mode=mode))
    assert all(getattr(rule, name) == getattr(UncertaintyOptions(), name) for name in rule.READS)

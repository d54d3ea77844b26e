import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from uncertainty_lr.schedulers.modes.reference_cycle import reference_cycle_lrs
from uncertainty_lr.schedulers.options import UncertaintyOptions
from uncertainty_lr.schedulers.policy import UncertaintyPolicy
from uncertainty_lr.schedulers.uncertainty import UncertaintyLR

from .torch_contract import save_and_load


def sgd(lr=0.1, groups=1):
    params = [torch.nn.Parameter(torch.zeros(2)) for _ in range(groups)]
    return torch.optim.SGD([{"params": [p], "lr": lr * (i + 1)} for i, p in enumerate(params)])


def drive(scheduler, opt, events):
    """Step ``scheduler`` once per (loss, signal) event; the LRs of the first group after each."""
    out = []
    for loss, signal in events:
        opt.step()
        if signal is not None:
            scheduler.observe(signal)
        if loss is not None:
            scheduler.observe_loss(loss)
        scheduler.step()
        out.append(scheduler.get_last_lr()[0])
    return out


def test_budget_known_searches_holds_and_ends_at_zero_at_total_steps():
    opt = sgd(0.1)
    s = UncertaintyLR(opt, mode="cycle", total_steps=10, search_steps=4, max_lr=1.6,
                      search_margin=0.1, search_safety=0.5)  # fmt: skip
    # falling losses double the LR (16x over 4 steps); 3.0 lifts the smoothed loss past
    # 1.1 x its lowest, seen after the step at multiple 8: the level is 0.5 x 8 x 0.1
    losses = [1.0, 0.9, 0.8, 0.7, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0]
    got = drive(s, opt, [(loss, None) for loss in losses])
    assert s.policy.rule.level_search.ended == "unstable"
    level = 0.1 * 0.5 * 8.0
    # no trigger: the decay starts at floor(0.8 x 10) = 8 and reaches 0 at 10 (min_lr clamps)
    assert got[:4] == pytest.approx([0.2, 0.4, 0.8, 1.6])
    assert got[4:8] == pytest.approx([level] * 4)
    assert got[8:] == pytest.approx([level * 0.5, 0.1 * 1e-3])


def test_the_trigger_places_the_decay_start_within_the_window():
    # over-confident twice in a row without a new low: fires at step 3, earliest is 5 of 10
    events = [(None, None), (None, 0.2), (None, 0.3), (None, 0.3)] + [(None, None)] * 6
    opt = sgd(0.1)
    s = UncertaintyLR(opt, mode="cycle", total_steps=10, search=False)
    got = drive(s, opt, events)
    assert s.policy.rule.decay_start == 5
    assert got == pytest.approx([0.1] * 5 + [0.1 * (10 - t) / 5 for t in range(6, 10)] + [1e-4])


def test_budget_free_decays_over_half_the_steps_so_far_and_says_when_it_is_done():
    opt = sgd(0.1)
    s = UncertaintyLR(opt, mode="cycle", search=False)  # fires at step 4: decay of 2 steps
    got = drive(s, opt, [(None, None), (None, 0.3), (None, 0.4), (None, 0.4), (None, None)])
    assert got == [0.1] * 4 + [pytest.approx(0.05)] and not s.annealed
    assert drive(s, opt, [(None, None)]) == pytest.approx([1e-4]) and s.annealed


def test_an_over_confident_signal_backs_off_and_a_calm_one_at_the_top_holds():
    opt = sgd(0.1)
    s = UncertaintyLR(opt, mode="cycle", search_steps=2, max_lr=0.4, search_safety=0.5)
    got = drive(s, opt, [(1.0, None), (0.9, 0.2), (0.1, None)])  # 0.2 > search_threshold 0.1
    assert got == pytest.approx([0.2, 0.1, 0.1])
    assert s.policy.rule.level_search.ended == "over-confident" and not s.wants_loss
    opt = sgd(0.1)
    s = UncertaintyLR(opt, mode="cycle", search_steps=2, max_lr=0.4)
    got = drive(s, opt, [(1.0, None), (0.9, None), (0.8, 0.01), (3.0, None)])
    assert got == pytest.approx([0.2, 0.4, 0.4, 0.4])
    assert s.policy.rule.level_search.ended == "held"


def test_the_search_settles_below_the_base_lr_when_the_base_lr_is_unstable():
    opt = sgd(0.1)
    s = UncertaintyLR(opt, mode="cycle", search_steps=1, max_lr=0.2, search_safety=0.5)
    assert drive(s, opt, [(1.0, None), (math.nan, None)]) == pytest.approx([0.2, 0.05])


def test_loss_tensors_are_read_and_other_modes_ignore_the_loss():
    opt = sgd(0.1)
    s = UncertaintyLR(opt, mode="cycle", search_steps=1, max_lr=0.2)
    s.observe_loss(torch.tensor(1.0))
    opt.step()
    s.step()
    assert s.get_last_lr() == pytest.approx([0.2])
    plain = UncertaintyLR(sgd(0.1), mode="threshold")
    plain.observe_loss(1.0)
    assert not plain.wants_loss


@st.composite
def histories(draw):
    n = draw(st.integers(1, 30))
    loss = st.one_of(st.none(), st.floats(0.01, 3.0), st.just(math.inf))
    signal = st.one_of(st.none(), st.floats(0.0, 0.3))
    return draw(st.lists(st.tuples(loss, signal), min_size=n, max_size=n))


@settings(max_examples=150, deadline=None)
@given(
    events=histories(),
    total=st.one_of(st.none(), st.integers(1, 40)),
    shape=st.sampled_from(["linear", "sqrt"]),
    search=st.booleans(),
    smoothing=st.sampled_from([0.0, 0.5]),
    back_off=st.sampled_from([0.1, 0.15]),
)
def test_the_fast_path_equals_the_reference_twin(events, total, shape, search, smoothing, back_off):
    options = UncertaintyOptions(mode="cycle", total_steps=total, decay_shape=shape,
                                 search=search, smoothing=smoothing, search_steps=6,
                                 search_threshold=back_off,
                                 decay_earliest=0.3, patience=1)  # fmt: skip
    policy = UncertaintyPolicy([0.1, 0.3], options)
    policy.start([0.1, 0.3])
    got = []
    for loss, signal in events:
        if signal is not None:
            policy.observe(signal)
        if loss is not None:
            policy.observe_loss(loss)
        got.append(policy.advance(policy.lrs))
    assert got == reference_cycle_lrs(events, [0.1, 0.3], options)


@pytest.mark.parametrize("cut", [2, 5, 9])
def test_resume_mid_search_and_mid_decay_continues_exactly(cut):
    events = [(1.0 - 0.05 * k, 0.2 if k % 3 == 2 else None) for k in range(12)]
    options = dict(mode="cycle", total_steps=12, search_steps=6, decay_earliest=0.3)
    opt = sgd(0.1, groups=2)
    whole = drive(UncertaintyLR(opt, **options), opt, events)
    opt = sgd(0.1, groups=2)
    first = UncertaintyLR(opt, **options)
    head = drive(first, opt, events[:cut])
    state, opt_state = save_and_load(first.state_dict()), opt.state_dict()
    opt2 = sgd(0.1, groups=2)
    opt2.load_state_dict(opt_state)
    second = UncertaintyLR(opt2, **options)
    second.load_state_dict(state)
    assert head + drive(second, opt2, events[cut:]) == whole


@pytest.mark.parametrize(
    "options, message",
    [
        (
            {"mode": "threshold", "total_steps": 10},
            "total_steps=10 does nothing in mode 'threshold'",
        ),
        ({"mode": "cycle", "warmup": 2}, "warmup=2 does nothing in mode 'cycle'"),
        ({"mode": "cycle", "decay_earliest": 0.9}, "decay_earliest must not exceed decay_latest"),
        ({"mode": "cycle", "search_steps": 0}, "search_steps must be a positive integer or None"),
        ({"mode": "cycle", "total_steps": 0}, "total_steps must be a positive integer or None"),
    ],
)
def test_bad_options_are_refused_in_one_line(options, message):
    with pytest.raises(ValueError, match=message):
        UncertaintyLR(sgd(), **options)

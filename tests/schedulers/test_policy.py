"""UncertaintyPolicy: exact arithmetic of each mode, bounds, references, state and bad input."""

import math
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from uncertainty_lr.schedulers.policy import UncertaintyPolicy, proportional_factor


def run(policy, signals):
    return [policy.step(u)[0] for u in signals]


def test_threshold_mode_exact_arithmetic():
    p = UncertaintyPolicy([1.0], threshold=0.05, step_size=0.1)
    # above the threshold: x1.1; at or below: x0.9
    assert run(p, [0.5, 0.5, 0.05, 0.01]) == pytest.approx([1.1, 1.21, 1.089, 0.9801], abs=1e-15)


def test_default_bounds_are_stated_multiples():
    p = UncertaintyPolicy([1e-3])
    assert p.max_lrs == [1e-2] and p.min_lrs == [pytest.approx(1e-6)]
    lrs = run(p, [1.0] * 100)
    assert lrs[-1] == pytest.approx(1e-2)
    lrs = run(p, [0.0] * 500)
    assert lrs[-1] == pytest.approx(1e-6)


def test_band_mode_holds_inside_band():
    p = UncertaintyPolicy([1.0], threshold=0.2, step_size=0.5, mode="band", band_width=0.5)
    # band is [0.1, 0.3]: 0.35 -> x1.5, 0.2 -> hold, 0.1 -> hold, 0.05 -> x0.5
    assert run(p, [0.35, 0.2, 0.1, 0.05]) == pytest.approx([1.5, 1.5, 1.5, 0.75])


def test_proportional_mode_formula():
    p = UncertaintyPolicy([2.0], threshold=0.1, mode="proportional", max_lr=20.0)
    # ratio 1 -> factor 1; ratio 2 -> 10 ** ((4-1)/(4+1)) = 10 ** 0.6
    assert p.step(0.1) == [pytest.approx(2.0)]
    assert p.step(0.2) == [pytest.approx(2.0 * 10**0.6)]
    assert p.step(0.0) == [pytest.approx(2.0 / 10)]  # ratio 0 -> 1/M, above min_lr = 2e-3
    assert proportional_factor(1e9, 10.0) == pytest.approx(10.0)


def test_smoothing_is_an_ema():
    p = UncertaintyPolicy([1.0], smoothing=0.5)
    p.step(1.0)
    p.step(0.0)
    assert p.ema == 0.5
    p.step(0.0)
    assert p.ema == 0.25


def test_cooldown_holds_after_a_change():
    p = UncertaintyPolicy([1.0], step_size=0.5, cooldown=2)
    assert run(p, [1.0, 1.0, 1.0, 1.0]) == pytest.approx([1.5, 1.5, 1.5, 2.25])


def test_warmup_ramps_linearly_then_engages():
    p = UncertaintyPolicy([1.0], warmup=4, warmup_start_factor=0.2, step_size=0.5)
    assert p.lrs == [pytest.approx(0.2)]
    assert run(p, [1.0] * 5) == pytest.approx([0.4, 0.6, 0.8, 1.0, 1.5])


def test_initial_reference_divides_by_first_values():
    p = UncertaintyPolicy(
        [1.0], reference="initial", reference_steps=2, threshold=0.5, step_size=0.5
    )
    # u0 = mean(0.8, 0.4) = 0.6 after two steps; judged: 1.0, 0.4/0.6, 0.2/0.6
    run(p, [0.8, 0.4])
    assert p.last_signal == pytest.approx(0.4 / 0.6)
    p.step(0.2)
    assert p.last_signal == pytest.approx(0.2 / 0.6)
    assert p.lrs == [pytest.approx(1.5 * 1.5 * 0.5)]


def test_running_min_reference():
    p = UncertaintyPolicy([1.0], reference="running_min", threshold=0.25)
    p.step(0.4)
    assert p.last_signal == 0.0  # at its minimum: fine-tune
    p.step(0.8)
    assert p.last_signal == pytest.approx(0.5)  # twice the best level: explore


def test_per_group_bounds_and_ratios():
    p = UncertaintyPolicy([1.0, 0.1], min_lr=[0.5, 0.01], max_lr=[4.0, 0.4])
    lrs = [p.step(1.0) for _ in range(3)][-1]
    assert lrs[0] / lrs[1] == pytest.approx(10.0)


@settings(max_examples=60, deadline=None)
@given(
    signals=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=60),
    mode=st.sampled_from(["threshold", "band", "proportional"]),
    reference=st.sampled_from(["absolute", "initial", "running_min"]),
    smoothing=st.floats(0.0, 0.99),
    warmup=st.integers(0, 5),
    cooldown=st.integers(0, 3),
)
def test_bounds_never_crossed(signals, mode, reference, smoothing, warmup, cooldown):
    p = UncertaintyPolicy(
        [1e-3, 1e-2],
        min_lr=[1e-5, 1e-4],
        max_lr=[5e-3, 5e-2],
        mode=mode,
        reference=reference,
        smoothing=smoothing,
        warmup=warmup,
        cooldown=cooldown,
    )
    for u in signals:
        lrs = p.step(u)
        assert 1e-5 <= lrs[0] <= 5e-3 and 1e-4 <= lrs[1] <= 5e-2
        assert p.last_signal is not None and 0.0 <= p.last_signal <= 1.0


@settings(max_examples=40, deadline=None)
@given(
    signals=st.lists(st.floats(0.0, 1.0), min_size=2, max_size=40),
    mode=st.sampled_from(["threshold", "band", "proportional"]),
    reference=st.sampled_from(["absolute", "initial", "running_min"]),
    data=st.data(),
)
def test_restore_mid_run_continues_exactly(signals, mode, reference, data):
    cut = data.draw(st.integers(1, len(signals) - 1))
    kw = dict(
        mode=mode, reference=reference, smoothing=0.3, cooldown=1, warmup=2, reference_steps=2
    )
    whole = UncertaintyPolicy([1e-3], **kw)
    expected = [whole.step(u) for u in signals]
    first = UncertaintyPolicy([1e-3], **kw)
    got = [first.step(u) for u in signals[:cut]]
    second = UncertaintyPolicy([1e-3], **kw)
    second.load_state_dict(first.state_dict())
    got += [second.step(u) for u in signals[cut:]]
    assert got == expected


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"threshold": 0.0}, "threshold must be a number in (0, 1), got 0.0"),
        ({"threshold": 1.5}, "threshold must be a number in (0, 1), got 1.5"),
        ({"step_size": 1.0}, "step_size must be a number in (0, 1), got 1.0"),
        (
            {"mode": "wild"},
            "mode must be one of threshold, band, proportional, anneal, cycle; got 'wild'",
        ),
        ({"reference": "x"}, "reference must be one of absolute, initial, running_min; got 'x'"),
        (
            {"min_lr": 1.0, "max_lr": 0.1},
            "min_lr must not exceed max_lr, got min_lr=1 > max_lr=0.1",
        ),
        (
            {"min_lr": [1e-5, 1e-5]},
            "min_lr must be one number or a list of 1 (one per group), got 2",
        ),
        ({"smoothing": 1.0}, "smoothing must be a number in [0, 1), got 1.0"),
        ({"cooldown": -1}, "cooldown must be a non-negative integer, got -1"),
        ({"warmup": 1.5}, "warmup must be a non-negative integer, got 1.5"),
    ],
)
def test_bad_configuration(kwargs, message):
    with pytest.raises(ValueError) as err:
        UncertaintyPolicy([1e-3], **kwargs)
    assert str(err.value) == message


@pytest.mark.parametrize("lr", [0.0, -1e-3, math.nan])
def test_bad_learning_rate(lr):
    with pytest.raises(ValueError, match="learning rate must be a positive number"):
        UncertaintyPolicy([lr])


@pytest.mark.parametrize("u", [math.nan, math.inf, -0.1, 1.1, "high", None])
def test_bad_signal(u):
    p = UncertaintyPolicy([1e-3])
    with pytest.raises(ValueError, match=r"uncertainty must be a finite number in \[0, 1\], got"):
        p.step(u)
    assert p.steps == 0


def test_policy_imports_no_torch():
    code = "import sys, uncertainty_lr.schedulers.policy; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_initial_reference_of_exactly_zero_judges_as_certain():
    # A model already certain at the first signal must not read as maximally unsure.
    p = UncertaintyPolicy([1e-3], reference="initial", threshold=0.5)
    p.step(0.0)
    p.step(0.3)
    assert p.last_signal == 0.0 and p.lrs == [pytest.approx(1e-3 * 0.9 * 0.9)]


def test_advance_composes_with_an_outside_change_and_restart_ignores_it():
    p = UncertaintyPolicy([1.0, 0.5])
    assert p.advance([1.0, 0.5]) == [1.0, 0.5]  # nothing observed: no decision
    p.observe(0.9)
    assert p.advance([0.5, 0.25]) == pytest.approx([0.55, 0.275])  # halved outside, x1.1
    assert p.steps == 1 and p.pending is None
    p.observe(0.0)
    assert p.restart() == pytest.approx([0.99, 0.495])  # own track: 1.1 x 0.9


def test_anneal_holds_while_the_signal_improves_then_decays_linearly():
    # 0.8 -> 0.6 -> 0.5: new lows; 0.49 and 0.5 are within 5 % of 0.5: two stalls at
    # decision 5 -> decay over ceil(0.5 x 5) = 3 decisions: 2/3, 1/3, 0 (floored at min_lr).
    p = UncertaintyPolicy([1.0], mode="anneal", patience=2, tolerance=0.05, decay_ratio=0.5)
    lrs = [p.step(u)[0] for u in [0.8, 0.6, 0.5, 0.49, 0.5, 0.1, 0.1, 0.1, 0.1]]
    assert lrs == pytest.approx([1, 1, 1, 1, 2 / 3, 1 / 3, 1e-3, 1e-3, 1e-3], rel=1e-12)
    assert p.annealed and p.decay_start == 5 and p.decay_steps == 3


def test_anneal_never_decays_while_the_signal_keeps_falling():
    p = UncertaintyPolicy([0.1], mode="anneal", patience=1, tolerance=0.1)
    lrs = [p.step(0.9 * 0.8**k)[0] for k in range(12)]
    assert lrs == [0.1] * 12 and not p.annealed


def test_threshold_trigger_counts_decisions_above_the_threshold_in_a_row():
    # 0.06 alone is reset by 0.01; 0.07, 0.08 are two in a row at decision 6 -> decay over
    # ceil(1.0 x 6) = 6 decisions: 5/6 .. 1/6, then min_lr; the signal no longer matters.
    p = UncertaintyPolicy([1.0], mode="anneal", trigger="threshold", threshold=0.05,
                          patience=2, decay_ratio=1.0)  # fmt: skip
    signals = [0.0, 0.0, 0.06, 0.01, 0.07, 0.08, 0.0, 0.0, 0.0, 0.0, 0.0, 0.9]
    lrs = [p.step(u)[0] for u in signals]
    assert lrs == pytest.approx([1, 1, 1, 1, 1, 5 / 6, 4 / 6, 3 / 6, 2 / 6, 1 / 6, 1e-3, 1e-3])
    assert p.decay_start == 6 and p.decay_steps == 6 and p.annealed


def test_threshold_trigger_fires_only_above_the_threshold_and_not_falling():
    # at or below the threshold: never; above it but setting new lows (a model over-sure
    # at the start whose training is correcting that): never; above it and flat: at
    # `patience`, here the 3rd decision (2nd and 3rd are not 5 % below 0.2)
    low = UncertaintyPolicy([0.1], mode="anneal", trigger="threshold", threshold=0.05)
    assert [low.step(u)[0] for u in [0.05, 0.0, 0.05, 0.02] * 3] == [0.1] * 12
    falling = UncertaintyPolicy([0.1], mode="anneal", trigger="threshold")
    assert [falling.step(0.9 * 0.8**k)[0] for k in range(8)] == [0.1] * 8
    flat = UncertaintyPolicy([0.1], mode="anneal", trigger="threshold", decay_ratio=1.0)
    assert [flat.step(u)[0] for u in [0.2, 0.2, 0.21, 0.2]] == pytest.approx(
        [0.1, 0.1, 0.1 * 2 / 3, 0.1 / 3]
    )


def test_threshold_trigger_resumes_exactly_and_old_states_load_with_the_stall_trigger():
    options = dict(mode="anneal", trigger="threshold", threshold=0.05, decay_ratio=2.0)
    signals = [0.0, 0.06, 0.07, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    whole = UncertaintyPolicy([1e-3], **options)
    expected = [whole.step(u) for u in signals]
    first = UncertaintyPolicy([1e-3], **options)
    got = [first.step(u) for u in signals[:2]]  # one decision above, mid-count
    second = UncertaintyPolicy([1e-3])
    second.load_state_dict(first.state_dict())
    got += [second.step(u) for u in signals[2:]]
    assert got == expected and second.trigger == "threshold" and second.decay_start == 3
    saved = UncertaintyPolicy([1e-3], mode="anneal").state_dict()
    del saved["trigger"]  # as saved before the option existed
    restored = UncertaintyPolicy([1e-3], mode="anneal", trigger="threshold")
    restored.load_state_dict(saved)
    assert restored.trigger == "stall"


def test_explore_raises_while_under_confident_then_decays_from_the_raised_lr():
    # -0.3, -0.2, -0.06: under-confident by more than 0.05 -> x1.1 each; -0.04 and 0.0 hold;
    # 0.06, 0.07 above the threshold, not falling: decay at decision 7 over
    # ceil(0.5 x 7) = 4 decisions, from the raised LR: 3/4, 2/4, 1/4 of it, then min_lr.
    p = UncertaintyPolicy([1.0], mode="anneal", trigger="threshold", explore=True)
    signals = [-0.3, -0.2, -0.06, -0.04, 0.0, 0.06, 0.07, 0.08, -0.9, -0.9, 0.0]
    g = 1.1**3
    assert [p.step(u)[0] for u in signals] == pytest.approx(
        [1.1, 1.21, g, g, g, g, 0.75 * g, 0.5 * g, 0.25 * g, 1e-3, 1e-3], rel=1e-12
    )
    assert p.decay_start == 7 and p.decay_steps == 4 and p.annealed
    assert p.gain == pytest.approx(g)  # no exploring once the decay started


def test_explore_stops_at_max_lr_and_the_decay_starts_from_it():
    p = UncertaintyPolicy([1.0, 0.1], mode="anneal", trigger="threshold", explore=True,
                          step_size=0.5, max_lr=[2.0, 1.0], decay_ratio=1.0)  # fmt: skip
    lrs = [p.step(u) for u in [-0.5, -0.5, -0.5, 0.2, 0.2]]
    # the gain is capped by the tighter group (2.0 / 1.0), so both keep their ratio
    flat = [lr for pair in lrs for lr in pair]
    assert flat == pytest.approx([1.5, 0.15, 2.0, 0.2, 2.0, 0.2, 2.0, 0.2, 1.6, 0.16])
    assert p.decay_steps == 5  # the decay (from 2.0 / 0.2) over ceil(1.0 x 5) decisions


def test_explore_trigger_matches_the_overconfidence_trigger_on_the_floored_signal():
    # the trigger judges max(s, 0): the signed gap anneals exactly when its positive
    # part (overconfidence) would, and the LR only differs by the gain
    signals = [-0.02, 0.0, 0.08, 0.07, -0.01, 0.09, 0.09, 0.1, 0.1, 0.1]
    signed = UncertaintyPolicy([1e-3], mode="anneal", trigger="threshold", explore=True)
    floored = UncertaintyPolicy([1e-3], mode="anneal", trigger="threshold")
    assert [signed.step(u) for u in signals] == [floored.step(max(u, 0.0)) for u in signals]


def test_explore_takes_signed_signals_only_where_it_is_on():
    with pytest.raises(ValueError, match=r"in \[0, 1\], got -0.1"):
        UncertaintyPolicy([1.0], mode="anneal", trigger="threshold").step(-0.1)
    p = UncertaintyPolicy([1.0], mode="anneal", trigger="threshold", explore=True)
    with pytest.raises(ValueError, match=r"in \[-1, 1\], got -1.5"):
        p.step(-1.5)
    with pytest.raises(ValueError, match=r"in \[-1, 1\], got -1.5"):
        p.observe(-1.5)
    for bad in ({"mode": "threshold"}, {"mode": "anneal"},
                {"mode": "anneal", "trigger": "threshold", "reference": "initial"}):  # fmt: skip
        with pytest.raises(ValueError, match=r"explore needs mode='anneal', trigger='threshold'"):
            UncertaintyPolicy([1.0], explore=True, **bad)


def test_explore_resumes_exactly_and_old_states_load_without_it():
    options = dict(mode="anneal", trigger="threshold", explore=True, decay_ratio=1.0)
    signals = [-0.4, -0.3, -0.1, 0.0, 0.1, 0.1, 0.1, 0.1, 0.1]
    whole = UncertaintyPolicy([1e-3], **options)
    expected = [whole.step(u) for u in signals]
    first = UncertaintyPolicy([1e-3], **options)
    got = [first.step(u) for u in signals[:2]]  # mid-exploration
    second = UncertaintyPolicy([1e-3])
    second.load_state_dict(first.state_dict())
    got += [second.step(u) for u in signals[2:]]
    assert got == expected and second.explore and second.gain == whole.gain
    saved = UncertaintyPolicy([1e-3], mode="anneal", trigger="threshold").state_dict()
    del saved["explore"], saved["gain"]  # as saved before the option existed
    restored = UncertaintyPolicy([1e-3], mode="anneal", trigger="threshold", explore=True)
    restored.load_state_dict(saved)
    assert not restored.explore and restored.gain == 1.0
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        restored.step(-0.2)


def test_anneal_resumes_exactly():
    signals = [0.7, 0.5, 0.5, 0.45, 0.46, 0.3, 0.3, 0.3]
    whole = UncertaintyPolicy([1e-3], mode="anneal", smoothing=0.3)
    expected = [whole.step(u) for u in signals]
    first = UncertaintyPolicy([1e-3], mode="anneal", smoothing=0.3)
    got = [first.step(u) for u in signals[:4]]
    second = UncertaintyPolicy([1e-3])
    second.load_state_dict(first.state_dict())
    got += [second.step(u) for u in signals[4:]]
    assert got == expected and second.mode == "anneal" and second.annealed == whole.annealed


def test_start_scales_the_current_lrs_by_the_policy_factor_from_nothing():
    # The first write: nothing of the policy is in the optimizer's LRs yet, whatever it wrote
    # before (SequentialLR resets the LRs to their initial values and starts again).
    p = UncertaintyPolicy([1.0, 0.5], warmup=2, warmup_start_factor=0.2)
    assert p.start([1.0, 0.5]) == pytest.approx([0.2, 0.1])
    assert p.start([1.0, 0.5]) == pytest.approx([0.2, 0.1])
    assert p.start([0.5, 0.5]) == pytest.approx([0.1, 0.1])  # after another schedule's factor
    p.observe(0.9)
    assert p.advance([0.2, 0.1]) == pytest.approx([0.6, 0.3])  # warmup decision 1 of 2


def test_resume_keeps_the_lrs_and_continues_the_warmup():
    p = UncertaintyPolicy([1.0], warmup=4, step_size=0.5)
    assert p.resume(2, [0.55]) == [0.55] and p.steps == 2
    assert [p.step(1.0)[0] for _ in range(3)] == pytest.approx([0.775, 1.0, 1.5])


def test_add_group_schedules_a_new_group_from_its_lr():
    p = UncertaintyPolicy([1.0], step_size=0.5, max_lr=8.0)
    p.step(0.9)
    p.add_group(0.1, 0.2)
    assert (p.base_lrs, p.min_lrs[1], p.max_lrs[1]) == ([1.0, 0.1], pytest.approx(1e-4), 8.0)
    assert p.step(0.9) == pytest.approx([2.25, 0.3])
    per_group = UncertaintyPolicy([1.0], max_lr=[4.0])
    with pytest.raises(ValueError, match="^max_lr was given per group, for 1 groups; a parameter"):
        per_group.add_group(0.1, 0.1)
    with pytest.raises(ValueError, match="min_lr must not exceed max_lr"):
        UncertaintyPolicy([1.0], min_lr=0.5).add_group(0.01, 0.01)  # max 10 x 0.01 < 0.5


def test_a_state_of_another_mode_makes_the_policy_one_of_that_mode():
    anneal = UncertaintyPolicy([1.0], mode="anneal", trigger="threshold")
    anneal.step(0.2)
    p = UncertaintyPolicy([1.0], mode="band", band_width=0.2)
    p.load_state_dict(anneal.state_dict())
    assert type(p.rule).__name__ == "AnnealRule" and p.options == anneal.options
    assert p.state_dict() == anneal.state_dict()
    with pytest.raises(
        AttributeError, match="'UncertaintyPolicy' object has no attribute 'band_width'"
    ):
        p.band_width  # noqa: B018


def test_a_state_missing_keys_is_refused_naming_them():
    saved = UncertaintyPolicy([1.0], mode="anneal").state_dict()
    del saved["stall"], saved["ema"]
    with pytest.raises(ValueError, match="^scheduler state is missing keys: ema, stall$"):
        UncertaintyPolicy([1.0]).load_state_dict(saved)

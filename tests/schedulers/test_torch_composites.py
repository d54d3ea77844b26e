"""torch's composite-scheduler contracts (SequentialLR, ChainedScheduler, nesting, stepping
two schedulers by hand), ported to UncertaintyLR for every mode and option.

Each test names the test of pytorch/pytorch ``test/optim/test_lrscheduler.py`` or
``test_scheduler_nested_composite*.py`` it ports. A scheduler inside a composite must give
the LRs it gives alone (the reference twin's), warmup included.
"""

import warnings

import pytest
from testkit import HANDS_OVER, NESTS, NO_HAND_OVER
from torch.optim.lr_scheduler import (
    ChainedScheduler,
    ConstantLR,
    ExponentialLR,
    LinearLR,
    SequentialLR,
    StepLR,
)

from uncertainty_lr.schedulers.uncertainty import MonitoredUncertaintyLR, UncertaintyLR

from .torch_contract import (
    BASE,
    CONFIGS,
    alone,
    lrs_of,
    save_and_load,
    signals,
    twin,
    two_groups,
)

# torch's own schedulers, stepped here without an optimizer.step(), warn about the order.
pytestmark = pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step")


def run(opt, stepper, options, observe=None, n=None):
    """LRs of ``opt`` before stepping, then after each step; ``observe`` gets each signal
    first (an UncertaintyLR inside a composite), else ``stepper`` is called with it."""
    got = [lrs_of(opt)]
    for u in signals(options)[:n]:
        if observe is not None:
            observe(u)
            stepper()
        else:
            stepper(u)
        got.append(lrs_of(opt))
    return got


@pytest.mark.parametrize("name", CONFIGS)
def test_sequentiallr_with_one_scheduler_gives_its_lrs(name):
    # the case: warmup inside SequentialLR(..., milestones=[]) started 10x too high
    options = CONFIGS[name]
    opt = two_groups()
    unc = UncertaintyLR(opt, **options)
    seq = SequentialLR(opt, [unc], milestones=[])
    assert run(opt, seq.step, options, observe=unc.observe) == alone(options)
    assert seq.get_last_lr() == lrs_of(opt)


@pytest.mark.parametrize("name", CONFIGS)
def test_sequentiallr1(name):
    # UncertaintyLR first, then ExponentialLR from the base LRs at the milestone
    options = CONFIGS[name]
    opt = two_groups()
    unc = UncertaintyLR(opt, **options)
    seq = SequentialLR(opt, [unc, ExponentialLR(opt, gamma=0.8)], milestones=[4])
    got = run(opt, seq.step, options, observe=unc.observe)
    assert got[:4] == alone(options, n=3)
    assert got[4:] == [pytest.approx([b * 0.8**k for b in BASE], rel=1e-12) for k in range(7)]


@pytest.mark.skipif(not HANDS_OVER, reason=NO_HAND_OVER)
@pytest.mark.parametrize("name", CONFIGS)
def test_sequentiallr2(name):
    # ConstantLR first, then UncertaintyLR from base x its factor, one decision taken at the
    # milestone on the last signal observed (those before it are overwritten)
    options = CONFIGS[name]
    opt = two_groups()
    unc = UncertaintyLR(opt, **options)
    seq = SequentialLR(opt, [ConstantLR(opt, factor=0.1, total_iters=3), unc], milestones=[3])
    got = run(opt, seq.step, options, observe=unc.observe)
    assert got[:3] == [[b * 0.1 for b in BASE]] * 3
    if options.get("mode") == "cycle":
        # A mode stepped per optimizer step starts its schedule at the hand-over (its epoch
        # 0, as torch's OneCycleLR does): the base LR, the signal observed before it decided
        # on; its steps count from the next one.
        assert got[3] == list(BASE) and unc.policy.rule.t == len(got) - 4
        return
    assert got[3:] == twin(options, signals(options)[2:])


@pytest.mark.parametrize("name", CONFIGS)
def test_sequentiallr4(name):
    # a later scheduler's construction does not change the initial LRs
    opt = two_groups()
    SequentialLR(opt, [ConstantLR(opt, factor=1), UncertaintyLR(opt, **CONFIGS[name])], [10])
    assert lrs_of(opt) == list(BASE)


@pytest.mark.skipif(not NESTS, reason="this torch's SequentialLR cannot restart a ChainedScheduler")
@pytest.mark.parametrize("name", CONFIGS)
def test_sequentiallr5(name):
    # a ChainedScheduler (LinearLR x UncertaintyLR) inside SequentialLR, ConstantLR after
    options = CONFIGS[name]
    opt = two_groups()
    unc = UncertaintyLR(opt, **options)
    chained = ChainedScheduler([LinearLR(opt, start_factor=0.1, total_iters=5), unc])
    seq = SequentialLR(opt, [chained, ConstantLR(opt, factor=0.5, total_iters=5)], [5])
    got = run(opt, seq.step, options, observe=unc.observe)
    linear = [0.1 + 0.9 * min(k, 5) / 5 for k in range(5)]
    expected = [[f * lr for lr in lrs] for f, lrs in zip(linear, alone(options, n=4))]
    assert got[:5] == [pytest.approx(lrs, rel=1e-12) for lrs in expected]
    assert got[5:] == [[b * 0.5 for b in BASE]] * 5 + [list(BASE)]


@pytest.mark.parametrize("name", CONFIGS)
def test_sequentiallr_no_warnings(name):
    options = CONFIGS[name]
    opt = two_groups()
    unc = UncertaintyLR(opt, **options)
    seq = SequentialLR(opt, [unc, ExponentialLR(opt, gamma=0.9)], milestones=[5])
    for u in signals(options):
        opt.step()
        unc.observe(u)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            # torch < 2.9 hands over to ExponentialLR with a deprecated epoch, and says so
            warnings.filterwarnings("ignore", "The epoch parameter in `scheduler.step")
            seq.step()


@pytest.mark.parametrize("name", CONFIGS)
def test_chained_lr1(name):
    # ChainedScheduler of one UncertaintyLR gives its LRs; get_last_lr is the last one's
    options = CONFIGS[name]
    opt = two_groups()
    unc = UncertaintyLR(opt, **options)
    chain = ChainedScheduler([unc])
    assert run(opt, chain.step, options, observe=unc.observe) == alone(options)
    assert chain.get_last_lr() == unc.get_last_lr()


@pytest.mark.parametrize("name", CONFIGS)
def test_chained_lr3(name):
    # LinearLR x UncertaintyLR: the factors multiply, step by step
    options = CONFIGS[name]
    opt = two_groups()
    unc = UncertaintyLR(opt, **options)
    chain = ChainedScheduler([LinearLR(opt, start_factor=0.4, total_iters=3), unc])
    got = run(opt, chain.step, options, observe=unc.observe)
    linear = [0.4 + 0.6 * min(k, 3) / 3 for k in range(len(got))]
    expected = [[f * lr for lr in lrs] for f, lrs in zip(linear, alone(options))]
    assert got == [pytest.approx(lrs, rel=1e-12) for lrs in expected]


@pytest.mark.parametrize("name", CONFIGS)
def test_compound_exp_and_uncertainty(name):
    # ports test_compound_*: two schedulers stepped in turn by hand multiply
    options = CONFIGS[name]
    opt = two_groups()
    exp = ExponentialLR(opt, gamma=0.9)
    unc = UncertaintyLR(opt, **options)

    def both(u):
        exp.step()
        unc.step(u)

    got = run(opt, both, options)
    expected = [[0.9**k * lr for lr in lrs] for k, lrs in enumerate(alone(options))]
    assert got == [pytest.approx(lrs, rel=1e-12) for lrs in expected]


def test_compound_reduce_lr_on_plateau1():
    # MonitoredUncertaintyLR stepped with its metric beside a StepLR
    opt = two_groups()
    monitored = MonitoredUncertaintyLR(opt)
    step = StepLR(opt, gamma=0.1, step_size=3)
    got = []
    for u in signals({}):
        opt.step()
        monitored.step(u)
        step.step()
        got.append(lrs_of(opt))
    expected = [[0.1 ** ((k + 1) // 3) * lr for lr in lrs] for k, lrs in enumerate(alone({})[1:])]
    assert got == [pytest.approx(lrs, rel=1e-12) for lrs in expected]


def nested_runs(options, make):
    """LRs of ``make(opt)`` alone and inside SequentialLR(..., milestones=[])."""
    direct_opt, nested_opt = two_groups(), two_groups()
    direct, direct_unc = make(direct_opt)
    inner, nested_unc = make(nested_opt)
    nested = SequentialLR(nested_opt, [inner], milestones=[])
    return (run(direct_opt, direct.step, options, observe=direct_unc.observe),
            run(nested_opt, nested.step, options, observe=nested_unc.observe))  # fmt: skip


@pytest.mark.skipif(not NESTS, reason="this torch's SequentialLR does not restart nested ones")
@pytest.mark.parametrize("name", CONFIGS)
def test_nested_sequential_matches_direct(name):
    options = CONFIGS[name]

    # No milestone inside: there this torch's own schedulers run one step ahead when nested.
    def make(opt):
        unc = UncertaintyLR(opt, **options)
        return SequentialLR(opt, [unc], milestones=[]), unc

    direct, nested = nested_runs(options, make)
    assert nested == direct == alone(options)


@pytest.mark.skipif(not NESTS, reason="this torch's SequentialLR does not restart nested ones")
@pytest.mark.parametrize("name", CONFIGS)
def test_nested_chained_matches_direct(name):
    options = CONFIGS[name]

    def make(opt):
        unc = UncertaintyLR(opt, **options)
        return ChainedScheduler([ConstantLR(opt, factor=0.5, total_iters=2), unc]), unc

    direct, nested = nested_runs(options, make)
    assert nested == direct
    constant = [0.5, 0.5] + [1.0] * 9
    expected = [[f * lr for lr in lrs] for f, lrs in zip(constant, alone(options))]
    assert direct == [pytest.approx(lrs, rel=1e-12) for lrs in expected]


@pytest.mark.skipif(not NESTS, reason="this torch's SequentialLR does not restart nested ones")
@pytest.mark.parametrize("name", CONFIGS)
def test_nested_sequential_scheduler_initializes_last_lr(name):
    opt = two_groups()
    unc = UncertaintyLR(opt, **CONFIGS[name])
    inner = SequentialLR(opt, [unc, ExponentialLR(opt, gamma=0.9)], milestones=[2])
    outer = SequentialLR(opt, [inner, ExponentialLR(opt, gamma=0.8)], milestones=[3])
    assert outer.get_last_lr() == inner.get_last_lr() == lrs_of(opt) == alone(CONFIGS[name])[0]


@pytest.mark.parametrize("name", CONFIGS)
def test_warmup_gives_the_same_lrs_after_a_resume_inside_sequentiallr(name):
    # the closing condition (alone, SequentialLR and ChainedScheduler are above):
    # saved mid-run through torch.save(weights_only=True) and resumed, the same LRs
    options = CONFIGS[name]
    cut = 4

    def build():
        opt = two_groups()
        unc = UncertaintyLR(opt, **options)
        return opt, unc, SequentialLR(opt, [unc], milestones=[])

    opt, unc, seq = build()
    got = run(opt, seq.step, options, observe=unc.observe, n=cut)
    saved = save_and_load({"opt": opt.state_dict(), "seq": seq.state_dict()})
    opt, unc, seq = build()
    opt.load_state_dict(saved["opt"])
    seq.load_state_dict(saved["seq"])
    for u in signals(options)[cut:]:
        unc.observe(u)
        seq.step()
        got.append(lrs_of(opt))
    assert got == alone(options)

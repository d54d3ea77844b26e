"""torch's generic LR-scheduler contracts, ported to UncertaintyLR for every mode and option.

Each test names the test of pytorch/pytorch ``test/optim/test_lrscheduler.py`` (or of the
small files beside it) it ports. Where torch steps a scheduler with ``step()``, these step
it with a signal; the LRs it must give are the reference twin's
(``schedulers.modes.reference``). Composites (SequentialLR, ChainedScheduler) are in
test_torch_composites.py. Deliberate differences are tested as such, and listed in
docs/integrations.md.
"""

import copy
import gc
import pickle
import warnings
import weakref

import pytest
import torch
from torch.optim.lr_scheduler import ReduceLROnPlateau

from uncertainty_lr.schedulers.uncertainty import MonitoredUncertaintyLR, UncertaintyLR

from .torch_contract import (
    BASE,
    CONFIGS,
    STATELESS_WARMUP,
    alone,
    lrs_of,
    save_and_load,
    signals,
    two_groups,
)

SCHEDULERS = [UncertaintyLR, MonitoredUncertaintyLR]


@pytest.mark.parametrize("name", CONFIGS)
def test_step_lr(name):
    # ports _test (test_step_lr, test_exp_lr, ...): the LRs of both groups at every epoch
    options = CONFIGS[name]
    opt = two_groups()
    scheduler = UncertaintyLR(opt, **options)
    expected = alone(options)
    for epoch, u in enumerate(signals(options)):
        assert lrs_of(opt) == expected[epoch]
        scheduler.step(u)
    assert lrs_of(opt) == expected[-1]


@pytest.mark.parametrize("cls", SCHEDULERS)
@pytest.mark.parametrize("name", CONFIGS)
def test_get_last_lr(name, cls):
    # ports _test_get_last_lr (test_get_last_lr_step_lr, ...): get_last_lr before each step
    options = CONFIGS[name]
    opt = two_groups()
    scheduler = cls(opt, **options)
    expected = alone(options)
    for epoch, u in enumerate(signals(options)):
        assert scheduler.get_last_lr() == expected[epoch]
        opt.step()
        scheduler.step(u)


@pytest.mark.parametrize("cls", SCHEDULERS)
def test_reduce_lr_on_plateau_get_last_lr_before_step(cls):
    # also test_chained_lr2_get_last_lr_before_step's premise: the LRs of construction
    assert cls(two_groups()).get_last_lr() == list(BASE)
    assert cls(two_groups(), warmup=2).get_last_lr() == [0.1 * b for b in BASE]


@pytest.mark.parametrize("name", CONFIGS)
def test_closed_form_matches_stepping(name):
    # ports _test_against_closed_form (test_closed_form_step_lr, ...): alone, the closed
    # form (what SequentialLR writes when it hands over) is what stepping wrote
    options = CONFIGS[name]
    scheduler = UncertaintyLR(two_groups(), **options)
    for u in signals(options):
        scheduler.step(u)
        assert copy.deepcopy(scheduler)._get_closed_form_lr() == scheduler.get_last_lr()


def test_new_pattern_no_warning_and_old_pattern_by_design_neither():
    # ports test_new_pattern_no_warning; test_old_pattern_warning is a deliberate difference:
    # stepping on a signal before any optimizer.step (an epoch-0 evaluation) is legitimate
    for optimizer_first in (True, False):
        opt = two_groups()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            scheduler = UncertaintyLR(opt)
            for u in signals({}):
                if optimizer_first:
                    opt.step()
                scheduler.step(u)
                opt.step()
        assert not hasattr(opt.step, "_wrapped_by_lr_sched")  # optimizer.step is not wrapped


def test_step_lr_is_constant_for_constant_epoch_by_design_refused():
    # ports _test_lr_is_constant_for_constant_epoch: step(epoch) is torch's deprecated form;
    # here an int is refused (SequentialLR before torch 2.9 passes one at a milestone)
    with pytest.raises(TypeError, match="got the int 2"):
        UncertaintyLR(two_groups()).step(2)


def test_no_cyclic_references():
    opt = two_groups()
    scheduler = UncertaintyLR(opt, mode="anneal")
    scheduler.step(0.3)
    del scheduler
    assert gc.get_referrers(opt) == []


def test_no_cyclic_references_in_step():
    def run():
        param = torch.nn.Parameter(torch.zeros(3))
        opt = torch.optim.SGD([param], lr=0.5)
        scheduler = UncertaintyLR(opt, warmup=1)
        param.sum().backward()
        opt.step()
        scheduler.step(0.4)
        return weakref.ref(scheduler)

    gc.disable()
    try:
        assert run()() is None
    finally:
        gc.enable()


@pytest.mark.parametrize("name", CONFIGS)
def test_scheduler_state_dict(name):
    # ports _check_scheduler_state_dict (test_step_lr_state_dict, ...): a scheduler built
    # with other options takes the state, options included, and goes on identically
    options = CONFIGS[name]
    opt = two_groups()
    scheduler = UncertaintyLR(opt, **options)
    for u in signals(options)[:5]:
        scheduler.step(u)
    other_opt = two_groups()
    other_opt.load_state_dict(opt.state_dict())
    other = UncertaintyLR(other_opt, mode="band", smoothing=0.9)
    other.load_state_dict(scheduler.state_dict())
    assert other.state_dict() == scheduler.state_dict()
    assert other.options == scheduler.options and other.get_last_lr() == scheduler.get_last_lr()
    for u in signals(options)[5:]:
        scheduler.step(u)
        other.step(u)
        assert other.get_last_lr() == scheduler.get_last_lr()


@pytest.mark.parametrize("weights_only", [True, False])
@pytest.mark.parametrize("cls", SCHEDULERS)
@pytest.mark.parametrize("name", CONFIGS)
def test_lr_scheduler_state_dict_load(name, cls, weights_only):
    options = CONFIGS[name]
    scheduler = cls(two_groups(), **options)
    scheduler.step(signals(options)[0])
    state = scheduler.state_dict()
    loaded = save_and_load(state, weights_only)
    assert loaded == state
    again = cls(two_groups(), **options)
    again.load_state_dict(loaded)
    assert again.state_dict() == state


def test_cycle_lr_state_dict_picklable_and_deepcopy_goes_on_alike():
    # ports test_cycle_lr_state_dict_picklable; a deep copy steps as the original does
    scheduler = UncertaintyLR(two_groups(), mode="anneal", warmup=1)
    scheduler.step(0.5)
    assert pickle.loads(pickle.dumps(scheduler.state_dict())) == scheduler.state_dict()
    twin = copy.deepcopy(scheduler)
    for u in (0.5, 0.5, 0.5):
        scheduler.step(u)
        twin.step(u)
    assert twin.get_last_lr() == scheduler.get_last_lr() and twin.annealed == scheduler.annealed


@pytest.mark.parametrize("with_signal", [True, False])
@pytest.mark.parametrize("name", CONFIGS)
def test_lr_scheduler_checkpoint(name, with_signal):
    # also test_cos_anneal_lr_continue: resumed by last_epoch on the restored optimizer, a
    # scheduler keeps the LRs it finds
    options = CONFIGS[name]
    model = torch.nn.Linear(3, 3)
    opt = torch.optim.AdamW(model.parameters())
    scheduler = UncertaintyLR(opt, **options)
    opt.step()
    scheduler.step(signals(options)[0] if with_signal else None)
    restored = torch.optim.AdamW(model.parameters())
    restored.load_state_dict(opt.state_dict())
    resumed = UncertaintyLR(restored, last_epoch=0, **options)
    assert resumed.get_last_lr() == scheduler.get_last_lr() == lrs_of(opt)
    assert resumed.last_epoch == scheduler.last_epoch == 1


def test_lr_scheduler_checkpoint_on_plateau():
    model = torch.nn.Linear(3, 3)
    opt = torch.optim.AdamW(model.parameters())
    scheduler = MonitoredUncertaintyLR(opt, warmup=2)
    opt.step()
    scheduler.step(0.4)
    restored = torch.optim.AdamW(model.parameters())
    restored.load_state_dict(opt.state_dict())
    assert MonitoredUncertaintyLR(restored, last_epoch=0, warmup=2).get_last_lr() == lrs_of(opt)


@pytest.mark.parametrize("name", STATELESS_WARMUP)
def test_resume_by_last_epoch_continues_the_warmup(name):
    options = STATELESS_WARMUP[name]
    expected = alone(options)
    opt = two_groups()
    scheduler = UncertaintyLR(opt, **options)
    for u in signals(options)[:2]:
        scheduler.step(u)
    restored = two_groups()
    restored.load_state_dict(opt.state_dict())
    resumed = UncertaintyLR(restored, last_epoch=1, **options)
    got = [resumed.get_last_lr()]
    for u in signals(options)[2:]:
        resumed.step(u)
        got.append(resumed.get_last_lr())
    assert got == expected[2:]


def test_resuming_without_initial_lr_is_a_key_error_as_in_torch():
    # LRScheduler.__init__ with last_epoch >= 0 (test_old_pattern_warning_resuming sets it)
    with pytest.raises(KeyError, match=r"initial_lr' is not specified in param_groups\[0\]"):
        UncertaintyLR(two_groups(), last_epoch=0)
    opt = two_groups()
    for group in opt.param_groups:
        group["initial_lr"] = 0.01
    assert UncertaintyLR(opt, last_epoch=3).base_lrs == [0.01, 0.01]


def test_constant_initial_lr():
    lr = torch.as_tensor(0.1)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.randn(1))], lr=lr)
    scheduler = UncertaintyLR(opt)
    initial = copy.deepcopy(opt.param_groups[0]["initial_lr"])
    for u in (0.5, 0.01):
        opt.step()
        scheduler.step(u)
        lr.multiply_(0.1)
        assert opt.param_groups[0]["initial_lr"] == initial
        assert scheduler.base_lrs == [float(initial)]


def test_scheduler_base_lr_does_not_alias_tensor_initial_lr():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.tensor(1.0))], lr=torch.tensor(0.1))
    scheduler = UncertaintyLR(opt)
    opt.param_groups[0]["lr"].add_(1.0)
    assert scheduler.base_lrs == [float(torch.tensor(0.1))]
    assert opt.param_groups[0]["initial_lr"].item() == float(torch.tensor(0.1))


@pytest.mark.parametrize("cls", SCHEDULERS)
def test_tensor_lr_stays_tensor_and_mixed_tensor_and_float_lr(cls):
    # ports test_reduce_lr_tensor.py; get_last_lr gives floats (a deliberate difference)
    first, second = torch.nn.Parameter(torch.ones(1)), torch.nn.Parameter(torch.ones(1))
    lr = torch.tensor([0.1])
    opt = torch.optim.SGD([{"params": [first], "lr": lr}, {"params": [second], "lr": 0.2}])
    scheduler = cls(opt, step_size=0.5)
    scheduler.step(0.0)
    scheduler.step(0.0)
    assert opt.param_groups[0]["lr"] is lr and torch.allclose(lr, torch.tensor([0.025]))
    assert opt.param_groups[1]["lr"] == pytest.approx(0.05)
    assert scheduler.get_last_lr() == [pytest.approx(0.025), pytest.approx(0.05)]
    assert all(type(v) is float for v in scheduler.get_last_lr())


@pytest.mark.parametrize("min_lr", ["scalar", "list"])
@pytest.mark.parametrize("name", CONFIGS)
def test_add_param_group_does_not_break_reduce_lr_on_plateau(name, min_lr):
    # pytorch issue 104361: a group added mid-training (progressive unfreezing) is scheduled
    options = {**CONFIGS[name], "min_lr": 1e-6 if min_lr == "scalar" else [1e-6, 1e-5]}
    expected = alone(options)
    opt = two_groups()
    scheduler = UncertaintyLR(opt, **options)
    for epoch, u in enumerate(signals(options)):
        if epoch == 4:
            opt.add_param_group({"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 0.05})
            if min_lr == "list":
                with pytest.raises(ValueError, match="min_lr was given per group, for 2 groups"):
                    scheduler.step(u)
                return
        scheduler.step(u)
        assert lrs_of(opt)[:2] == expected[epoch + 1]
    assert len(lrs_of(opt)) == 3 and opt.param_groups[2]["initial_lr"] == 0.05
    assert scheduler.base_lrs == [*BASE, 0.05]


def test_an_added_group_follows_the_rule_from_its_own_lr():
    opt = two_groups()
    scheduler = UncertaintyLR(opt, step_size=0.5)
    scheduler.step(0.9)  # x1.5
    opt.add_param_group({"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 0.2})
    scheduler.step(0.9)  # x1.5 for all, the new group from 0.2
    scheduler.step(0.0)  # x0.5
    assert scheduler.get_last_lr() == pytest.approx([0.05 * 1.125, 0.5 * 1.125, 0.2 * 0.75])
    assert scheduler.policy.max_lrs[2] == pytest.approx(2.0)  # the default bound of its LR


def test_bad_options_are_rejected():
    # ports test_linearlr_start_factor_limits1/2 and the edge-case files' zero factor and
    # zero total_iters: a warmup that cannot start or end is refused, naming the value
    for options, message in [
        ({"warmup_start_factor": 0.0}, r"warmup_start_factor must be a number in \(0, 1\], got 0.0"),
        ({"warmup_start_factor": 1.1}, r"warmup_start_factor must be a number in \(0, 1\], got 1.1"),
        ({"warmup": -1}, "warmup must be a non-negative integer, got -1"),
        ({"last_epoch": -2}, "last_epoch must be an integer >= -1, got -2"),
    ]:  # fmt: skip
        with pytest.raises(ValueError, match=message):
            UncertaintyLR(two_groups(), **options)


def test_stepping_inside_a_compiled_function_does_not_recompile():
    # torch's compiled optimizer + LR scheduler recipe: ExponentialLR with a tensor LR
    # compiles once. Here step() runs eagerly inside the compiled function.
    from torch._dynamo.testing import CompileCounter

    torch._dynamo.reset()
    param = torch.nn.Parameter(torch.zeros(2))
    param.grad = torch.ones(2)
    opt = torch.optim.SGD([param], lr=torch.tensor(0.01))
    scheduler = UncertaintyLR(opt)
    counter = CompileCounter()

    @torch.compile(backend=counter)
    def train_step(u):
        opt.step()
        scheduler.step(u)

    frames = []
    for u in [0.5, 0.01, 0.5, 0.01, 0.5, 0.01]:
        train_step(u)
        frames.append(counter.frame_count)
    assert frames[-1] == frames[1] and scheduler.policy.steps == 6
    assert opt.param_groups[0]["lr"].item() == pytest.approx(0.01 * (1.1 * 0.9) ** 3)


def test_monitored_takes_an_int_metric_as_reduce_lr_on_plateau_does():
    scheduler = MonitoredUncertaintyLR(two_groups())
    assert isinstance(scheduler, ReduceLROnPlateau)
    scheduler.step(1)
    scheduler.step(0)
    assert scheduler.get_last_lr() == pytest.approx([b * 1.1 * 0.9 for b in BASE])

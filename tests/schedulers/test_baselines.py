"""build_scheduler: registry names -> torch schedulers; GreedyLR matches transformers'."""

import pytest
import torch
from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau

from uncertainty_lr.schedulers import UncertaintyLR
from uncertainty_lr.schedulers.baselines import build_scheduler
from uncertainty_lr.schedulers.greedy import GreedyLRFallback
from uncertainty_lr.schedulers.piecewise import wsd_factor, wsd_steps
from uncertainty_lr.schedulers.registry import SCHEDULES


def _opt():
    return torch.optim.Adam(torch.nn.Linear(2, 2).parameters(), lr=1e-3, weight_decay=1e-4)


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_each_name_builds_what_its_spec_says(name):
    scheduler, options = build_scheduler(name, _opt(), epochs=3, steps_per_epoch=2)
    every = SCHEDULES[name].every
    if name == "constant":
        assert scheduler is None
    elif name in ("schedule_free", "prodigy"):
        assert isinstance(scheduler, torch.optim.Optimizer)
    elif name == "uncertainty":
        assert isinstance(scheduler, UncertaintyLR) and options["signal"] == "overconfidence"
    elif every == "metric":
        assert isinstance(scheduler, ReduceLROnPlateau) or hasattr(scheduler, "step")
    else:
        assert isinstance(scheduler, LRScheduler)
    assert set(options) == set(SCHEDULES[name].options)


def test_options_are_checked_before_building():
    with pytest.raises(ValueError, match="gamma of schedule 'step' must be a number in"):
        build_scheduler("step", _opt(), epochs=3, steps_per_epoch=1, gamma=2.0)


def test_greedy_fallback_equals_transformers_greedy():
    transformers_opt = pytest.importorskip("transformers.optimization")
    losses = [1.0, 0.9, 0.8, 0.7, 0.7, 0.7, 0.71, 0.6, 0.5, 0.4, 0.45, 0.45, 0.45]
    runs = []
    for cls in (GreedyLRFallback, transformers_opt.GreedyLR):
        opt = torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=1e-2)
        kw = dict(factor=0.9, patience=1)
        if cls is GreedyLRFallback:
            s = cls(opt, min_lrs=[1e-5], max_lrs=[1e-1], **kw)
        else:
            s = cls(opt, min_lr=[1e-5], max_lr=[1e-1], **kw)
        lrs = []
        for loss in losses:
            s.step(loss)
            lrs.append(opt.param_groups[0]["lr"])
        runs.append(lrs)
    assert runs[0] == runs[1]
    assert max(runs[0]) > 1e-2 and min(runs[0]) < runs[0][3]


def _lrs(name, steps, **options):
    opt = torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=1.0)
    scheduler, _ = build_scheduler(name, opt, epochs=1, steps_per_epoch=steps, **options)
    lrs = []
    for _ in range(steps + 1):  # the LR each step uses, then the one after the last step
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        scheduler.step()
    return lrs


def test_linear_decays_to_zero_after_the_last_step():
    assert _lrs("linear", 4) == pytest.approx([1.0, 0.75, 0.5, 0.25, 0.0])
    # 20 % of 10 steps warm up as (k + 1) / 2, then 8 steps decay linearly to 0.
    expected = [0.5, 1.0] + [(8 - k) / 8 for k in range(8)] + [0.0]
    assert _lrs("linear", 10, warmup_fraction=0.2) == pytest.approx(expected)


def test_wsd_warms_up_holds_then_decays_over_the_last_fifth():
    # 20 steps: warmup round(0.05 x 20) = 1 step, decay round(0.2 x 20) = 4 steps.
    expected = [1.0] * 16 + [1.0, 0.75, 0.5, 0.25, 0.0]
    assert _lrs("wsd", 20) == pytest.approx(expected)
    expected = [0.25, 0.5, 0.75, 1.0, 1.0, 1.0, 1.0, 2 / 3, 1 / 3, 0.0]
    assert _lrs("wsd", 9, warmup_fraction=4 / 9, decay_fraction=1 / 3) == pytest.approx(expected)


def test_wsd_refuses_warmup_and_decay_longer_than_the_run():
    with pytest.raises(ValueError, match=r"warmup_fraction \+ decay_fraction of schedule 'wsd'"):
        build_scheduler("wsd", _opt(), epochs=1, steps_per_epoch=5, warmup_fraction=0.9)


def test_wsd_factor_closed_form_at_the_edges():
    assert [wsd_factor(s, 5, 0, 5) for s in range(6)] == [1.0, 0.8, 0.6, 0.4, 0.2, 0.0]
    assert wsd_steps(3, 0.05, 0.2) == (0, 1)  # tiny runs: decay at least one step
    assert wsd_steps(4, 0.9, 0.5) == (2, 2)  # warmup shortened so both fit

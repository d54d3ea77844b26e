"""build_scheduler: registry names -> torch schedulers; GreedyLR matches transformers'."""

import pytest
import torch
from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau

from uncertainty_lr.schedulers import UncertaintyLR
from uncertainty_lr.schedulers.baselines import build_scheduler
from uncertainty_lr.schedulers.greedy import GreedyLRFallback
from uncertainty_lr.schedulers.registry import SCHEDULES


def _opt():
    return torch.optim.Adam(torch.nn.Linear(2, 2).parameters(), lr=1e-3, weight_decay=1e-4)


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_each_name_builds_what_its_spec_says(name):
    scheduler, options = build_scheduler(name, _opt(), epochs=3, steps_per_epoch=2)
    every = SCHEDULES[name].every
    if name == "constant":
        assert scheduler is None
    elif name == "schedule_free":
        assert isinstance(scheduler, torch.optim.Optimizer)
    elif name == "uncertainty":
        assert isinstance(scheduler, UncertaintyLR) and options["signal"] == "entropy"
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

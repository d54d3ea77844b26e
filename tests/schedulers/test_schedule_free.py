"""The schedule-free arm regularises exactly as the arm it replaces."""

import pytest
import schedulefree
import torch

from uncertainty_lr.experiments.config import RunConfig
from uncertainty_lr.experiments.run import train
from uncertainty_lr.schedulers.schedule_free import schedule_free_twin


def _params(seed=0):
    torch.manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(5)), torch.nn.Parameter(torch.randn(3))]


def _run(opt, params, loss_fn, steps=5):
    for t in range(steps):
        opt.zero_grad()
        loss_fn(params, t).backward()
        opt.step()
    opt.eval()
    return [p.detach().clone() for p in params]


def _loss(params, t):
    return sum(((p - 0.1 * t) ** 2).sum() for p in params)


def test_adam_twin_adds_l2_to_the_gradient_like_adam():
    # Coupled L2 (torch.optim.Adam's weight_decay) is the gradient of wd/2 ||y||^2: the
    # twin must equal decay-free AdamWScheduleFree on that explicitly regularised loss.
    wd = 0.3
    params = _params()
    twin = schedule_free_twin(torch.optim.Adam(params, lr=0.05, weight_decay=wd), 0)
    got = _run(twin, params, _loss)
    params = _params()
    ref = schedulefree.AdamWScheduleFree(params, lr=0.05, weight_decay=0.0, warmup_steps=0)
    ref.train()
    want = _run(ref, params, lambda ps, t: _loss(ps, t) + wd / 2 * sum((p**2).sum() for p in ps))
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
    # and it is not the decoupled decay the package applies by default
    params = _params()
    decoupled = schedulefree.AdamWScheduleFree(params, lr=0.05, weight_decay=wd, warmup_steps=0)
    decoupled.train()
    other = _run(decoupled, params, _loss)
    assert not all(torch.allclose(a, b) for a, b in zip(got, other))


def test_adamw_keeps_decoupled_decay_and_sgd_gets_sgd_schedule_free():
    adamw = schedule_free_twin(torch.optim.AdamW(_params(), lr=0.01, weight_decay=0.05), 3)
    assert type(adamw) is schedulefree.AdamWScheduleFree
    assert adamw.param_groups[0]["weight_decay"] == 0.05
    sgd = schedule_free_twin(torch.optim.SGD(_params(), lr=0.1, momentum=0.8, weight_decay=1e-3), 0)
    assert isinstance(sgd, schedulefree.SGDScheduleFree)
    assert sgd.param_groups[0]["momentum"] == 0.8
    assert sgd.param_groups[0]["weight_decay"] == 1e-3


def test_betas_and_decay_come_from_every_group():
    a, b = _params()
    opt = torch.optim.Adam(
        [{"params": [a], "betas": (0.8, 0.99)}, {"params": [b], "betas": (0.95, 0.9)}],
        lr=1e-3,
        weight_decay=1e-4,
    )
    twin = schedule_free_twin(opt, 0)
    assert [g["betas"] for g in twin.param_groups] == [(0.8, 0.99), (0.95, 0.9)]
    assert [g["l2"] for g in twin.param_groups] == [1e-4, 1e-4]


def test_other_optimizers_are_refused():
    with pytest.raises(ValueError, match="replaces Adam, AdamW or SGD .* got RMSprop"):
        schedule_free_twin(torch.optim.RMSprop(_params()), 0)


def test_run_records_the_optimizer_each_arm_ran_with():
    base = dict(problem="digits_mlp", epochs=1, seed=0)
    sf = train(config=RunConfig(schedule="schedule_free", optimizer="sgd", **base))
    assert sf.config["optimizer_used"].startswith("SGDScheduleFree in place of SGD")
    cos = train(config=RunConfig(schedule="cosine", **base))
    assert cos.config["optimizer_used"] == "Adam, L2 weight decay 0.0001"


def test_warmup_is_counted_in_epochs_not_a_fraction_of_the_budget():
    from uncertainty_lr.schedulers.baselines import build_scheduler
    from uncertainty_lr.schedulers.registry import SCHEDULES

    warmups = set()
    for epochs in (1, 6, 18):
        opt = torch.optim.Adam(_params(), lr=0.01)
        sf, _ = build_scheduler("schedule_free", opt, epochs=epochs, steps_per_epoch=20)
        warmups.add(sf.param_groups[0]["warmup_steps"])
    assert warmups == {6}  # round(0.3 x 20), whatever the number of epochs
    opt = torch.optim.Adam(_params(), lr=0.01)
    sf, _ = build_scheduler("schedule_free", opt, epochs=6, steps_per_epoch=20, warmup_epochs=1)
    assert sf.param_groups[0]["warmup_steps"] == 20
    assert not SCHEDULES["schedule_free"].budget

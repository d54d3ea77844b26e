"""The Prodigy arm: the package's documented settings, regularised as the arm it replaces."""

import pytest
import torch
from prodigyopt import Prodigy

from uncertainty_lr.experiments.config import RunConfig, resolve
from uncertainty_lr.experiments.schedules import make_schedule
from uncertainty_lr.schedulers.prodigy import prodigy_twin
from uncertainty_lr.schedulers.registry import SCHEDULES, optimizer_description


def _params(seed=0):
    torch.manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(5)), torch.nn.Parameter(torch.randn(3))]


def _run(opt, params, loss_fn, steps=6):
    for t in range(steps):
        opt.zero_grad()
        loss_fn(params, t).backward()
        opt.step()
    return [p.detach().clone() for p in params]


def _loss(params, t):
    return sum(((p - 0.1 * t) ** 2).sum() for p in params)


def test_adam_twin_adds_l2_to_the_gradient_like_adam():
    # torch.optim.Adam's weight_decay is the gradient of wd/2 ||p||^2: the twin must equal
    # decay-free Prodigy on that explicitly regularised loss, and differ from decoupled decay.
    wd = 0.3
    params = _params()
    twin = prodigy_twin(torch.optim.Adam(params, lr=1e-3, betas=(0.8, 0.99), weight_decay=wd))
    assert twin.param_groups[0]["betas"] == (0.8, 0.99) and not twin.param_groups[0]["decouple"]
    got = _run(twin, params, _loss)
    params = _params()
    ref = Prodigy(params, lr=1.0, d_coef=1.0, betas=(0.8, 0.99), weight_decay=0.0)
    want = _run(ref, params, lambda ps, t: _loss(ps, t) + wd / 2 * sum((p**2).sum() for p in ps))
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    params = _params()
    decoupled = Prodigy(params, lr=1.0, betas=(0.8, 0.99), weight_decay=wd, decouple=True)
    other = _run(decoupled, params, _loss)
    assert not all(torch.allclose(a, b) for a, b in zip(got, other))


def test_adamw_twin_is_prodigy_with_decoupled_decay():
    params = _params()
    twin = prodigy_twin(torch.optim.AdamW(params, lr=1e-3, weight_decay=0.05))
    group = twin.param_groups[0]
    assert group["decouple"] and group["weight_decay"] == 0.05 and group["lr"] == 1.0
    got = _run(twin, params, _loss)
    params = _params()
    want = _run(Prodigy(params, lr=1.0, weight_decay=0.05, decouple=True), params, _loss)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_sgd_is_refused_in_one_line_at_config_and_build_time():
    with pytest.raises(ValueError, match="schedule 'prodigy' replaces Adam or AdamW .*got SGD$"):
        prodigy_twin(torch.optim.SGD(_params(), lr=0.1))
    with pytest.raises(ValueError, match="got optimizer 'sgd'$"):
        resolve(RunConfig(problem="digits_mlp", schedule="prodigy", optimizer="sgd"))


def test_logged_lr_is_the_step_size_the_step_used_and_the_arm_is_budget_free():
    # Prodigy's step() moves d but steps with d x lr as it was on entry; the loop reads the LR
    # after step() and before after_batch(), so that must still be the step's own.
    params = [torch.nn.Parameter(p.detach().double()) for p in _params()]  # exact deltas
    schedule = make_schedule(
        "prodigy", torch.optim.Adam(params, lr=1e-3), epochs=3, steps_per_epoch=2
    )
    opt, group = schedule.optimizer, schedule.optimizer.param_groups[0]
    moved = 0
    for t in range(6):
        d_before, p_before = group["d"], params[0].detach().clone()
        opt.zero_grad()
        _loss(params, t).backward()
        opt.step()
        logged = schedule.get_last_lr()
        schedule.after_batch()
        assert logged == [d_before * 1.0]
        # The step size the update itself implies: p moved by -dlr x exp_avg / denom.
        state = opt.state[params[0]]
        denom = state["exp_avg_sq"].sqrt() + group["d"] * group["eps"]
        implied = (p_before - params[0].detach()) * denom / state["exp_avg"]
        torch.testing.assert_close(implied, torch.full_like(implied, logged[0]), rtol=1e-6, atol=0)
        moved += group["d"] != d_before  # where d moved, a read after the step is late
    assert moved >= 3  # the check has teeth
    assert not SCHEDULES["prodigy"].budget
    assert optimizer_description("adam", "prodigy", 1e-4).startswith(
        "Prodigy (lr 1.0, d_coef 1.0) in place of Adam, weight decay 0.0001 (decouple=False"
    )


def test_a_resumed_arm_logs_the_step_size_its_next_step_uses():
    params = _params()
    first = make_schedule("prodigy", torch.optim.Adam(params, lr=1e-3), epochs=3, steps_per_epoch=2)
    _run(first.optimizer, params, _loss, steps=4)
    resumed = make_schedule(
        "prodigy", torch.optim.Adam(params, lr=1e-3), epochs=3, steps_per_epoch=2
    )
    resumed.optimizer.load_state_dict(first.optimizer.state_dict())  # as run._resume does
    resumed.load_state_dict(first.state_dict())
    d = first.optimizer.param_groups[0]["d"]
    assert d > 1e-6 and resumed.get_last_lr() == [d * 1.0]

"""UncertaintyLR: the torch adapter writes the policy's LRs into every param group."""

import io
import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from uncertainty_lr.schedulers import UncertaintyLR


def make_optimizer(lrs=(1e-3,)):
    model = torch.nn.Sequential(*[torch.nn.Linear(2, 2) for _ in lrs])
    groups = [{"params": layer.parameters(), "lr": lr} for layer, lr in zip(model, lrs)]
    return torch.optim.Adam(groups)


def test_step_accepts_float_and_zero_dim_tensor():
    opt = make_optimizer()
    s = UncertaintyLR(opt)
    assert s.step(0.5) == [pytest.approx(1.1e-3)]
    assert s.step(torch.tensor(0.01)) == [pytest.approx(1.1e-3 * 0.9)]
    assert opt.param_groups[0]["lr"] == s.get_last_lr()[0]


def test_non_scalar_tensor_is_refused():
    s = UncertaintyLR(make_optimizer())
    with pytest.raises(ValueError, match=r"must be a scalar, got a tensor of shape \(2,\)"):
        s.step(torch.tensor([0.1, 0.2]))


def test_groups_keep_their_ratio():
    opt = make_optimizer((1e-3, 1e-4))
    s = UncertaintyLR(opt)
    for u in [0.9, 0.9, 0.0, 0.3, 0.01]:
        a, b = s.step(u)
        assert a / b == pytest.approx(10.0)
    assert [g["lr"] for g in opt.param_groups] == s.get_last_lr()


def test_per_group_min_lr_list():
    opt = make_optimizer((1e-3, 1e-3))
    s = UncertaintyLR(opt, min_lr=[9e-4, 1e-6], step_size=0.5)
    lrs = [s.step(0.0) for _ in range(3)][-1]
    assert lrs == [pytest.approx(9e-4), pytest.approx(1.25e-4)]


def test_warmup_starts_small():
    opt = make_optimizer()
    UncertaintyLR(opt, warmup=3)
    assert opt.param_groups[0]["lr"] == pytest.approx(1e-4)


def train_steps(model, opt, sched, signals, seed):
    torch.manual_seed(seed)
    for u in signals:
        opt.zero_grad()
        model(torch.randn(4, 2)).pow(2).sum().backward()
        opt.step()
        sched.step(u)
    return sched.get_last_lr()


def test_restore_mid_training_through_torch_save_weights_only():
    signals = [0.9, 0.5, 0.02, 0.3, 0.01, 0.0, 0.6, 0.04]
    kw = dict(mode="band", smoothing=0.4, cooldown=1, warmup=2)

    torch.manual_seed(0)
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    sched = UncertaintyLR(opt, **kw)
    expected = [train_steps(model, opt, sched, [u], i) for i, u in enumerate(signals)]

    torch.manual_seed(0)
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    sched = UncertaintyLR(opt, **kw)
    got = [train_steps(model, opt, sched, [u], i) for i, u in enumerate(signals[:4])]
    buf = io.BytesIO()
    torch.save(
        {"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict()}, buf
    )
    buf.seek(0)
    ckpt = torch.load(buf, weights_only=True)

    model2 = torch.nn.Linear(2, 1)
    opt2 = torch.optim.Adam(model2.parameters(), lr=1e-3)
    sched2 = UncertaintyLR(opt2, **kw)
    model2.load_state_dict(ckpt["model"])
    opt2.load_state_dict(ckpt["opt"])
    sched2.load_state_dict(ckpt["sched"])
    got += [train_steps(model2, opt2, sched2, [u], i + 4) for i, u in enumerate(signals[4:])]
    assert got == expected


def test_state_dict_is_plain_numbers():
    s = UncertaintyLR(make_optimizer((1e-3, 1e-4)))
    s.step(0.3)

    def plain(v):
        if isinstance(v, (list, tuple)):
            return all(plain(x) for x in v)
        return v is None or isinstance(v, (int, float, str, bool))

    assert all(plain(v) for v in s.state_dict().values())


def test_refuses_non_optimizer():
    with pytest.raises(ValueError, match="optimizer must be a torch.optim.Optimizer, got list"):
        UncertaintyLR([])


def _worker(rank, world, port, signals, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        opt = make_optimizer()
        s = UncertaintyLR(opt, threshold=0.3)
        lrs = [s.step(u)[0] for u in signals[rank]]
        out.put((rank, lrs))
    finally:
        dist.destroy_process_group()


def test_two_gloo_ranks_apply_the_same_lr():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Rank 0 alone would explore on step 1 and fine-tune on step 2; rank 1 the reverse.
    # The means (0.35, 0.35, 0.1) decide for both.
    signals = [[0.6, 0.1, 0.1], [0.1, 0.6, 0.1]]
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(r, 2, port, signals, out)) for r in range(2)]
    for p in procs:
        p.start()
    results = dict(out.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    expected = [1.1e-3, 1.21e-3, 1.21e-3 * 0.9]
    assert results[0] == pytest.approx(expected) and results[1] == results[0]

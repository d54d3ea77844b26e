"""One run data-parallel over two CPU processes (gloo on loopback) equals one process.

The two ranks run the sweep exactly as ``torchrun --nproc_per_node 2 -m uncertainty_lr run``
would (same environment variables) in subprocesses. With dropout 0 (dropout masks are drawn
per rank, so they cannot match one process's) and an MLP without BatchNorm, every epoch's
LR, validation accuracy and losses match a single-process run with the same global batch
up to float summation order. Both ranks always apply the same LR, also for a train_*
signal whose per-rank values differ. About 15 s on 2 cores.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from dataclasses import replace

import pytest
import torch
from testkit import StopAfter

from uncertainty_lr import distributed
from uncertainty_lr.experiments.config import RunConfig
from uncertainty_lr.experiments.executors import run_id_of
from uncertainty_lr.experiments.run import train
from uncertainty_lr.experiments.store import Store
from uncertainty_lr.experiments.sweep import expand_grid, run_sweep

BASE = RunConfig(problem="digits_mlp", epochs=3, dropout=0.0, batch_size=64)
SCHEDULES = [
    "uncertainty:mode=threshold",
    "cosine",
    "uncertainty:mode=threshold,signal=train_entropy",
]

RANK_SCRIPT = r"""
import json, sys
import torch
torch.set_num_threads(1)
from uncertainty_lr.experiments.config import RunConfig
from uncertainty_lr.experiments.sweep import expand_grid, run_sweep
from uncertainty_lr import distributed

out, report = sys.argv[1], sys.argv[2]
configs = expand_grid(["digits_mlp"], json.loads(sys.argv[3]), [0],
                      RunConfig(problem="digits_mlp", epochs=3, dropout=0.0, batch_size=64))
results = run_sweep(configs, out, progress=False)
with open(report, "w") as f:
    json.dump({r.run_id: {"lr": [h["lr"] for h in r.history], "resumed_from": r.resumed_from,
               "val_accuracy": [h["val_accuracy"] for h in r.history]} for r in results}, f)
distributed.teardown()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ddp_sweep(tmp_path_factory):
    """The sweep on 2 ranks; cosine was interrupted after epoch 1 beforehand (single process)."""
    tmp = tmp_path_factory.mktemp("ddp")
    out = tmp / "out"
    configs = expand_grid(["digits_mlp"], SCHEDULES, [0], BASE)
    with Store(out) as store, pytest.raises(KeyboardInterrupt):
        train(config=configs[1], store=store, hooks=[StopAfter(1)])
    script = tmp / "rank.py"
    script.write_text(RANK_SCRIPT)
    port = free_port()
    procs = []
    for rank in range(2):
        env = {**os.environ, "RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": "2",
               "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "OMP_NUM_THREADS": "1"}  # fmt: skip
        env.pop("RAY_ADDRESS", None)
        procs.append(subprocess.Popen(
            [sys.executable, str(script), str(out), str(tmp / f"rank{rank}.json"), json.dumps(SCHEDULES)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        ))  # fmt: skip
    for p in procs:
        try:
            output, _ = p.communicate(timeout=180)
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            raise
        assert p.returncode == 0, output[-3000:]
    ranks = [json.loads((tmp / f"rank{r}.json").read_text()) for r in range(2)]
    return out, configs, ranks


def single_process(cfg: RunConfig):
    return train(config=cfg)


def test_ddp_lr_and_val_accuracy_equal_one_process(ddp_sweep):
    out, configs, ranks = ddp_sweep
    for cfg in configs[:2]:  # val-entropy uncertainty (fresh) and cosine (resumed)
        one = single_process(cfg)
        for rank in ranks:
            got = rank[run_id_of(cfg)]
            assert got["lr"] == pytest.approx([h["lr"] for h in one.history], rel=1e-9, abs=1e-12)
            assert got["val_accuracy"] == [h["val_accuracy"] for h in one.history]
        with Store(out, create=False) as store:
            rows = store.epochs(run_id_of(cfg))
        for row, h in zip(rows, one.history, strict=True):
            assert row["val_loss"] == pytest.approx(h["val_loss"], rel=1e-6)
            assert row["train_loss"] == pytest.approx(h["train_loss"], rel=1e-6)
            if h.get("signal") is not None:
                assert row["signal"] == pytest.approx(h["signal"], rel=1e-6)


def test_ranks_apply_the_same_lr_even_for_a_per_rank_train_signal(ddp_sweep):
    _, configs, ranks = ddp_sweep
    for cfg in configs:
        assert ranks[0][run_id_of(cfg)]["lr"] == ranks[1][run_id_of(cfg)]["lr"]
    lrs = ranks[0][run_id_of(configs[2])]["lr"]
    assert lrs != [lrs[0]] * len(lrs)  # the train-signal schedule did move the LR


def test_only_rank_zero_wrote_and_the_interrupted_run_resumed(ddp_sweep):
    out, configs, ranks = ddp_sweep
    assert [r[run_id_of(configs[1])]["resumed_from"] for r in ranks] == [1, 1]
    with Store(out, create=False) as store:
        runs = store.runs()
        assert [r["status"] for r in runs] == ["done"] * 3
        assert all(r["hardware"]["world_size"] == 2 for r in runs)
        assert len(store.epochs()) == 3 * 3
    assert not list((out / "checkpoints").glob("*.pt"))


def test_without_torchrun_nothing_changes(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert not distributed.setup("cpu") and distributed.world_size() == 1
    idx = torch.arange(8)
    assert distributed.shard_batch(idx) is idx
    assert distributed.is_main_process()


MEAN_SCRIPT = r"""
import os, sys, torch
import torch.distributed as dist
from uncertainty_lr import distributed
dist.init_process_group("gloo")
rank = dist.get_rank()
loss = distributed.mean_over_ranks(torch.tensor(3.0 + 2 * rank, requires_grad=True))
signal = distributed.mean_over_ranks([0.25, 0.75][rank])
print(f"{loss!r} {signal!r}")
dist.destroy_process_group()
"""


def test_mean_over_ranks_averages_losses_unclamped_and_signals_alike():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    procs = [
        subprocess.Popen([sys.executable, "-c", MEAN_SCRIPT], stdout=subprocess.PIPE, text=True,
                         env={**os.environ, "RANK": str(r), "WORLD_SIZE": "2",
                              "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
        for r in range(2)
    ]  # fmt: skip
    outputs = [p.communicate(timeout=120)[0].split() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert outputs == [["4.0", "0.5"], ["4.0", "0.5"]]  # a loss of 3 and 5 is not a signal
    assert distributed.mean_over_ranks(torch.tensor(7.5)) == 7.5  # one process: itself


def test_ranks_shards_split_each_global_batch(monkeypatch):
    monkeypatch.setattr(distributed, "is_distributed", lambda: True)
    monkeypatch.setattr(distributed, "world_size", lambda: 2)
    shards = []
    for r in range(2):
        monkeypatch.setattr(distributed, "rank", lambda r=r: r)
        shards.append(distributed.shard_batch(torch.arange(10, 74)))
    assert [len(s) for s in shards] == [32, 32]
    assert torch.equal(torch.cat(shards), torch.arange(10, 74))


def test_bad_ddp_settings_fail_with_one_line(monkeypatch, tmp_path):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(ValueError, match="batch_size must be divisible by the number of ranks"):
        distributed.check_batch_size(63)
    with pytest.raises(ValueError, match="cannot run under torchrun"):
        run_sweep(expand_grid(["digits_mlp"], ["constant"], [0], BASE), tmp_path, workers=2)
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    with pytest.raises(ValueError, match="WORLD_SIZE=2 but MASTER_ADDR is not set"):
        distributed.setup("cpu")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", "29500")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(
        ValueError, match="LOCAL_RANK 1 has no GPU of its own: this machine has 1 CUDA"
    ):
        distributed.setup("cuda")
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(ValueError, match="WORLD_SIZE must be a positive integer, got 'two'"):
        distributed.world_size()


def test_follower_store_reads_but_never_writes(tmp_path):
    store = Store(tmp_path)
    cfg = replace(BASE, epochs=2)
    done = train(config=cfg, store=store)
    view = distributed.ReadOnlyStore(store)
    assert view.get_run(done.run_id)["status"] == "done"
    view.start_run("x", problem="p", schedule="s", seed=0, config={})
    view.log_epoch(done.run_id, 9, {"lr": 1.0})
    view.finish_run(done.run_id, "failed")
    view.truncate_epochs(done.run_id, 1)
    assert [r["epoch"] for r in view.epochs(done.run_id)] == [1]
    assert [r["epoch"] for r in store.epochs(done.run_id)] == [1, 2]
    assert [r["status"] for r in store.runs()] == ["done"]

"""DistributedDataParallel on CPU (gloo), two processes, one UncertaintyLR per rank.

Each rank trains on its own shard and measures the signal on its own validation shard;
``mean_over_ranks`` averages it before ``step(u)`` so every rank takes the same LR
decision (nothing inside ``step`` communicates). Started with torch.multiprocessing here;
under torchrun, call ``train(rank, world_size)`` with RANK / WORLD_SIZE from the
environment instead.

    python examples/ddp_cpu.py           # two processes on this machine, no GPU needed
"""

import os
import socket

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from uncertainty_lr import UncertaintyLR, mean_over_ranks
from uncertainty_lr.signals import entropy

WORLD_SIZE = 2
EPOCHS = 5


def train(rank: int, world_size: int, port: int) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    torch.set_num_threads(1)  # one core per process
    try:
        torch.manual_seed(0)  # the same data and initial weights on every rank
        x = torch.randn(512, 16)
        y = x[:, :4].argmax(1)
        x_train, y_train = x[:384][rank::world_size], y[:384][rank::world_size]  # this rank's shard
        x_val = x[384:][rank::world_size]
        model = DistributedDataParallel(
            nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 4))
        )
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        scheduler = UncertaintyLR(optimizer, threshold=0.3, step_size=0.2)
        for epoch in range(EPOCHS):
            for xb, yb in zip(x_train.split(32), y_train.split(32)):
                optimizer.zero_grad()
                nn.functional.cross_entropy(model(xb), yb).backward()  # gradients averaged
                optimizer.step()
            with torch.no_grad():
                local = entropy(model(x_val), from_logits=True)  # this rank's shard only
            signal = mean_over_ranks(local)  # the same value on every rank
            scheduler.step(signal)
            lrs = [None] * world_size
            dist.all_gather_object(lrs, scheduler.get_last_lr()[0])
            assert len(set(lrs)) == 1, f"ranks disagree on the LR: {lrs}"
            if rank == 0:
                print(
                    f"epoch {epoch}  entropy {signal:.3f} (mean of {world_size} ranks)  lr {lrs[0]:.4f}"
                )
        del model  # DDP's reducer goes before its process group
        dist.barrier()  # no rank tears gloo down while another is still using it (SIGABRT)
    finally:
        dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


if __name__ == "__main__":
    mp.spawn(train, args=(WORLD_SIZE, free_port()), nprocs=WORLD_SIZE, join=True)

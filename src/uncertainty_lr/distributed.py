"""Data-parallel training of one run (DDP): process group, model wrapper, batch shards.

Launch the harness with ``torchrun --nproc_per_node N -m uncertainty_lr run ...``: torchrun
sets RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR / MASTER_PORT, ``train`` calls ``setup``
and every rank then trains the same run on its part of each global batch.

What every rank does, and why the ranks stay identical:

- The epoch's permutation is seeded from (seed, epoch), so every rank draws the same one.
  Global batch ``i`` is ``order[i*B:(i+1)*B]`` exactly as in one process; rank ``r`` takes
  rows ``r*B/N .. (r+1)*B/N`` of it (``shard_batch``), so the global batch stays ``B``
  and ``B`` must divide by ``N``.
- DistributedDataParallel averages the gradients of the N per-rank mean losses, which is
  the gradient of the mean loss over the global batch: the same step as one process, up
  to float summation order.
- Validation (and test) runs on the FULL split on every rank, with the unwrapped model
  whose weights are identical on every rank. So val loss, accuracy, F1, ECE and the
  uncertainty signal are identical everywhere with no reduction needed (N x the eval
  compute, which is small next to training). UncertaintyLR still averages its signal
  with ``reduce_signal``; for val signals that is a no-op, for train_* signals (EMA of
  each rank's own training logits) it is what makes the ranks agree.
- Train loss and accuracy are sums all-reduced over ranks; a non-finite loss on any rank
  stops every rank at the same step (``finite_everywhere``).
- Only rank 0 writes: the store (other ranks see it through ``ReadOnlyStore``),
  checkpoints, hooks and progress bars.

Known differences from one process: dropout masks (each rank draws masks for its shard
from the same seed, not the slice of the one-process mask) and BatchNorm statistics on
CPU (per-rank shard statistics; on CUDA, BatchNorm becomes SyncBatchNorm and uses the
global batch). With dropout 0 and no BatchNorm the run matches one process within float
tolerance (tests/test_distributed_train.py).
"""

from __future__ import annotations

import os
from datetime import timedelta

import torch
import torch.distributed as dist

# How long a rank waits in a collective for the others (e.g. rank 0 writing the store).
TIMEOUT = timedelta(minutes=30)


def env_world_size() -> int:
    """WORLD_SIZE from the environment (set by torchrun), 1 when unset."""
    value = os.environ.get("WORLD_SIZE", "1")
    try:
        size = int(value)
    except ValueError:
        raise ValueError(f"WORLD_SIZE must be a positive integer, got {value!r}") from None
    if size < 1:
        raise ValueError(f"WORLD_SIZE must be a positive integer, got {value!r}")
    return size


def is_distributed() -> bool:
    """True once a process group of more than one rank is initialised."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    """Ranks in the group; before ``setup``, WORLD_SIZE from the environment."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return env_world_size()


def rank() -> int:
    """This process's rank; before ``setup``, RANK from the environment (0 when unset)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return int(os.environ.get("RANK", "0"))


def is_main_process() -> bool:
    """Rank 0 (also true without any distributed set-up): the one that writes."""
    return rank() == 0


def setup(device: str = "auto") -> bool:
    """Initialise the process group from torchrun's environment, once; True if distributed.

    Backend: nccl when ``device`` resolves to CUDA (each rank on GPU LOCAL_RANK), else gloo.
    Does nothing (returns False) when WORLD_SIZE is unset or 1.
    """
    if is_distributed():
        return True
    size = env_world_size()
    if size == 1:
        return False
    if not dist.is_available():
        raise ValueError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
    for name in ("RANK", "MASTER_ADDR", "MASTER_PORT"):
        if name not in os.environ:
            raise ValueError(f"WORLD_SIZE={size} but {name} is not set; launch with torchrun")
    cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if cuda:
        local, count = int(os.environ.get("LOCAL_RANK", "0")), torch.cuda.device_count()
        if local >= count:  # nccl needs one GPU per rank
            raise ValueError(f"LOCAL_RANK {local} has no GPU of its own: this machine has {count} "
                             f"CUDA device(s); use --nproc_per_node {count} or less, or device cpu")  # fmt: skip
        torch.cuda.set_device(local)
    dist.init_process_group(backend="nccl" if cuda else "gloo", timeout=TIMEOUT)
    return True


def teardown() -> None:
    """Destroy the process group if one is initialised (idempotent)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def check_batch_size(batch_size: int) -> None:
    """The global batch must split evenly over the ranks."""
    size = world_size()
    if size > 1 and batch_size % size:
        raise ValueError(
            f"batch_size must be divisible by the number of ranks ({size}) under DDP, "
            f"got {batch_size}"
        )


def wrap_model(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """DistributedDataParallel(model) when distributed, else ``model`` itself.

    Train through the returned module; evaluate and checkpoint ``model`` (the same
    parameters, without DDP's hooks). On CUDA, BatchNorm layers become SyncBatchNorm
    first, so their statistics cover the global batch (SyncBatchNorm has no CPU kernel).
    """
    if not is_distributed():
        return model
    from torch.nn.parallel import DistributedDataParallel

    if device.type == "cuda":
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return DistributedDataParallel(model, device_ids=[device.index or 0])
    return DistributedDataParallel(model)


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The module inside a DistributedDataParallel wrapper (or ``model`` itself)."""
    return getattr(model, "module", model) if is_distributed() else model


def shard_batch(idx: torch.Tensor) -> torch.Tensor:
    """This rank's contiguous 1/N of a global batch of indices (the whole batch when N = 1)."""
    size = world_size() if is_distributed() else 1
    if size == 1:
        return idx
    per_rank = len(idx) // size
    start = rank() * per_rank
    return idx[start : start + per_rank]


def all_reduce_sum(*tensors: torch.Tensor) -> None:
    """Sum each tensor over the ranks, in place (nothing to do in one process)."""
    if is_distributed():
        for t in tensors:
            dist.all_reduce(t, op=dist.ReduceOp.SUM)


def mean_over_ranks(value: float | torch.Tensor) -> float:
    """Mean of a scalar over the ranks (``value`` itself in one process): what the
    uncertainty signal and the training loss of the LR level search are averaged with, so
    that every rank takes the same decision. On nccl the reduction runs on this rank's GPU."""
    v = float(value.detach()) if isinstance(value, torch.Tensor) else float(value)
    if not is_distributed():
        return v
    cuda = dist.get_backend() == "nccl"
    device = torch.device("cuda", torch.cuda.current_device()) if cuda else torch.device("cpu")
    t = torch.tensor([v], dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.item() / dist.get_world_size()


def finite_everywhere(loss: torch.Tensor) -> bool:
    """Whether ``loss`` is finite on every rank (one small all-reduce per step under DDP)."""
    bad = (~torch.isfinite(loss.detach())).to(torch.float32)
    all_reduce_sum(bad)
    return not bool(bad.item())


def describe(hardware: dict) -> dict:
    """``hardware`` plus world_size and backend when the run is data-parallel."""
    if not is_distributed():
        return hardware
    return {**hardware, "world_size": dist.get_world_size(), "backend": dist.get_backend()}


class ReadOnlyStore:
    """What ranks > 0 see of the results store: every read, no write.

    Reads go to the real store (rank 0 writes it); writes are dropped, except that a
    ``truncate_epochs`` is remembered so ``epochs`` shows what rank 0's store will hold.
    """

    _WRITES = ("start_run", "finish_run", "log_epoch", "delete_run")

    def __init__(self, store) -> None:
        self._store = store
        self._after: dict[str, int] = {}
        self.out_dir = store.out_dir

    def truncate_epochs(self, run_id: str, after_epoch: int) -> None:
        self._after[run_id] = after_epoch

    def epochs(self, run_id: str | None = None) -> list[dict]:
        rows = self._store.epochs(run_id)
        return [r for r in rows if r["epoch"] <= self._after.get(r["run_id"], r["epoch"])]

    def __getattr__(self, name: str):
        if name in self._WRITES:
            return lambda *args, **kwargs: None
        return getattr(self._store, name)


def follower_view(store):
    """``store`` on rank 0 (or without DDP); a ``ReadOnlyStore`` over it on other ranks."""
    if store is None or is_main_process():
        return store
    return ReadOnlyStore(store)

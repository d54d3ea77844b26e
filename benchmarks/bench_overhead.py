"""Harness overhead: training throughput of train() against a minimal hand-written loop.

Same model, data, batch size, optimizer and thread count; the two alternate in one
process, each timed over the training part of an epoch only (train() records it as
train_time), so the ratio is harness samples/s / plain samples/s (target >= 0.97).

    python benchmarks/bench_overhead.py            # MNIST CNN on real data when ../shared has it
    python benchmarks/bench_overhead.py --smoke    # digits MLP, seconds (CI)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import data_source, header, median  # noqa: E402

from uncertainty_lr.experiments.build import build_model, build_optimizer, load_problem_data  # noqa: E402
from uncertainty_lr.experiments.config import RunConfig, resolve  # noqa: E402
from uncertainty_lr.experiments.loop import epoch_seed  # noqa: E402
from uncertainty_lr.experiments.run import train  # noqa: E402


def plain_epoch(cfg, data, epoch: int) -> float:
    """The loop a user would write: seeded randperm, normalise, forward, CE, backward, step."""
    model = build_model(cfg, data)
    opt = build_optimizer(cfg, model)
    x, y = data.x_train, data.y_train
    torch.manual_seed(epoch_seed(cfg.seed, epoch))
    order = torch.randperm(
        len(y), generator=torch.Generator().manual_seed(epoch_seed(cfg.seed, epoch))
    )
    model.train()
    t0 = time.perf_counter()
    for i in range(0, (len(y) // cfg.batch_size) * cfg.batch_size, cfg.batch_size):
        idx = order[i : i + cfg.batch_size]
        loss = F.cross_entropy(model(data.normalise(x[idx])), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    problem, data_dir = data_source(args.smoke)
    train_size = None if args.smoke else 4096
    cfg = resolve(RunConfig(problem=problem, schedule="constant", epochs=1, data_dir=data_dir,
                            train_size=train_size, test_size=256 if not args.smoke else None))  # fmt: skip
    data = load_problem_data(cfg)
    repeats = 2 if args.smoke else args.repeats
    n = (len(data.y_train) // cfg.batch_size) * cfg.batch_size
    header("harness overhead: train() vs a plain PyTorch loop", problem=problem, train_samples=n,
           batch=cfg.batch_size, repeats=repeats)  # fmt: skip
    plain_epoch(cfg, data, 1)  # warm-up both paths once
    train(config=cfg, data=data)
    harness, plain = [], []
    for r in range(repeats):
        for which in ("harness", "plain") if r % 2 == 0 else ("plain", "harness"):
            if which == "plain":
                plain.append(n / plain_epoch(cfg, data, 1))
            else:
                result = train(config=cfg, data=data)
                harness.append(n / result.history[0]["train_time"])
    h, p = median(harness), median(plain)
    print(f"plain loop: median {p:,.0f} samples/s  ({', '.join(f'{v:,.0f}' for v in plain)})")
    print(f"train():    median {h:,.0f} samples/s  ({', '.join(f'{v:,.0f}' for v in harness)})")
    print(f"ratio train()/plain = {h / p:.3f}  (target >= 0.97)")


if __name__ == "__main__":
    main()

"""The loop applies a problem's augmentation to training batches, on the device, seeded.

cifar10_fast on synthetic 12x12 images with a width-4 net: seconds on one CPU thread.
"""

from __future__ import annotations

import pytest
import torch
from testkit import StopAfter

from uncertainty_lr.data import DataBundle, channel_stats
from uncertainty_lr.experiments import loop
from uncertainty_lr.experiments.config import RunConfig, resolve
from uncertainty_lr.experiments.run import train
from uncertainty_lr.experiments.store import Store
from uncertainty_lr.problems import get_problem

TIMES = ("train_time", "eval_time", "wall_time")


def synthetic_cifar(n_train: int = 96, n_val: int = 32, n_test: int = 32) -> DataBundle:
    """Random uint8 images (N, 3, 12, 12) whose label is the brightest channel (learnable)."""
    g = torch.Generator().manual_seed(0)

    def split(n):
        x = torch.randint(0, 200, (n, 3, 12, 12), generator=g, dtype=torch.uint8)
        y = torch.randint(0, 3, (n,), generator=g)
        x[torch.arange(n), y] += 50
        return x, y

    (xt, yt), (xv, yv), (xs, ys) = split(n_train), split(n_val), split(n_test)
    mean, std = channel_stats(xt)
    return DataBundle("cifar10", "image", xt, yt, xv, yv, xs, ys, 3, ["a", "b", "c"], mean, std,
                      fingerprint="synthetic")  # fmt: skip


def config(**kw) -> RunConfig:
    base = dict(problem="cifar10_fast", schedule="onecycle", epochs=2, batch_size=32, lr=0.1,
                model_options={"width": 4}, device="cpu")  # fmt: skip
    return RunConfig(**{**base, **kw})


def strip_times(history):
    return [{k: v for k, v in h.items() if k not in TIMES} for h in history]


def test_cifar10_fast_defaults_and_recipe():
    problem = get_problem("cifar10_fast")
    assert (problem.dataset, problem.model) == ("cifar10", "airbench")
    assert problem.augment == "crop_flip"
    cfg = resolve(RunConfig(problem="cifar10_fast"))
    assert (cfg.optimizer, cfg.lr, cfg.weight_decay, cfg.batch_size, cfg.epochs, cfg.dropout) == (
        "sgd", 0.4, 1e-3, 1024, 20, 0.0)  # fmt: skip
    assert cfg.train_size is cfg.val_size is cfg.test_size is None  # every image


def test_training_batches_are_augmented_with_params_drawn_after_the_order():
    data = synthetic_cifar()
    cfg = resolve(config())
    ctx = loop.epoch_context(cfg, data, torch.device("cpu"))
    seen = []
    ctx.net.register_forward_pre_hook(lambda module, args: seen.append(args[0].clone()))
    loop.train_epoch(ctx, epoch=1)

    generator = torch.Generator().manual_seed(loop.epoch_seed(cfg.seed, 1))
    order = torch.randperm(len(data.y_train), generator=generator)
    params = ctx.augment.draw(len(order), generator)
    first = order[: cfg.batch_size]
    expected = data.normalise(ctx.augment(data.x_train[first], params[first]))
    assert torch.equal(seen[0], expected)
    assert not torch.equal(seen[0], data.normalise(data.x_train[first]))  # it did move pixels
    # validation (after the 3 training batches) sees the images as they are
    assert torch.equal(seen[3], data.normalise(data.x_val))


def test_digits_has_no_augmentation():
    ctx = loop.epoch_context(resolve(RunConfig(problem="digits_mlp")), synthetic_digits(), torch.device("cpu"))  # fmt: skip
    assert ctx.augment is None


def synthetic_digits() -> DataBundle:
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 17, (40, 1, 8, 8), generator=g, dtype=torch.uint8)
    y = torch.arange(40) % 10
    mean, std = channel_stats(x)
    return DataBundle("digits", "image", x, y, x, y, x, y, 10, [str(i) for i in range(10)], mean, std)  # fmt: skip


@pytest.mark.parametrize("schedule", ["onecycle", "uncertainty"])
def test_cifar10_fast_resumes_to_identical_metrics(tmp_path, schedule):
    data = synthetic_cifar()
    whole = train(config=config(schedule=schedule), data=data)
    assert whole.status == "done" and len(whole.history) == 2
    store = Store(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        train(config=config(schedule=schedule), data=data, store=store, hooks=[StopAfter(1)])
    resumed = train(config=config(schedule=schedule), data=data, store=store)
    assert resumed.resumed_from == 1
    assert strip_times(resumed.history) == strip_times(whole.history)
    assert resumed.test == whole.test

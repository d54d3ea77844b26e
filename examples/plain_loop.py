"""UncertaintyLR in a plain PyTorch loop, with the recommended setting.

Stepped after every optimizer step: over the first epoch it searches the LR level (up to
10 x the optimizer's LR while the training loss keeps stable), holds it while the model
keeps learning, and once the model has been over 5 % surer than it is right on held-out
data for 2 epochs decays linearly to ~0 over half the steps taken so far; ``annealed``
says when to stop. The held-out signal is read from a running average of the weights
(``WeightAverage``). No budget is stated anywhere.

    python examples/plain_loop.py        # a few seconds on one CPU core
"""

import torch
from torch import nn

from uncertainty_lr import RECOMMENDED, UncertaintyLR, WeightAverage
from uncertainty_lr.signals import overconfidence


def blobs(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """n noisy points in 20-D from 3 overlapping classes: (n, 20) inputs, (n,) labels."""
    weights = torch.randn(20, 3, generator=torch.Generator().manual_seed(0))
    x = torch.randn(n, 20, generator=generator)
    y = (x @ weights + torch.randn(n, 3, generator=generator)).argmax(1)
    return x, y


def main() -> None:
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(1)
    x, y = blobs(200, generator)
    x_val, y_val = blobs(1000, generator)
    model = nn.Sequential(nn.Linear(20, 256), nn.ReLU(), nn.Linear(256, 3))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    batches = 10
    # mode="cycle"; the level search lasts one epoch
    scheduler = UncertaintyLR(optimizer, **RECOMMENDED, search_steps=batches)
    average = WeightAverage(optimizer)
    for epoch in range(100):
        for xb, yb in zip(x.split(len(x) // batches), y.split(len(y) // batches)):
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(xb), yb)
            loss.backward()
            optimizer.step()
            average.update()
            if scheduler.wants_loss:  # only while it searches the level: no sync after
                scheduler.observe_loss(loss.detach())
            scheduler.step()
        with average.averaged(), torch.no_grad():  # held-out confidence minus accuracy
            signal = overconfidence(model(x_val).softmax(-1), y_val)
        scheduler.observe(signal)  # acted on at the next step
        if epoch % 2 == 0 or scheduler.annealed:
            print(f"epoch {epoch:3d}  signal {signal:.3f}  lr {scheduler.get_last_lr()[0]:.2e}")
        if scheduler.annealed:  # the decay is over: training can stop here
            print(f"annealed after {epoch + 1} epochs")
            break


if __name__ == "__main__":
    main()

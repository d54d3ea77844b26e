"""UncertaintyLR in a plain PyTorch loop, with the recommended setting.

The LR is held while the model keeps learning; once the model has been over 5 % surer
than it is right on held-out data for 2 epochs, it decays linearly to ~0 over half the
epochs taken so far, and ``annealed`` says when to stop. No budget is stated anywhere.

    python examples/plain_loop.py        # a few seconds on one CPU core
"""

import torch
from torch import nn

from uncertainty_lr import RECOMMENDED, UncertaintyLR
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
    scheduler = UncertaintyLR(optimizer, **RECOMMENDED)  # mode="anneal", trigger="threshold"
    for epoch in range(100):
        for xb, yb in zip(x.split(20), y.split(20)):
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(xb), yb).backward()
            optimizer.step()
        with torch.no_grad():  # held-out confidence minus accuracy, floored at 0
            signal = overconfidence(model(x_val).softmax(-1), y_val)
        scheduler.step(signal)
        if epoch % 5 == 0 or scheduler.annealed:
            print(f"epoch {epoch:3d}  signal {signal:.3f}  lr {scheduler.get_last_lr()[0]:.2e}")
        if scheduler.annealed:  # the decay is over: training can stop here
            print(f"annealed after {epoch + 1} epochs")
            break


if __name__ == "__main__":
    main()

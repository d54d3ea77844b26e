"""UncertaintyLR when you know the budget: mode="cycle" with total_steps.

Stepped after every optimizer step, given that step's training loss and, after each
evaluation, the held-out over-confidence (mean confidence minus accuracy). It ramps the LR
up from the optimizer's LR towards max_lr (10 x) over the first epoch while the loss is
stable; if the model then comes out surer than it is right, it settles at a third of the LR
reached, else it keeps it. It holds that level and decays linearly to ~0 at total_steps,
starting when the model has been over-confident for 2 evaluations (between 50 % and 80 %
of the budget).

    python examples/known_budget.py        # a few seconds on one CPU core
"""

import torch
from torch import nn

from uncertainty_lr import UncertaintyLR
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
    x, y = blobs(400, generator)
    x_val, y_val = blobs(1000, generator)
    model = nn.Sequential(nn.Linear(20, 256), nn.ReLU(), nn.Linear(256, 3))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    epochs, batches = 20, 20
    scheduler = UncertaintyLR(optimizer, mode="cycle", total_steps=epochs * batches,
                              search_steps=batches)  # fmt: skip
    for epoch in range(epochs):
        for xb, yb in zip(x.split(len(x) // batches), y.split(len(y) // batches)):
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(xb), yb)
            loss.backward()
            optimizer.step()
            if scheduler.wants_loss:  # only while it searches the level: no sync after
                scheduler.observe_loss(loss.detach())
            scheduler.step()
        with torch.no_grad():
            signal = overconfidence(model(x_val).softmax(-1), y_val)
            accuracy = (model(x_val).argmax(1) == y_val).float().mean().item()
        scheduler.observe(signal)  # decided at the next step
        print(f"epoch {epoch:2d}  signal {signal:.3f}  val acc {accuracy:.3f}  "
              f"lr {scheduler.get_last_lr()[0]:.2e}")  # fmt: skip
    print(f"budget spent: lr {scheduler.get_last_lr()[0]:.1e} after {epochs * batches} steps")


if __name__ == "__main__":
    main()

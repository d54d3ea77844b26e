"""A linear warmup, then the uncertainty rule: UncertaintyLR inside torch's SequentialLR.

torch refuses ReduceLROnPlateau inside SequentialLR; UncertaintyLR is a plain LRScheduler,
so it composes. Hand it each epoch's signal with ``observe(u)``, then step the container
as usual: ``step()`` with no argument uses the signal once. Needs torch >= 2.9: before,
``SequentialLR`` hands over with ``step(0)``, which UncertaintyLR refuses with a TypeError.

    python examples/warmup_sequential.py
"""

import torch
from torch import nn
from torch.optim.lr_scheduler import LinearLR, SequentialLR

from uncertainty_lr import UncertaintyLR
from uncertainty_lr.signals import entropy

WARMUP_EPOCHS = 3


def main() -> None:
    torch.manual_seed(0)
    x = torch.randn(512, 16)
    y = x[:, :4].argmax(1)  # 4 classes, learnable
    x_train, y_train, x_val = x[:384], y[:384], x[384:]
    model = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 4))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    warmup = LinearLR(optimizer, start_factor=0.1, total_iters=WARMUP_EPOCHS)
    uncertainty = UncertaintyLR(optimizer, threshold=0.3, step_size=0.2)
    scheduler = SequentialLR(optimizer, [warmup, uncertainty], milestones=[WARMUP_EPOCHS])
    for epoch in range(12):
        for xb, yb in zip(x_train.split(32), y_train.split(32)):
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(xb), yb).backward()
            optimizer.step()
        with torch.no_grad():  # normalised predictive entropy on held-out inputs, in [0, 1]
            signal = entropy(model(x_val), from_logits=True)
        uncertainty.observe(signal)  # used by the step after the warmup, ignored before
        scheduler.step()
        phase = "warmup" if epoch + 1 < WARMUP_EPOCHS else "uncertainty"
        print(
            f"epoch {epoch:2d}  entropy {signal:.3f}  lr {scheduler.get_last_lr()[0]:.4f}  ({phase})"
        )


if __name__ == "__main__":
    main()

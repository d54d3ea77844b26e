"""Lightning with no callback: configure_optimizers returns MonitoredUncertaintyLR and a monitor.

MonitoredUncertaintyLR is UncertaintyLR typed as a ReduceLROnPlateau, so Lightning steps
it with the logged ``val_entropy`` after every validation, and its state is saved in
Lightning's checkpoints. Needs ``pip install "uncertainty-lr[lightning]"``.

    python examples/lightning_monitored.py
"""

import lightning.pytorch as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from uncertainty_lr import MonitoredUncertaintyLR
from uncertainty_lr.signals import entropy


class Classifier(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.cross_entropy(self(x), y)

    def validation_step(self, batch, batch_idx):
        x, y = batch  # batch_size: Lightning averages the signal per example
        self.log("val_entropy", entropy(self(x), from_logits=True), batch_size=len(y))

    def configure_optimizers(self):
        optimizer = torch.optim.Adam(self.parameters(), lr=1e-2)
        scheduler = MonitoredUncertaintyLR(optimizer, threshold=0.3, step_size=0.2)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "monitor": "val_entropy"},
        }


def main() -> None:
    pl.seed_everything(0, verbose=False)
    x = torch.randn(256, 20)
    y = x[:, :4].argmax(dim=1)
    train = DataLoader(TensorDataset(x[:192], y[:192]), batch_size=32, shuffle=True)
    val = DataLoader(TensorDataset(x[192:], y[192:]), batch_size=64)
    trainer = pl.Trainer(max_epochs=4, accelerator="cpu", logger=False,
                         enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False)  # fmt: skip
    trainer.fit(Classifier(), train, val)
    scheduler = trainer.lr_scheduler_configs[0].scheduler
    print(f"{scheduler.policy.steps} decisions, lr now {scheduler.get_last_lr()[0]:.4f}")


if __name__ == "__main__":
    main()

"""mode="cycle" in Lightning with no callback: configure_optimizers returns UncertaintyLR with
``interval="step"``, the module hands it each training loss and each validation signal, and
the LRs Lightning ends up using are the reference twin's for what it was handed."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

pl = pytest.importorskip("lightning.pytorch")

from uncertainty_lr import UncertaintyLR  # noqa: E402
from uncertainty_lr.schedulers.modes.reference_cycle import reference_cycle_lrs  # noqa: E402
from uncertainty_lr.schedulers.options import UncertaintyOptions  # noqa: E402
from uncertainty_lr.signals import overconfidence  # noqa: E402

warnings.filterwarnings("ignore", message=".*does not have many workers.*")
OPTIONS = {"mode": "cycle", "total_steps": 24, "search_steps": 6, "decay_earliest": 0.3}


def blobs(n: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(3, 8, generator=torch.Generator().manual_seed(99)) * 2
    y = torch.randint(0, 3, (n,), generator=g)
    return centres[y] + torch.randn(n, 8, generator=g), y


class CycleModule(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
        self.events: list[list] = []  # [loss, signal] handed over before each scheduler step
        self.lrs: list[float] = []  # the LR of every optimizer step
        self.val_probs, self.val_labels = [], []

    def training_step(self, batch, batch_idx):
        x, y = batch
        self.lrs.append(self.optimizers().param_groups[0]["lr"])
        loss = nn.functional.cross_entropy(self.net(x), y)
        scheduler = self.lr_schedulers()
        if scheduler.wants_loss:
            scheduler.observe_loss(loss.detach())
            self.events[-1][0] = loss.item()
        return loss

    def on_train_batch_start(self, batch, batch_idx):
        self.events.append([None, None])
        if self.pending is not None:  # the last validation's signal, decided at this step
            self.events[-1][1], self.pending = self.pending, None

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.val_probs.append(self.net(x).softmax(-1))
        self.val_labels.append(y)

    def on_validation_epoch_end(self):
        if self.trainer.sanity_checking:
            self.val_probs, self.val_labels = [], []
            return
        u = overconfidence(torch.cat(self.val_probs), torch.cat(self.val_labels))
        self.lr_schedulers().observe(u)
        self.pending = u
        self.val_probs, self.val_labels = [], []

    def configure_optimizers(self):
        self.pending = None
        optimizer = torch.optim.SGD(self.parameters(), lr=0.05)
        scheduler = UncertaintyLR(optimizer, **OPTIONS)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }


def test_lightning_steps_a_cycle_per_step_with_the_losses_and_signals_it_was_given(tmp_path):
    train = DataLoader(TensorDataset(*blobs(96, 1)), batch_size=16)  # 6 steps an epoch
    val = DataLoader(TensorDataset(*blobs(48, 2)), batch_size=16)
    module = CycleModule()
    trainer = pl.Trainer(accelerator="cpu", max_epochs=4, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False,
                         default_root_dir=tmp_path)  # fmt: skip
    trainer.fit(module, train, val)
    assert len(module.lrs) == 24
    twin = reference_cycle_lrs([tuple(e) for e in module.events], [0.05],
                               UncertaintyOptions(**OPTIONS))  # fmt: skip
    # the LR of step k + 1 is what the scheduler wrote after step k
    assert module.lrs[1:] == [lrs[0] for lrs in twin[:-1]]
    assert module.lrs[0] == 0.05 and max(module.lrs) > 0.05  # it searched upwards


def test_the_per_evaluation_callbacks_refuse_mode_cycle():
    from uncertainty_lr.integrations.lightning import UncertaintyLRCallback

    with pytest.raises(ValueError, match="mode='cycle' is stepped every optimizer step"):
        UncertaintyLRCallback(mode="cycle")

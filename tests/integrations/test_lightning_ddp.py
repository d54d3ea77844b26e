"""UncertaintyLRCallback under 2-process CPU DDP (gloo): every rank takes the same decision.

Lightning's "ddp" strategy re-runs the launching script for rank 1, so the training runs
in a standalone script in a subprocess. About 15 s on 2 cores, hence the slow mark.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytest.importorskip("lightning.pytorch")

SCRIPT = r"""
import json, sys
import torch
torch.set_num_threads(1)
import lightning.pytorch as pl
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from uncertainty_lr.integrations.lightning import UncertaintyLRCallback
from uncertainty_lr.signals.functions import entropy, per_sample_entropy


class Linear(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.net = nn.Linear(8, 3)

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        return nn.functional.cross_entropy(self(batch[0]), batch[1])

    def validation_step(self, batch, batch_idx):
        return self(batch[0])

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.05)


g = torch.Generator().manual_seed(0)
x, y = torch.randn(64, 8, generator=g), torch.randint(0, 3, (64,), generator=g)
# Rows 0-14 near zero (unsure), rows 15-29 far out (sure): the ranks' shards differ a lot.
x_val = torch.cat([0.1 * torch.randn(15, 8, generator=g), 6 * torch.randn(15, 8, generator=g)])
y_val = torch.randint(0, 3, (30,), generator=g)
pl.seed_everything(0, verbose=False)
callback = UncertaintyLRCallback(threshold=0.5)
trainer = pl.Trainer(
    accelerator="cpu", devices=2, strategy="ddp", max_epochs=2, logger=False,
    enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False,
    num_sanity_val_steps=0, callbacks=[callback],
)
model = Linear()
val = DataLoader(TensorDataset(x_val, y_val), batch_size=8)
trainer.fit(model, DataLoader(TensorDataset(x, y), batch_size=16), val)
model.eval()
with torch.no_grad():
    logits = model(x_val)
# DistributedSampler (no shuffle) gives rank r the rows r, r + 2, r + 4, ...
shard = per_sample_entropy(logits[trainer.global_rank :: 2], from_logits=True).mean().item()
result = {
    "history": callback.history,
    "full": entropy(logits, from_logits=True),
    "shard": shard,
    "lr": trainer.optimizers[0].param_groups[0]["lr"],
}
with open(f"{sys.argv[1]}/rank{trainer.global_rank}.json", "w") as f:
    json.dump(result, f)
# End the process group before exit: gloo threads left running at interpreter shutdown
# can abort the process ("terminate called without an active exception").
torch.distributed.destroy_process_group()
"""


@pytest.mark.slow
def test_ddp_ranks_share_one_signal_and_lr(tmp_path):
    script = tmp_path / "ddp_run.py"
    script.write_text(SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["history"] == ranks[1]["history"]
    assert len(ranks[0]["history"]) == 2
    last = ranks[0]["history"][-1]
    # The decision used the mean over all 30 rows, not either rank's own 15.
    assert last["signal"] == pytest.approx(ranks[0]["full"], abs=1e-6)
    for rank in ranks:
        assert rank["shard"] != pytest.approx(rank["full"], abs=1e-3)
        assert rank["lr"] == pytest.approx(last["lrs"][0])

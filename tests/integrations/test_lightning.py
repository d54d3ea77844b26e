"""UncertaintyLR in Lightning, CPU only, a few epochs: returned from configure_optimizers
with a monitor (no callback), and the UncertaintyLRCallback."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

pl = pytest.importorskip("lightning.pytorch")

from uncertainty_lr.integrations.lightning import LR_KEY, SIGNAL_KEY, UncertaintyLRCallback  # noqa: E402
from uncertainty_lr.schedulers import MonitoredUncertaintyLR  # noqa: E402
from uncertainty_lr.schedulers.policy import UncertaintyPolicy  # noqa: E402
from uncertainty_lr.signals.functions import entropy  # noqa: E402

warnings.filterwarnings("ignore", message=".*does not have many workers.*")
warnings.filterwarnings("ignore", message=".*LeafSpec.*")


def blobs(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Three learnable Gaussian blobs in 8-D: x (n, 8) float32, y (n,) int64."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(3, 8, generator=torch.Generator().manual_seed(99)) * 2
    y = torch.randint(0, 3, (n,), generator=g)
    return centres[y] + torch.randn(n, 8, generator=g), y


class TinyClassifier(pl.LightningModule):
    def __init__(
        self, lr: float = 0.05, returns: str = "dict", scheduler: bool = False, dropout: float = 0.3
    ) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(dropout), nn.Linear(16, 3))
        self.lr, self.returns, self.scheduler = lr, returns, scheduler

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.cross_entropy(self(x), y)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        logits = self(x)
        if self.returns == "dict":
            return {"loss": nn.functional.cross_entropy(logits, y), "logits": logits}
        return logits if self.returns == "tensor" else None

    def configure_optimizers(self):
        optimizer = torch.optim.SGD(self.parameters(), lr=self.lr)
        if self.scheduler:
            return [optimizer], [torch.optim.lr_scheduler.StepLR(optimizer, 1)]
        return optimizer


class LRRecorder(pl.Callback):
    """The LR each training epoch actually starts with."""

    def __init__(self) -> None:
        self.lrs: list[float] = []

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.lrs.append(trainer.optimizers[0].param_groups[0]["lr"])


def loaders() -> tuple[DataLoader, DataLoader]:
    train, val = TensorDataset(*blobs(96, 1)), TensorDataset(*blobs(50, 2))
    # 50 validation rows in batches of 16: the last batch is short, so a mean of batch
    # means would differ from the per-example mean the callback must compute.
    return DataLoader(train, batch_size=16), DataLoader(val, batch_size=16)


def make_trainer(tmp_path, callbacks, max_epochs: int = 3, **kwargs) -> pl.Trainer:
    return pl.Trainer(
        accelerator="cpu",
        max_epochs=max_epochs,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=kwargs.pop("enable_checkpointing", False),
        default_root_dir=tmp_path,
        callbacks=callbacks,
        **kwargs,
    )


def test_lr_sequence_follows_policy_on_the_signals_seen(tmp_path):
    pl.seed_everything(0, verbose=False)
    model = TinyClassifier(returns="tensor")
    callback = UncertaintyLRCallback(signal="entropy", threshold=0.3, step_size=0.2)
    recorder = LRRecorder()
    train, val = loaders()
    make_trainer(tmp_path, [callback, recorder]).fit(model, train, val)

    signals = [entry["signal"] for entry in callback.history]
    assert [entry["epoch"] for entry in callback.history] == [0, 1, 2]
    reference = UncertaintyPolicy([0.05], threshold=0.3, step_size=0.2)
    expected = [reference.step(s) for s in signals]
    assert [entry["lrs"] for entry in callback.history] == expected
    # The optimizer really trains with those LRs: epoch k + 1 starts with decision k.
    assert recorder.lrs == [0.05] + [lrs[0] for lrs in expected[:-1]]
    assert len(set(recorder.lrs)) > 1
    # The last signal is the per-example mean entropy of the final model on all 50 rows.
    x_val = val.dataset.tensors[0]
    model.eval()
    with torch.no_grad():
        assert signals[-1] == pytest.approx(entropy(model(x_val), from_logits=True), abs=1e-6)


def test_signal_and_lr_are_logged(tmp_path):
    pl.seed_everything(0, verbose=False)
    callback = UncertaintyLRCallback(signal="margin")
    trainer = make_trainer(tmp_path, [callback], max_epochs=2)
    trainer.fit(TinyClassifier(), *loaders())
    assert trainer.callback_metrics[SIGNAL_KEY].item() == pytest.approx(
        callback.history[-1]["signal"]
    )
    assert trainer.callback_metrics[LR_KEY].item() == pytest.approx(callback.history[-1]["lrs"][0])


def test_resume_from_checkpoint_continues_the_same_schedule(tmp_path):
    options = dict(signal="entropy", threshold=0.5, smoothing=0.5, reference="initial")
    options["reference_steps"] = 2
    pl.seed_everything(0, verbose=False)
    full = UncertaintyLRCallback(**options)
    saver = pl.callbacks.ModelCheckpoint(
        dirpath=tmp_path / "ckpt", filename="{epoch}", save_top_k=-1, every_n_epochs=1
    )
    # No dropout: Lightning does not restore the global RNG, and the resumed run must
    # train exactly as the uninterrupted one did.
    make_trainer(tmp_path, [full, saver], max_epochs=4, enable_checkpointing=True).fit(
        TinyClassifier(dropout=0.0), *loaders()
    )

    pl.seed_everything(123, verbose=False)  # a different init: the checkpoint must win
    resumed = UncertaintyLRCallback(**options)
    recorder = LRRecorder()
    make_trainer(tmp_path / "b", [resumed, recorder], max_epochs=4).fit(
        TinyClassifier(dropout=0.0), *loaders(), ckpt_path=tmp_path / "ckpt" / "epoch=1.ckpt"
    )
    assert len(resumed.history) == 4
    for got, want in zip(resumed.history, full.history):
        assert got["epoch"] == want["epoch"]
        assert got["signal"] == pytest.approx(want["signal"], abs=1e-6)
        assert got["lrs"] == pytest.approx(want["lrs"], rel=1e-6)
    assert recorder.lrs[0] == pytest.approx(full.history[1]["lrs"][0])
    assert resumed.scheduler.policy.ema == pytest.approx(full.scheduler.policy.ema)


def test_mc_dropout_mutual_information(tmp_path):
    pl.seed_everything(0, verbose=False)
    callback = UncertaintyLRCallback(signal="mutual_information", mc_samples=4)
    make_trainer(tmp_path, [callback], max_epochs=1).fit(TinyClassifier(returns="none"), *loaders())
    (entry,) = callback.history
    assert 0.0 < entry["signal"] < 1.0


def test_validate_and_sanity_check_do_not_step(tmp_path):
    pl.seed_everything(0, verbose=False)
    callback = UncertaintyLRCallback()
    trainer = make_trainer(tmp_path, [callback], max_epochs=1, num_sanity_val_steps=2)
    model = TinyClassifier()
    trainer.fit(model, *loaders())
    assert len(callback.history) == 1
    trainer.validate(model, loaders()[1], verbose=False)
    assert len(callback.history) == 1


def test_missing_logits_is_a_clear_error(tmp_path):
    callback = UncertaintyLRCallback()
    trainer = make_trainer(tmp_path, [callback], max_epochs=1, num_sanity_val_steps=0)
    with pytest.raises(ValueError, match="validation_step to return"):
        trainer.fit(TinyClassifier(returns="none"), *loaders())


def test_rejects_a_second_lr_scheduler(tmp_path):
    trainer = make_trainer(tmp_path, [UncertaintyLRCallback()], max_epochs=1)
    with pytest.raises(ValueError, match="must not also return an LR scheduler, got StepLR"):
        trainer.fit(TinyClassifier(scheduler=True), *loaders())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"signal": "mutual_information"}, "need mc_samples >= 2"),
        ({"mc_samples": 1}, "mc_samples must be 0"),
        ({"signal": "bogus", "mc_samples": 3}, "signal must be one of"),
        (
            {"thresold": 0.1},
            r"unknown option\(s\) thresold for UncertaintyLRCallback; allowed: band_width",
        ),
        ({"threshold": 1.5}, "threshold must be"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        UncertaintyLRCallback(**kwargs)


class RecordingScheduler(MonitoredUncertaintyLR):
    """The signals Lightning feeds the scheduler, recorded."""

    def __init__(self, optimizer, **options) -> None:
        self.fed: list[float] = []
        super().__init__(optimizer, **options)

    def step(self, metrics=None) -> None:
        if metrics is not None:
            self.fed.append(float(metrics))
        super().step(metrics)


class SelfScheduled(TinyClassifier):
    """Logs its validation entropy and returns the scheduler with a monitor: no callback."""

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_entropy", entropy(self(x).softmax(-1)), batch_size=len(y))

    def configure_optimizers(self):
        optimizer = torch.optim.SGD(self.parameters(), lr=self.lr)
        self.uncertainty = RecordingScheduler(optimizer, threshold=0.5, step_size=0.2)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": self.uncertainty, "monitor": "val_entropy"},
        }


def test_configure_optimizers_with_the_scheduler_and_no_callback(tmp_path):
    pl.seed_everything(0, verbose=False)
    model = SelfScheduled()
    recorder = LRRecorder()
    train, val = loaders()
    make_trainer(tmp_path, [recorder]).fit(model, train, val)
    fed = model.uncertainty.fed
    assert len(fed) == 3 and all(0 < u < 1 for u in fed)
    reference = UncertaintyPolicy([0.05], threshold=0.5, step_size=0.2)
    expected = [reference.step(u)[0] for u in fed]
    # Each epoch trains with the decision taken after the previous validation.
    assert recorder.lrs == pytest.approx([0.05] + expected[:-1], rel=1e-12)
    assert model.uncertainty.get_last_lr() == [pytest.approx(expected[-1], rel=1e-12)]

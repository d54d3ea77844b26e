"""UncertaintyLRTrainerCallback with a tiny torch model in the Hugging Face Trainer, CPU only."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

transformers = pytest.importorskip("transformers")
pytest.importorskip("accelerate")

from uncertainty_lr.integrations.hf_trainer import (  # noqa: E402
    LR_KEY,
    SIGNAL_KEY,
    UncertaintyLRTrainerCallback,
    uncertainty_metrics,
)
from uncertainty_lr.schedulers import MonitoredUncertaintyLR  # noqa: E402
from uncertainty_lr.schedulers.policy import UncertaintyPolicy  # noqa: E402

LR = 0.05


class TinyModel(nn.Module):
    """forward(x, labels) -> {"loss", "logits"}, the shape the Trainer expects."""

    def __init__(self, dropout: float = 0.0) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(dropout), nn.Linear(16, 3))

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> dict:
        logits = self.net(x)
        out = {"logits": logits}
        if labels is not None:
            out["loss"] = nn.functional.cross_entropy(logits, labels)
        return out


def blobs(n: int, seed: int) -> list[dict]:
    """Three learnable Gaussian blobs in 8-D as a list of {"x": (8,), "labels": ()} rows."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(3, 8, generator=torch.Generator().manual_seed(99)) * 2
    y = torch.randint(0, 3, (n,), generator=g)
    x = centres[y] + torch.randn(n, 8, generator=g)
    return [{"x": x[i], "labels": y[i]} for i in range(n)]


class LRAtEpochStart(transformers.TrainerCallback):
    def __init__(self) -> None:
        self.lrs: list[float] = []

    def on_epoch_begin(self, args, state, control, optimizer=None, **kwargs):
        self.lrs.append(optimizer.param_groups[0]["lr"])


def make_trainer(tmp_path, callbacks, model=None, metrics=True, **overrides):
    options = dict(
        output_dir=str(tmp_path),
        eval_strategy="epoch",
        save_strategy="epoch",
        logging_strategy="epoch",
        num_train_epochs=3,
        learning_rate=LR,
        lr_scheduler_type="constant",
        optim="sgd",
        per_device_train_batch_size=16,
        per_device_eval_batch_size=16,
        use_cpu=True,
        report_to=[],
        disable_tqdm=True,
        seed=0,
    )
    options.update(overrides)
    torch.manual_seed(0)
    return transformers.Trainer(
        model=model or TinyModel(),
        args=transformers.TrainingArguments(**options),
        train_dataset=blobs(96, 1),
        eval_dataset=blobs(40, 2),
        compute_metrics=uncertainty_metrics if metrics else None,
        callbacks=callbacks,
    )


def test_lr_follows_the_policy_on_the_eval_signal(tmp_path):
    callback = UncertaintyLRTrainerCallback(signal="entropy", threshold=0.3, step_size=0.2)
    recorder = LRAtEpochStart()
    trainer = make_trainer(tmp_path, [callback, recorder], save_strategy="no")
    trainer.train()

    evals = [e for e in trainer.state.log_history if "eval_uncertainty_entropy" in e]
    ours = [e for e in trainer.state.log_history if SIGNAL_KEY in e]
    signals = [e["eval_uncertainty_entropy"] for e in evals]
    assert len(signals) == 3
    assert [e[SIGNAL_KEY] for e in ours] == signals
    reference = UncertaintyPolicy([LR], threshold=0.3, step_size=0.2)
    expected = [reference.step(s)[0] for s in signals]
    assert [e[LR_KEY] for e in ours] == expected
    assert [entry["lrs"][0] for entry in callback.history] == expected
    # The optimizer trains each epoch with the previous decision, and the Trainer's own
    # "learning_rate" log agrees (the constant scheduler keeps the policy's LR).
    assert recorder.lrs == [LR] + expected[:-1]
    logged = [e["learning_rate"] for e in trainer.state.log_history if "learning_rate" in e]
    assert logged == pytest.approx([LR] + expected[:-1])
    assert len(set(recorder.lrs)) > 1


def test_resume_from_checkpoint_keeps_the_policy_state(tmp_path):
    options = dict(threshold=0.5, smoothing=0.5, reference="initial", reference_steps=2)
    full = UncertaintyLRTrainerCallback(**options)
    make_trainer(tmp_path / "a", [full]).train()
    assert (tmp_path / "a" / "checkpoint-6").is_dir()  # 96 rows / 16 = 6 steps per epoch

    resumed = UncertaintyLRTrainerCallback(**options)
    recorder = LRAtEpochStart()
    trainer = make_trainer(tmp_path / "a", [resumed, recorder])
    trainer.train(resume_from_checkpoint=str(tmp_path / "a" / "checkpoint-6"))
    assert len(resumed.history) == 3
    for got, want in zip(resumed.history, full.history):
        assert got["step"] == want["step"]
        assert got["signal"] == pytest.approx(want["signal"], abs=1e-6)
        assert got["lrs"] == pytest.approx(want["lrs"], rel=1e-6)
    assert recorder.lrs[0] == pytest.approx(full.history[0]["lrs"][0])
    assert resumed.scheduler.policy.ema == pytest.approx(full.scheduler.policy.ema)


def test_eval_inputs_with_mc_dropout(tmp_path):
    x_eval = torch.stack([row["x"] for row in blobs(30, 3)])
    callback = UncertaintyLRTrainerCallback(
        signal="mutual_information", eval_inputs=x_eval, mc_samples=4
    )
    trainer = make_trainer(
        tmp_path, [callback], model=TinyModel(dropout=0.3), metrics=False, save_strategy="no"
    )
    trainer.args.num_train_epochs = 1
    trainer.train()
    (entry,) = callback.history
    assert 0.0 < entry["signal"] < 1.0


def test_a_moving_trainer_schedule_is_refused(tmp_path):
    callback = UncertaintyLRTrainerCallback()
    trainer = make_trainer(tmp_path, [callback], lr_scheduler_type="linear", save_strategy="no")
    with pytest.raises(ValueError, match="lr_scheduler_type='constant'"):
        trainer.train()


def test_missing_uncertainty_metrics_is_a_clear_error(tmp_path):
    trainer = make_trainer(tmp_path, [UncertaintyLRTrainerCallback()], metrics=False)
    trainer.args.num_train_epochs = 1
    with pytest.raises(ValueError, match="compute_metrics=uncertainty_metrics"):
        trainer.train()


def test_uncertainty_metrics_by_hand():
    uniform = np.zeros((4, 3), dtype=np.float32)
    metrics = uncertainty_metrics(transformers.EvalPrediction(uniform, np.zeros(4)))
    # confidence 1/3, accuracy 1 (the argmax of a tie is class 0): not over-confident
    assert metrics == pytest.approx({"uncertainty_confidence": 1.0, "uncertainty_entropy": 1.0,
                                     "uncertainty_margin": 1.0, "uncertainty_overconfidence": 0.0})  # fmt: skip
    sure = np.array([[50.0, 0.0], [0.0, 50.0]])
    extra = np.zeros((2, 5))  # e.g. hidden states after the logits
    metrics = uncertainty_metrics(transformers.EvalPrediction((sure, extra), np.array([0, 1])))
    assert all(v == pytest.approx(0.0, abs=1e-12) for v in metrics.values())
    # sure of both, right about one: confidence 1 - accuracy 0.5
    metrics = uncertainty_metrics(transformers.EvalPrediction(sure, np.array([0, 0])))
    assert metrics["uncertainty_overconfidence"] == pytest.approx(0.5, abs=1e-12)
    # without labels (or with labels of another shape) there is no over-confidence
    assert "uncertainty_overconfidence" not in uncertainty_metrics((sure, None))
    with pytest.raises(ValueError, match=r"got shape \(4,\)"):
        uncertainty_metrics(transformers.EvalPrediction(np.zeros(4), np.zeros(4)))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mc_samples": 4}, "needs eval_inputs"),
        ({"eval_inputs": [[1.0]]}, "eval_inputs must be a torch.Tensor"),
        ({"signal": "variance"}, "need mc_samples >= 2"),
        ({"step_size": 0.0}, "step_size must be"),
        ({"batch_size": 0}, "batch_size must be a positive integer"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        UncertaintyLRTrainerCallback(**kwargs)


def test_resume_with_restore_callback_states_from_checkpoint(tmp_path):
    full = UncertaintyLRTrainerCallback(threshold=0.5, smoothing=0.5)
    make_trainer(tmp_path, [full], num_train_epochs=2).train()
    # This option makes the Trainer rebuild the callback from its saved args and attributes.
    trainer = make_trainer(
        tmp_path,
        [UncertaintyLRTrainerCallback(threshold=0.5, smoothing=0.5)],
        num_train_epochs=2,
        restore_callback_states_from_checkpoint=True,
    )
    trainer.train(resume_from_checkpoint=str(tmp_path / "checkpoint-6"))
    (rebuilt,) = [
        cb
        for cb in trainer.callback_handler.callbacks
        if isinstance(cb, UncertaintyLRTrainerCallback)
    ]
    assert [e["lrs"][0] for e in rebuilt.history] == pytest.approx(
        [e["lrs"][0] for e in full.history]
    )
    assert rebuilt.scheduler.policy.threshold == 0.5


def test_optimizers_pair_with_the_scheduler_and_no_callback(tmp_path):
    torch.manual_seed(0)
    model = TinyModel()
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    scheduler = MonitoredUncertaintyLR(optimizer, threshold=0.3, step_size=0.2)
    recorder = LRAtEpochStart()
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path), eval_strategy="epoch", save_strategy="no",
        logging_strategy="epoch", num_train_epochs=3, per_device_train_batch_size=16,
        per_device_eval_batch_size=16, use_cpu=True, report_to=[], disable_tqdm=True, seed=0,
        metric_for_best_model="uncertainty_entropy",
    )  # fmt: skip
    trainer = transformers.Trainer(
        model=model, args=args, train_dataset=blobs(96, 1), eval_dataset=blobs(40, 2),
        compute_metrics=uncertainty_metrics, callbacks=[recorder],
        optimizers=(optimizer, scheduler),
    )  # fmt: skip
    trainer.train()
    signals = [e["eval_uncertainty_entropy"] for e in trainer.state.log_history if "eval_loss" in e]
    assert len(signals) == 3 and scheduler.policy.steps == 3
    reference = UncertaintyPolicy([LR], threshold=0.3, step_size=0.2)
    expected = [reference.step(s)[0] for s in signals]
    # Stepped once per evaluation (never per batch), with metric_for_best_model.
    assert recorder.lrs == pytest.approx([LR] + expected[:-1], rel=1e-12)
    assert scheduler.get_last_lr() == [pytest.approx(expected[-1], rel=1e-12)]

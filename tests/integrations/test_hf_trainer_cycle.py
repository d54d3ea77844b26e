"""mode="cycle" in the Hugging Face Trainer through UncertaintyLRTrainerCallback: stepped
after every optimizer step with the training loss the model computed, the held-out
over-confidence acted on at the next step, and the LRs the Trainer used are the
reference twin's for what it was handed."""

from __future__ import annotations

import pytest
import torch
from torch import nn

transformers = pytest.importorskip("transformers")
pytest.importorskip("accelerate")

from uncertainty_lr.integrations.hf_trainer import (  # noqa: E402
    SIGNAL_KEY,
    UncertaintyLRTrainerCallback,
    uncertainty_metrics,
)
from uncertainty_lr.schedulers.modes.reference_cycle import reference_cycle_lrs  # noqa: E402
from uncertainty_lr.schedulers.options import UncertaintyOptions  # noqa: E402

from .test_hf_trainer import LR, TinyModel, blobs  # noqa: E402

CYCLE = {"mode": "cycle", "search_steps": 6, "decay_earliest": 0.3}


class LossesAndLRs(TinyModel):
    """TinyModel that records the loss of every training pass and the LR it trained at."""

    def __init__(self, no_loss: bool = False) -> None:
        super().__init__()
        self.losses: list[float] = []
        self.no_loss = no_loss

    def forward(self, x, labels=None):
        out = super().forward(x, labels)
        if self.training and "loss" in out:
            self.losses.append(out["loss"].item())
            if self.no_loss:  # the loss computed outside the model, as a custom loss would
                return {"logits": out["logits"]}
        return out


class StepLRs(transformers.TrainerCallback):
    def __init__(self) -> None:
        self.lrs: list[float] = []

    def on_step_begin(self, args, state, control, optimizer=None, **kwargs):
        self.lrs.append(optimizer.param_groups[0]["lr"])


def trainer_for(tmp_path, callbacks, model, **overrides):
    options = dict(output_dir=str(tmp_path), eval_strategy="epoch", save_strategy="no",
                   logging_strategy="epoch", num_train_epochs=4, learning_rate=LR,
                   lr_scheduler_type="constant", optim="sgd", per_device_train_batch_size=16,
                   per_device_eval_batch_size=16, use_cpu=True, report_to=[],
                   disable_tqdm=True, seed=0)  # fmt: skip
    options.update(overrides)
    torch.manual_seed(0)
    return transformers.Trainer(
        model=model, args=transformers.TrainingArguments(**options),
        train_dataset=blobs(96, 1), eval_dataset=blobs(48, 2),
        compute_metrics=uncertainty_metrics, callbacks=callbacks,
    )  # fmt: skip


def events_of(trainer, model, steps_per_epoch, accumulate=1):
    """(loss, signal) handed over before each scheduler step, as the twin takes them."""
    signals = [e[SIGNAL_KEY] for e in trainer.state.log_history if SIGNAL_KEY in e]
    losses = model.losses
    per_step = [sum(losses[i : i + accumulate]) / accumulate for i in range(0, len(losses), accumulate)]  # fmt: skip
    events = []
    for k, loss in enumerate(per_step):
        after_eval = k > 0 and k % steps_per_epoch == 0
        events.append((loss, signals[k // steps_per_epoch - 1] if after_eval else None))
    return events, signals


@pytest.mark.parametrize("budget", ["free", "known"])
def test_the_trainer_uses_the_twins_lrs_for_the_losses_and_signals_it_was_handed(tmp_path, budget):
    model, recorder = LossesAndLRs(), StepLRs()
    callback = UncertaintyLRTrainerCallback(budget=budget, **CYCLE)
    trainer = trainer_for(tmp_path, [callback, recorder], model)
    trainer.train()
    assert callback.signal == "overconfidence" and len(recorder.lrs) == 24  # 6 steps x 4
    events, signals = events_of(trainer, model, steps_per_epoch=6)
    assert len(signals) == 4
    evals = [e["eval_uncertainty_overconfidence"] for e in trainer.state.log_history
             if "eval_uncertainty_overconfidence" in e]  # fmt: skip
    assert signals == evals
    options = UncertaintyOptions(**CYCLE, total_steps=24 if budget == "known" else None)
    twin = reference_cycle_lrs(events, [LR], options)
    # the LR of step k + 1 is what the scheduler wrote after step k
    assert recorder.lrs[0] == LR
    assert recorder.lrs[1:] == pytest.approx([lrs[0] for lrs in twin[:-1]], rel=1e-12)
    assert max(recorder.lrs) > LR  # it searched upwards
    assert callback._hook is None  # the loss is no longer read once the level is found
    if budget == "known":
        # the decay ends at max_steps, at the floor min_lr (1e-3 x the base LR)
        assert twin[-1] == [pytest.approx(LR * 1e-3)]
        assert callback.scheduler.get_last_lr() == twin[-1] * 2  # the Trainer's 2 groups


def test_gradient_accumulation_hands_over_the_mean_loss_of_the_step(tmp_path):
    model, recorder = LossesAndLRs(), StepLRs()
    callback = UncertaintyLRTrainerCallback(**CYCLE)
    trainer = trainer_for(tmp_path, [callback, recorder], model, per_device_train_batch_size=8,
                          gradient_accumulation_steps=2, num_train_epochs=2)  # fmt: skip
    trainer.train()
    assert len(recorder.lrs) == 12 and len(model.losses) == 24
    events, _ = events_of(trainer, model, steps_per_epoch=6, accumulate=2)
    twin = reference_cycle_lrs(events, [LR], UncertaintyOptions(**CYCLE))
    assert recorder.lrs[1:] == pytest.approx([lrs[0] for lrs in twin[:-1]], rel=1e-12)


def test_a_model_output_without_a_loss_is_a_clear_error(tmp_path):
    trainer = trainer_for(tmp_path, [UncertaintyLRTrainerCallback(**CYCLE)], LossesAndLRs(True))
    trainer.compute_loss = lambda model, inputs, **kw: nn.functional.cross_entropy(
        model(inputs["x"])["logits"], inputs["labels"]
    )
    with pytest.raises(ValueError, match="the model's output held no loss"):
        trainer.train()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"budget": "known"}, "budget='known' sets total_steps of mode='cycle'"),
        ({"budget": "known", **CYCLE, "total_steps": 10}, "total_steps=10"),
        ({"budget": "later", **CYCLE}, "budget must be one of free, known; got 'later'"),
        ({"signal": "overconfidence"}, None),
        ({"signal": "overconfidence", "eval_inputs": torch.zeros(2, 8)}, "signal must be one of"),
    ],
)
def test_cycle_arguments(kwargs, message):
    if message is None:
        assert UncertaintyLRTrainerCallback(**kwargs).signal == "overconfidence"
        return
    with pytest.raises(ValueError, match=message):
        UncertaintyLRTrainerCallback(**kwargs)

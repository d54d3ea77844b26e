"""A MonitoredUncertaintyLR in a Hugging Face Trainer with no metric_for_best_model: a
ValueError saying what to set, before transformers fails on ``None.startswith``."""

from __future__ import annotations

import types

import pytest
import torch

transformers = pytest.importorskip("transformers")
pytest.importorskip("accelerate")

from uncertainty_lr import MonitoredUncertaintyLR, UncertaintyLR  # noqa: E402
from uncertainty_lr.integrations.hf_trainer import (  # noqa: E402
    check_monitored_metric,
    uncertainty_metrics,
)

from .test_hf_trainer import LR, TinyModel, blobs  # noqa: E402

MESSAGE = (
    r"the Trainer steps its MonitoredUncertaintyLR with the metric named by "
    r"TrainingArguments\(metric_for_best_model=...\), which is not set; set it to "
    r"'uncertainty_confidence' or 'uncertainty_entropy' or 'uncertainty_margin'"
)


def trainer(tmp_path, **overrides) -> transformers.Trainer:
    torch.manual_seed(0)
    model = TinyModel()
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    options = dict(output_dir=str(tmp_path), eval_strategy="epoch", save_strategy="no",
                   num_train_epochs=1, per_device_train_batch_size=16, use_cpu=True,
                   report_to=[], disable_tqdm=True)  # fmt: skip
    return transformers.Trainer(
        model=model, args=transformers.TrainingArguments(**options, **overrides),
        train_dataset=blobs(32, 1), eval_dataset=blobs(16, 2),
        compute_metrics=uncertainty_metrics,
        optimizers=(optimizer, MonitoredUncertaintyLR(optimizer)),
    )  # fmt: skip


def test_a_missing_metric_for_best_model_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match=MESSAGE):
        trainer(tmp_path).train()


def test_with_the_metric_set_training_runs(tmp_path):
    trained = trainer(tmp_path, metric_for_best_model="uncertainty_entropy")
    trained.train()
    assert trained.lr_scheduler.policy.steps == 1


def test_the_check_by_hand():
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=LR)
    unset = types.SimpleNamespace(metric_for_best_model=None)
    with pytest.raises(ValueError, match=MESSAGE):
        check_monitored_metric(unset, MonitoredUncertaintyLR(optimizer))
    wrapped = types.SimpleNamespace(scheduler=MonitoredUncertaintyLR(optimizer))  # accelerate
    with pytest.raises(ValueError, match=MESSAGE):
        check_monitored_metric(unset, wrapped)
    check_monitored_metric(unset, UncertaintyLR(optimizer))  # not stepped with a metric
    check_monitored_metric(unset, None)
    set_ = types.SimpleNamespace(metric_for_best_model="uncertainty_entropy")
    check_monitored_metric(set_, MonitoredUncertaintyLR(optimizer))


def test_uncertainty_metrics_outside_a_trainer_checks_nothing():
    logits = torch.zeros(4, 3).numpy()
    assert set(uncertainty_metrics(transformers.EvalPrediction(logits, logits[:, 0]))) == {
        "uncertainty_confidence", "uncertainty_entropy", "uncertainty_margin",
        "uncertainty_overconfidence",
    }  # fmt: skip

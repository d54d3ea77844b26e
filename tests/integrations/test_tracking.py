"""TensorBoard and MLflow hooks: write a run, read it back with each tool's own reader."""

from __future__ import annotations

import math

import numpy as np
import pytest

from uncertainty_lr.integrations.tracking import (
    MLflowLogger,
    TensorBoardLogger,
    finite_scalars,
    make_loggers,
)

RUN = {
    "run_id": "mnist_cnn-uncertainty-s0",
    "problem": "mnist_cnn",
    "schedule": "uncertainty",
    "seed": 0,
    "config": {"lr": 0.01, "epochs": 3, "policy": {"threshold": 0.05, "mode": "band"}},
}
RECORDS = [
    {"train_loss": 2.0, "val_accuracy": 0.5, "lr": 0.01, "val_ece": None, "note": "x"},
    {"train_loss": 1.0, "val_accuracy": 0.7, "lr": 0.011, "val_ece": math.nan, "flag": True},
    {"train_loss": 0.5, "val_accuracy": np.float32(0.8), "lr": 0.0099, "signal": math.inf},
]


def write_run(logger) -> None:
    logger.on_run_start(RUN)
    for epoch, record in enumerate(RECORDS, start=1):
        logger.on_epoch_end(RUN, epoch, record)
    logger.on_run_end(RUN, "done", {"accuracy": 0.81, "loss": 0.4, "error": None})


def test_finite_scalars_keeps_only_finite_real_numbers():
    values = {"a": 1, "b": 2.5, "c": None, "d": math.nan, "e": -math.inf, "f": True, "g": "3"}
    values["h"] = np.float64(0.25)
    assert finite_scalars(values) == {"a": 1.0, "b": 2.5, "h": 0.25}


def test_tensorboard_events_read_back(tmp_path):
    accumulator_module = pytest.importorskip(
        "tensorboard.backend.event_processing.event_accumulator"
    )
    logger = TensorBoardLogger(tmp_path)
    write_run(logger)
    logger.close()

    events = accumulator_module.EventAccumulator(
        str(tmp_path / RUN["run_id"]), size_guidance={"scalars": 0, "tensors": 0}
    )
    events.Reload()
    scalars = set(events.Tags()["scalars"])
    assert scalars == {"train_loss", "val_accuracy", "lr", "test/accuracy", "test/loss"}
    loss = [(e.step, e.value) for e in events.Scalars("train_loss")]
    assert loss == [(1, 2.0), (2, 1.0), (3, 0.5)]
    accuracy = [e.value for e in events.Scalars("val_accuracy")]
    assert accuracy == pytest.approx([0.5, 0.7, 0.8])
    assert [(e.step, e.value) for e in events.Scalars("test/accuracy")] == [
        (3, pytest.approx(0.81))
    ]
    texts = set(events.Tags()["tensors"])  # add_text is stored as a string tensor
    assert {"run/text_summary", "status/text_summary"} <= texts
    status = events.Tensors("status/text_summary")[0].tensor_proto.string_val[0]
    assert status == b"done"


def test_mlflow_metric_history_params_and_status(tmp_path):
    pytest.importorskip("mlflow")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    logger = MLflowLogger(uri, experiment="test-exp")
    write_run(logger)
    logger.close()

    client = logger.client
    (run,) = client.search_runs([logger.experiment_id])
    assert run.info.run_name == RUN["run_id"]
    assert run.info.status == "FINISHED"
    assert run.data.tags["status"] == "done"
    assert run.data.tags["problem"] == "mnist_cnn" and run.data.tags["seed"] == "0"
    assert run.data.params == {
        "lr": "0.01",
        "epochs": "3",
        "policy.threshold": "0.05",
        "policy.mode": "band",
    }
    history = client.get_metric_history(run.info.run_id, "train_loss")
    assert sorted((m.step, m.value) for m in history) == [(1, 2.0), (2, 1.0), (3, 0.5)]
    assert set(run.data.metrics) == {
        "train_loss",
        "val_accuracy",
        "lr",
        "test/accuracy",
        "test/loss",
    }
    assert run.data.metrics["test/accuracy"] == pytest.approx(0.81)

    # The same harness run started again (a resume) continues the same MLflow run.
    again = MLflowLogger(uri, experiment="test-exp")
    again.on_run_start(RUN)
    again.on_epoch_end(RUN, 4, {"train_loss": 0.25})
    again.on_run_end(RUN, "failed", {})
    (run,) = client.search_runs([logger.experiment_id])
    assert run.info.status == "FAILED" and run.data.tags["status"] == "failed"
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "train_loss")]
    assert sorted(steps) == [1, 2, 3, 4]


def test_mlflow_close_marks_unfinished_runs_killed(tmp_path):
    pytest.importorskip("mlflow")
    logger = MLflowLogger(f"sqlite:///{tmp_path / 'mlflow.db'}")
    logger.on_run_start(RUN)
    mlflow_id = logger.mlflow_run_id(RUN)
    logger.close()
    assert logger.client.get_run(mlflow_id).info.status == "KILLED"


def test_make_loggers(tmp_path):
    assert make_loggers() == []
    pytest.importorskip("mlflow")
    loggers = make_loggers(tensorboard=tmp_path / "tb", mlflow=f"sqlite:///{tmp_path / 'm.db'}")
    assert [type(x) for x in loggers] == [TensorBoardLogger, MLflowLogger]
    for logger in loggers:
        logger.close()


def test_bad_input(tmp_path):
    pytest.importorskip("tensorboard")
    logger = TensorBoardLogger(tmp_path)
    with pytest.raises(ValueError, match="run must be a dict with a non-empty 'run_id'"):
        logger.on_run_start({"problem": "mnist_cnn"})
    logger.on_run_start(RUN)
    with pytest.raises(ValueError, match="status must be one of done, diverged, failed; got 'ok'"):
        logger.on_run_end(RUN, "ok", {})
    logger.close()
    with pytest.raises(ValueError, match="tracking_uri must be a non-empty string"):
        MLflowLogger("")

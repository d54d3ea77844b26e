"""Experiment-tracking hooks for the harness: TensorBoard and MLflow.

Each logger has the same four methods, called by the training loop:
  - ``on_run_start(run)``: run = {"run_id", "problem", "schedule", "seed", "config"};
  - ``on_epoch_end(run, epoch, record)``: every finite number in ``record`` (bools and
    None skipped) is logged as scalar ``key`` at step ``epoch``;
  - ``on_run_end(run, status, test)``: status is "done", "diverged" or "failed"; finite
    numbers in ``test`` are logged as ``test/<key>`` at the last epoch's step;
  - ``close()``: flush and close everything still open.

``make_loggers(tensorboard=DIR, mlflow=URI)`` builds the ones asked for (the CLI flags
``--tensorboard`` and ``--mlflow``). Imports are lazy: this module loads without
tensorboard or mlflow; a logger whose package is missing raises ImportError naming the
``tracking`` extra when it is built.
"""

from __future__ import annotations

import json
import math
import numbers
import re
import time
from pathlib import Path
from typing import Any

from uncertainty_lr.checks import check_text, check_type
from uncertainty_lr.integrations._common import missing_framework

FINAL_STATUSES = ("done", "diverged", "failed")
#: MLflow run status for each harness status; a diverged run still finished normally.
_MLFLOW_STATUS = {"done": "FINISHED", "diverged": "FINISHED", "failed": "FAILED"}
# Characters MLflow allows in metric and param names; anything else becomes "_".
_MLFLOW_NAME = re.compile(r"[^A-Za-z0-9_\-. :/]")
_MLFLOW_PARAM_MAX = 6000  # MLflow's limit on a param value's length
_RUN_TAG = "uncertainty_lr.run_id"


def finite_scalars(values: dict[str, Any]) -> dict[str, float]:
    """The entries of ``values`` that are finite real numbers (not bools), as floats."""
    out = {}
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            continue
        value = float(value)
        if math.isfinite(value):
            out[str(key)] = value
    return out


def _run_id(run: dict) -> str:
    what = "a dict with a non-empty 'run_id'"
    if not check_type("run", run, dict, what).get("run_id"):
        raise ValueError(f"run must be {what}, got {run!r:.200}")
    return str(run["run_id"])


def _check_status(status: str) -> None:
    if status not in FINAL_STATUSES:
        raise ValueError(f"status must be one of {', '.join(FINAL_STATUSES)}; got {status!r}")


def _flatten(config: dict, prefix: str = "") -> dict[str, str]:
    """{"a": {"b": 1}} -> {"a.b": "1"}; values as JSON text (strings as themselves)."""
    flat: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = value if isinstance(value, str) else json.dumps(value, default=str)
    return flat


class TensorBoardLogger:
    """One TensorBoard run folder per harness run: ``log_dir / run_id``.

    The run's description (problem, schedule, seed, config) goes in as text "run", the
    final status as text "status". Needs the ``tensorboard`` package.
    """

    def __init__(self, log_dir: str | Path) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as error:
            raise missing_framework("TensorBoardLogger", "tensorboard", "tracking") from error
        self._writer_class = SummaryWriter
        self.log_dir = Path(log_dir)
        self._writers: dict[str, Any] = {}
        self._last_epoch: dict[str, int] = {}

    def _writer(self, run: dict) -> Any:
        run_id = _run_id(run)
        if run_id not in self._writers:
            self._writers[run_id] = self._writer_class(log_dir=str(self.log_dir / run_id))
        return self._writers[run_id]

    def on_run_start(self, run: dict) -> None:
        text = json.dumps(run, indent=2, sort_keys=True, default=str)
        # Markdown code block, so TensorBoard keeps the indentation.
        self._writer(run).add_text("run", "```\n" + text + "\n```", global_step=0)

    def on_epoch_end(self, run: dict, epoch: int, record: dict[str, float | None]) -> None:
        writer = self._writer(run)
        for key, value in finite_scalars(record).items():
            writer.add_scalar(key, value, global_step=epoch)
        self._last_epoch[_run_id(run)] = epoch

    def on_run_end(self, run: dict, status: str, test: dict) -> None:
        _check_status(status)
        run_id = _run_id(run)
        writer = self._writer(run)
        step = self._last_epoch.get(run_id, 0)
        for key, value in finite_scalars(test or {}).items():
            writer.add_scalar(f"test/{key}", value, global_step=step)
        writer.add_text("status", status, global_step=step)
        writer.close()
        del self._writers[run_id]

    def close(self) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()


class MLflowLogger:
    """One MLflow run per harness run, in ``experiment`` at ``tracking_uri``.

    ``tracking_uri``: e.g. ``"sqlite:///results/mlflow.db"`` (recommended) or an MLflow
    server ``http://host:5000``; MLflow 3 refuses plain-folder ``file://`` stores unless
    ``MLFLOW_ALLOW_FILE_STORE=true``. The MLflow run is named after ``run_id`` and tagged
    with it and with problem, schedule, seed and harness status; the config is logged as
    params ("a.b" for nested keys). A ``run_id`` seen before in the experiment reuses its
    MLflow run, so a resumed harness run keeps one history. Uses an explicit
    ``MlflowClient``, so MLflow's global active run is left alone.
    """

    def __init__(self, tracking_uri: str, experiment: str = "uncertainty-lr") -> None:
        check_text("tracking_uri", tracking_uri)
        try:
            from mlflow.entities import Metric, Param
            from mlflow.tracking import MlflowClient
        except ImportError as error:
            raise missing_framework("MLflowLogger", "mlflow", "tracking") from error
        self._metric, self._param = Metric, Param
        self.tracking_uri = tracking_uri
        self.client = MlflowClient(tracking_uri=tracking_uri)
        found = self.client.get_experiment_by_name(experiment)
        self.experiment_id = (
            found.experiment_id if found else self.client.create_experiment(experiment)
        )
        self._mlflow_ids: dict[str, str] = {}
        self._last_epoch: dict[str, int] = {}

    def mlflow_run_id(self, run: dict) -> str:
        """The MLflow run id of a harness run started with on_run_start."""
        run_id = _run_id(run)
        if run_id not in self._mlflow_ids:
            raise ValueError(f"run {run_id!r} was not started: call on_run_start first")
        return self._mlflow_ids[run_id]

    def on_run_start(self, run: dict) -> None:
        run_id = _run_id(run)
        tags = {_RUN_TAG: run_id, "status": "running"}
        tags.update({k: str(run[k]) for k in ("problem", "schedule", "seed") if k in run})
        # Backquotes let the tag name contain dots; the run id goes in quoted.
        escaped = run_id.replace("'", "\\'")
        previous = self.client.search_runs(
            [self.experiment_id], filter_string=f"tags.`{_RUN_TAG}` = '{escaped}'", max_results=1
        )
        if previous:
            mlflow_id = previous[0].info.run_id
            self.client.update_run(mlflow_id, status="RUNNING")
            for key, value in tags.items():
                self.client.set_tag(mlflow_id, key, value)
        else:
            mlflow_id = self.client.create_run(
                self.experiment_id, run_name=run_id, tags=tags
            ).info.run_id
            params = [
                self._param(_MLFLOW_NAME.sub("_", k)[:250], v[:_MLFLOW_PARAM_MAX])
                for k, v in _flatten(dict(run.get("config") or {})).items()
            ]
            for start in range(0, len(params), 100):  # MLflow takes at most 100 per batch
                self.client.log_batch(mlflow_id, params=params[start : start + 100])
        self._mlflow_ids[run_id] = mlflow_id

    def _log(self, run: dict, values: dict[str, float], step: int, prefix: str = "") -> None:
        now = int(time.time() * 1000)
        metrics = [
            self._metric(_MLFLOW_NAME.sub("_", prefix + key), value, now, step)
            for key, value in values.items()
        ]
        for start in range(0, len(metrics), 1000):  # MLflow takes at most 1000 per batch
            self.client.log_batch(self.mlflow_run_id(run), metrics=metrics[start : start + 1000])

    def on_epoch_end(self, run: dict, epoch: int, record: dict[str, float | None]) -> None:
        self._log(run, finite_scalars(record), step=epoch)
        self._last_epoch[_run_id(run)] = epoch

    def on_run_end(self, run: dict, status: str, test: dict) -> None:
        _check_status(status)
        run_id = _run_id(run)
        mlflow_id = self.mlflow_run_id(run)
        self._log(run, finite_scalars(test or {}), self._last_epoch.get(run_id, 0), "test/")
        self.client.set_tag(mlflow_id, "status", status)
        self.client.set_terminated(mlflow_id, status=_MLFLOW_STATUS[status])
        del self._mlflow_ids[run_id]

    def close(self) -> None:
        """Mark runs that never reached on_run_end as KILLED (the harness stopped early)."""
        for mlflow_id in self._mlflow_ids.values():
            self.client.set_terminated(mlflow_id, status="KILLED")
        self._mlflow_ids.clear()


def make_loggers(
    tensorboard: str | Path | None = None, mlflow: str | None = None
) -> list[TensorBoardLogger | MLflowLogger]:
    """The loggers asked for: a TensorBoard folder and/or an MLflow tracking URI."""
    loggers: list[TensorBoardLogger | MLflowLogger] = []
    if tensorboard is not None:
        loggers.append(TensorBoardLogger(tensorboard))
    if mlflow is not None:
        loggers.append(MLflowLogger(mlflow))
    return loggers

"""train() with a last-layer Laplace signal: recorded, deterministic, resumed bit-exactly
(the loop hands evaluate() the training inputs the Laplace fit needs)."""

import pytest
from testkit import StopAfter

from uncertainty_lr.experiments.config import RunConfig
from uncertainty_lr.experiments.run import train
from uncertainty_lr.experiments.store import Store

TIMES = ("train_time", "eval_time", "wall_time")


def strip_times(history):
    return [{k: v for k, v in h.items() if k not in TIMES} for h in history]


def cfg(**kw):
    base = dict(problem="digits_mlp", epochs=3, seed=0, schedule="uncertainty",
                schedule_options={"signal": "la_mutual_information"}, signals=("la_entropy",))  # fmt: skip
    return RunConfig(**{**base, **kw})


def test_laplace_signal_is_recorded_and_the_same_for_the_same_seed():
    a, b = train(config=cfg()), train(config=cfg())
    assert strip_times(a.history) == strip_times(b.history)
    for h in a.history:
        assert 0 < h["val_la_mutual_information"] <= 1 and 0 < h["val_la_entropy"] <= 1
        assert h["signal"] == pytest.approx(h["val_la_mutual_information"])


def test_run_reading_the_laplace_signal_resumes_to_identical_metrics(tmp_path):
    whole = train(config=cfg(epochs=4), store=Store(tmp_path / "a"))
    store = Store(tmp_path / "b")
    with pytest.raises(KeyboardInterrupt):
        train(config=cfg(epochs=4), store=store, hooks=[StopAfter(2)])
    resumed = train(config=cfg(epochs=4), store=store)
    assert resumed.resumed_from == 2
    assert strip_times(resumed.history) == strip_times(whole.history)
    assert resumed.test == whole.test

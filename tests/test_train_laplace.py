"""train() with a last-layer Laplace signal: recorded, deterministic, resumed bit-exactly.

The loop must hand evaluate() the training inputs (``fit_inputs=x_train`` in the
validation call of each epoch); until it does, these runs stop with evaluate()'s
"needs fit_inputs" error, which the strict xfail below expects (and reports as a failure
once the loop passes them, so the marker is removed with that change).
"""

import pytest

from uncertainty_lr.experiments.config import RunConfig
from uncertainty_lr.experiments.store import Store
from uncertainty_lr.train import train

TIMES = ("train_time", "eval_time", "wall_time")
LOOP_PENDING = pytest.mark.xfail(
    strict=True, raises=ValueError, reason="the loop does not pass fit_inputs to evaluate() yet"
)


def strip_times(history):
    return [{k: v for k, v in h.items() if k not in TIMES} for h in history]


def cfg(**kw):
    base = dict(problem="digits_mlp", epochs=3, seed=0, schedule="uncertainty",
                schedule_options={"signal": "la_mutual_information"}, signals=("la_entropy",))  # fmt: skip
    return RunConfig(**{**base, **kw})


class StopAfter:
    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, run, epoch, record):
        if epoch == self.epoch:
            raise KeyboardInterrupt


@LOOP_PENDING
def test_laplace_signal_is_recorded_and_the_same_for_the_same_seed():
    a, b = train(config=cfg()), train(config=cfg())
    assert strip_times(a.history) == strip_times(b.history)
    for h in a.history:
        assert 0 < h["val_la_mutual_information"] <= 1 and 0 < h["val_la_entropy"] <= 1
        assert h["signal"] == pytest.approx(h["val_la_mutual_information"])


@LOOP_PENDING
def test_run_reading_the_laplace_signal_resumes_to_identical_metrics(tmp_path):
    whole = train(config=cfg(epochs=4), store=Store(tmp_path / "a"))
    store = Store(tmp_path / "b")
    with pytest.raises(KeyboardInterrupt):
        train(config=cfg(epochs=4), store=store, hooks=[StopAfter(2)])
    resumed = train(config=cfg(epochs=4), store=store)
    assert resumed.resumed_from == 2
    assert strip_times(resumed.history) == strip_times(whole.history)
    assert resumed.test == whole.test

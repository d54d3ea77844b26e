"""UncertaintyLRKerasCallback on a tiny Keras 3 model (torch backend), CPU only."""

from __future__ import annotations

import json
import os

os.environ.setdefault("KERAS_BACKEND", "torch")  # before the first import of keras

import numpy as np  # noqa: E402
import pytest  # noqa: E402

keras = pytest.importorskip("keras")

from uncertainty_lr.integrations.keras import UncertaintyLRKerasCallback  # noqa: E402
from uncertainty_lr.schedulers.policy import UncertaintyPolicy  # noqa: E402
from uncertainty_lr.signals.functions import entropy  # noqa: E402

LR = 0.05


def blobs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Three learnable Gaussian blobs in 8-D: x (n, 8) float32, y (n,) int64."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(99).normal(size=(3, 8)) * 2
    y = rng.integers(0, 3, size=n)
    return (centres[y] + rng.normal(size=(n, 8))).astype("float32"), y


def make_model(batch_norm: bool = False, softmax: bool = False) -> keras.Model:
    keras.utils.set_random_seed(0)
    layers = [keras.Input((8,)), keras.layers.Dense(16, activation="relu")]
    if batch_norm:
        layers.append(keras.layers.BatchNormalization())
    layers += [keras.layers.Dropout(0.3), keras.layers.Dense(3)]
    if softmax:
        layers.append(keras.layers.Softmax())
    model = keras.Sequential(layers)
    model.compile(
        optimizer=keras.optimizers.SGD(LR),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=not softmax),
    )
    return model


class LRAtEpochStart(keras.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.lrs: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self.lrs.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))


def test_lr_sequence_follows_the_policy_on_the_signals_seen():
    x, y = blobs(96, 1)
    x_val, y_val = blobs(40, 2)
    model = make_model()
    callback = UncertaintyLRKerasCallback((x_val, y_val), threshold=0.3, step_size=0.2)
    recorder = LRAtEpochStart()
    history = model.fit(x, y, epochs=3, batch_size=16, verbose=0, callbacks=[callback, recorder])

    signals = history.history["uncertainty"]
    reference = UncertaintyPolicy([LR], threshold=0.3, step_size=0.2)
    expected = [reference.step(s)[0] for s in signals]
    assert history.history["lr"] == pytest.approx(expected, rel=1e-6)
    assert recorder.lrs == pytest.approx([LR] + expected[:-1], rel=1e-6)
    assert len(set(np.round(recorder.lrs, 9))) > 1
    # The last signal is the mean normalised entropy of the final model's logits.
    logits = model.predict(x_val, verbose=0)
    assert signals[-1] == pytest.approx(entropy(logits, from_logits=True), abs=1e-6)


def test_probability_outputs_are_detected():
    x, y = blobs(64, 1)
    x_val, _ = blobs(20, 2)
    model = make_model(softmax=True)
    auto = UncertaintyLRKerasCallback(x_val, signal="margin")
    model.fit(x, y, epochs=1, batch_size=16, verbose=0, callbacks=[auto])
    explicit = UncertaintyLRKerasCallback(x_val, signal="margin", from_logits=False)
    explicit.set_model(model)
    assert auto.history[0]["signal"] == pytest.approx(explicit.measure(), abs=1e-9)
    # Treating those probabilities as logits gives a different (wrong) number.
    wrong = UncertaintyLRKerasCallback(x_val, signal="margin", from_logits=True)
    wrong.set_model(model)
    assert wrong.measure() != pytest.approx(explicit.measure(), abs=1e-3)


def test_mc_dropout_leaves_batch_norm_statistics_alone():
    x, y = blobs(64, 1)
    x_val, _ = blobs(30, 2)
    model = make_model(batch_norm=True)
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    callback = UncertaintyLRKerasCallback(x_val, signal="mutual_information", mc_samples=4)
    callback.set_model(model)
    before = [keras.ops.convert_to_numpy(v).copy() for v in model.non_trainable_variables]
    value = callback.measure()
    after = [keras.ops.convert_to_numpy(v) for v in model.non_trainable_variables]
    assert 0.0 < value < 1.0
    for b, a in zip(before, after):
        np.testing.assert_array_equal(a, b)


def test_config_and_state_round_trip():
    x, y = blobs(64, 1)
    x_val, _ = blobs(20, 2)
    options = dict(signal="confidence", threshold=0.2, smoothing=0.5, cooldown=1)
    callback = UncertaintyLRKerasCallback(x_val, **options)
    make_model().fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[callback])

    config = json.loads(json.dumps(callback.get_config()))
    assert config == {"mc_samples": 0, "from_logits": None, "batch_size": 256, "budget": "free",
                      **options}  # fmt: skip
    copy = UncertaintyLRKerasCallback(x_val, **config)
    copy.load_state_dict(json.loads(json.dumps(callback.state_dict())))
    assert copy.state_dict() == callback.state_dict()
    for s in (0.5, 0.01, 0.4, 0.1):
        assert copy.policy.step(s) == callback.policy.step(s)


def test_second_fit_continues_and_schedules_are_refused():
    x, y = blobs(64, 1)
    callback = UncertaintyLRKerasCallback(x[:20])
    model = make_model()
    model.fit(x, y, epochs=1, batch_size=32, verbose=0, callbacks=[callback])
    model.fit(x, y, epochs=1, batch_size=32, verbose=0, callbacks=[callback])
    assert callback.policy.steps == 2 and len(callback.history) == 2

    scheduled = keras.Sequential([keras.Input((8,)), keras.layers.Dense(3)])
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.9)
    scheduled.compile(optimizer=keras.optimizers.SGD(schedule), loss="mse")
    with pytest.raises(ValueError, match="LearningRateSchedule"):
        scheduled.fit(
            x, np.eye(3)[y], epochs=1, verbose=0, callbacks=[UncertaintyLRKerasCallback(x)]
        )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mc_samples": -1}, "mc_samples must be 0"),
        ({"from_logits": "yes"}, "from_logits must be None, True or False"),
        ({"batch_size": 0}, "batch_size must be a positive integer"),
        ({"mode": "cosine"}, "mode must be one of"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        UncertaintyLRKerasCallback(np.zeros((2, 8)), **kwargs)

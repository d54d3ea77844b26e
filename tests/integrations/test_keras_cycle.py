"""mode="cycle" in Keras 3 through UncertaintyLRKerasCallback: stepped after every training
batch with that batch's own loss, the held-out over-confidence acted on at the next batch,
and the LRs Keras trained at are the reference twin's for what it was handed."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")  # before the first import of keras

import pytest  # noqa: E402

keras = pytest.importorskip("keras")

from uncertainty_lr.integrations.keras import UncertaintyLRKerasCallback  # noqa: E402
from uncertainty_lr.schedulers.modes.reference_cycle import reference_cycle_lrs  # noqa: E402
from uncertainty_lr.schedulers.options import UncertaintyOptions  # noqa: E402

from .test_keras import LR, blobs  # noqa: E402

CYCLE = {"mode": "cycle", "search_steps": 6, "decay_earliest": 0.3}
EPOCHS, BATCH, N = 4, 16, 96  # 6 batches an epoch


class Recorder(keras.callbacks.Callback):
    """The LR each batch trained at, and the loss Keras computed for it (from the loss
    function itself, not from the tracker the callback reads)."""

    def __init__(self) -> None:
        super().__init__()
        self.lrs: list[float] = []

    def on_train_batch_begin(self, batch, logs=None):
        self.lrs.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))


def fit(callback: UncertaintyLRKerasCallback, epochs: int = EPOCHS):
    keras.utils.set_random_seed(0)
    losses: list[float] = []
    base = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def loss(y_true, y_pred):
        value = base(y_true, y_pred)
        losses.append(float(keras.ops.convert_to_numpy(value)))
        return value

    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(3)])  # fmt: skip
    model.compile(optimizer=keras.optimizers.SGD(LR), loss=loss)
    x, y = blobs(N, 1)
    recorder = Recorder()
    model.fit(x, y, epochs=epochs, batch_size=BATCH, shuffle=False, verbose=0,
              callbacks=[callback, recorder])  # fmt: skip
    # Keras builds the loss once on a dummy pass before training: keep the training ones.
    return model, losses[-len(recorder.lrs) :], recorder.lrs


def events(losses: list[float], signals: list[float], per_epoch: int):
    """(loss, signal) handed over before each step, as the twin takes them."""
    return [(loss, signals[k // per_epoch - 1] if k and k % per_epoch == 0 else None)
            for k, loss in enumerate(losses)]  # fmt: skip


@pytest.mark.parametrize("budget", ["free", "known"])
def test_the_lrs_keras_trained_at_are_the_twins(budget):
    x_val, y_val = blobs(48, 2)
    callback = UncertaintyLRKerasCallback((x_val, y_val), budget=budget, **CYCLE)
    model, losses, lrs = fit(callback)
    per_epoch = N // BATCH
    assert len(losses) == len(lrs) == EPOCHS * per_epoch
    signals = [entry["signal"] for entry in callback.history]
    options = dict(CYCLE, total_steps=EPOCHS * per_epoch) if budget == "known" else CYCLE
    twin = reference_cycle_lrs(events(losses, signals, per_epoch), [LR],
                               UncertaintyOptions.from_mapping(options))  # fmt: skip
    assert lrs[0] == pytest.approx(LR)
    assert lrs[1:] == pytest.approx([row[0] for row in twin[:-1]], rel=1e-6)
    assert max(lrs) > 2 * LR  # the search raised the level
    if budget == "known":
        assert twin[-1][0] == pytest.approx(LR * 1e-3)  # the decay ended at the last step
    # The signal the callback acted on is the held-out over-confidence of the model.
    probs = keras.ops.convert_to_numpy(keras.ops.softmax(model.predict(x_val, verbose=0)))
    gap = probs.max(axis=1).mean() - (probs.argmax(axis=1) == y_val).mean()
    assert signals[-1] == pytest.approx(max(gap, 0.0), abs=1e-6)


def test_a_second_fit_continues_the_cycle_and_the_state_round_trips():
    x_val, y_val = blobs(48, 2)
    callback = UncertaintyLRKerasCallback((x_val, y_val), **CYCLE)
    fit(callback, epochs=2)
    state = callback.state_dict()
    again = UncertaintyLRKerasCallback((x_val, y_val), **CYCLE)
    again.load_state_dict(state)
    assert again.state_dict() == state and state["policy"]["t"] == 2 * (N // BATCH)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "cycle", "budget": "later"}, "budget must be one of free, known; got 'later'"),
        ({"budget": "known"}, "budget='known' sets total_steps of mode='cycle' to the fit's"),
        ({"mode": "cycle", "budget": "known", "total_steps": 10}, "total_steps=10"),
    ],
)
def test_bad_budgets_are_refused_in_one_line(kwargs, message):
    x_val, y_val = blobs(8, 2)
    with pytest.raises(ValueError, match=message):
        UncertaintyLRKerasCallback((x_val, y_val), **kwargs)


def test_over_confidence_needs_the_labels_and_one_pass():
    x_val, y_val = blobs(8, 2)
    with pytest.raises(ValueError, match="signal='overconfidence' reads one pass .* no labels"):
        UncertaintyLRKerasCallback(x_val, mode="cycle")
    with pytest.raises(ValueError, match="got mc_samples=4"):
        UncertaintyLRKerasCallback((x_val, y_val), mode="cycle", mc_samples=4)
    callback = UncertaintyLRKerasCallback(x_val, mode="cycle", signal="entropy")
    assert callback.signal == "entropy" and callback.per_step

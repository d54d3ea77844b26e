"""BatchSignalTracker: EMA arithmetic, reset, state round-trip, validation."""

import pytest
import torch

from uncertainty_lr.signals.functions import entropy, margin
from uncertainty_lr.signals.tracker import BatchSignalTracker

# Zero logits -> uniform probabilities -> every signal is exactly 1.
UNSURE = torch.zeros(4, 3)
# exp(-1000) underflows to 0 in float64 -> one-hot probabilities -> every signal is exactly 0.
SURE = torch.tensor([[1000.0, 0.0, 0.0], [0.0, 1000.0, 0.0]])


def test_ema_arithmetic_by_hand():
    tracker = BatchSignalTracker("entropy", momentum=0.5)
    assert tracker.value is None and tracker.count == 0
    assert tracker.update(UNSURE) == pytest.approx(1.0, abs=1e-12)  # first update: v = x = 1
    assert tracker.update(SURE) == pytest.approx(0.5, abs=1e-12)  # 0.5 * 1 + 0.5 * 0
    assert tracker.update(UNSURE) == pytest.approx(0.75, abs=1e-12)  # 0.5 * 0.5 + 0.5 * 1
    assert tracker.value == pytest.approx(0.75, abs=1e-12)
    assert tracker.last_batch_value == pytest.approx(1.0, abs=1e-12)
    assert tracker.count == 3


def test_default_momentum_and_a_real_batch():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 0.0]])
    tracker = BatchSignalTracker()
    assert tracker.signal == "entropy" and tracker.momentum == 0.9
    tracker.update(UNSURE)
    x = entropy(logits, from_logits=True)
    assert tracker.update(logits) == pytest.approx(0.9 * 1.0 + 0.1 * x, abs=1e-12)


def test_momentum_zero_is_the_raw_batch_signal():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 0.0]])
    tracker = BatchSignalTracker("margin", momentum=0.0)
    tracker.update(UNSURE)
    assert tracker.update(logits) == margin(logits, from_logits=True)


def test_update_detaches_and_returns_a_float():
    logits = torch.randn(5, 3, generator=torch.Generator().manual_seed(0), requires_grad=True)
    value = BatchSignalTracker("confidence").update(logits * 2)
    assert isinstance(value, float) and 0.0 <= value <= 1.0
    assert logits.grad is None


def test_reset_forgets_everything():
    tracker = BatchSignalTracker(momentum=0.5)
    tracker.update(UNSURE)
    tracker.reset()
    assert (tracker.value, tracker.last_batch_value, tracker.count) == (None, None, 0)
    assert tracker.update(SURE) == 0.0  # first update after reset sets v = x


def test_state_dict_round_trips_exactly():
    tracker = BatchSignalTracker("margin", momentum=0.8)
    for logits in (UNSURE, SURE, torch.tensor([[1.0, 2.0, 0.3]])):
        tracker.update(logits)
    state = tracker.state_dict()
    assert all(isinstance(v, (str, int, float)) for v in state.values())

    restored = BatchSignalTracker("margin", momentum=0.3)
    restored.load_state_dict(state)
    assert restored.state_dict() == state
    assert restored.update(UNSURE) == tracker.update(UNSURE)

    empty = BatchSignalTracker("margin").state_dict()
    fresh = BatchSignalTracker("margin", momentum=0.5)
    fresh.load_state_dict(empty)
    assert fresh.value is None and fresh.momentum == 0.9


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"signal": "mc_entropy"},
            "signal must be one of confidence, entropy, margin, got 'mc_entropy'",
        ),
        ({"momentum": 1.0}, r"momentum must be a number in \[0, 1\), got 1.0"),
        ({"momentum": -0.1}, r"momentum must be a number in \[0, 1\), got -0.1"),
        ({"momentum": "0.9"}, r"momentum must be a number in \[0, 1\), got '0.9'"),
    ],
)
def test_bad_construction_raises(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BatchSignalTracker(**kwargs)


def test_bad_state_and_logits_raise():
    tracker = BatchSignalTracker("entropy")
    state = BatchSignalTracker("margin").state_dict()
    with pytest.raises(ValueError, match="state_dict is for signal 'margin'"):
        tracker.load_state_dict(state)
    with pytest.raises(ValueError, match=r"state_dict is missing keys \['count'\]"):
        tracker.load_state_dict({k: v for k, v in tracker.state_dict().items() if k != "count"})
    with pytest.raises(ValueError, match=r"state_dict value must be a number in \[0, 1\], got 2.0"):
        tracker.load_state_dict({**tracker.state_dict(), "value": 2.0})
    with pytest.raises(ValueError, match="logits must be finite"):
        tracker.update(torch.tensor([[float("nan"), 0.0]]))
    with pytest.raises(ValueError, match=r"2-D \(N, C\) tensor, got shape \(3,\)"):
        tracker.update(torch.zeros(3))
    assert tracker.count == 0  # failed updates change nothing

"""A running uncertainty signal from the training logits the loop already computed.

No extra forward pass: hand each batch's logits to ``update`` and read ``value``, an
exponential moving average of a single-pass signal (see ``SIGNAL_FUNCTIONS``).
"""

from __future__ import annotations

from typing import Any

import torch

from uncertainty_lr.checks import check_int, check_number
from uncertainty_lr.signals.functions import SIGNAL_FUNCTIONS


class BatchSignalTracker:
    """EMA of a single-pass signal over training batches.

    Args:
        signal: "confidence", "entropy" (default) or "margin".
        momentum: EMA weight on the old value, in [0, 1) (default 0.9). After an update
            with batch signal x: v = momentum * v + (1 - momentum) * x; the first update
            sets v = x, so the EMA has no bias towards a made-up start value. 0 = no smoothing.

    Attributes:
        value: the EMA in [0, 1], None before the first update.
        last_batch_value: the latest batch's raw signal, None before the first update.
        count: number of updates since construction or ``reset()``.
    """

    #: What ``state_dict()`` holds: the settings, then the running state.
    STATE = ("signal", "momentum", "value", "last_batch_value", "count")

    def __init__(self, signal: str = "entropy", momentum: float = 0.9) -> None:
        if signal not in SIGNAL_FUNCTIONS:
            raise ValueError(f"signal must be one of {', '.join(SIGNAL_FUNCTIONS)}, got {signal!r}")
        check_number("momentum", momentum, 0.0, 1.0, "[)")
        self.signal = signal
        self.momentum = float(momentum)
        self._function = SIGNAL_FUNCTIONS[signal]
        self.reset()

    def reset(self) -> None:
        """Forget all updates: ``value`` and ``last_batch_value`` become None, ``count`` 0."""
        self.value: float | None = None
        self.last_batch_value: float | None = None
        self.count = 0

    def update(self, logits: torch.Tensor) -> float:
        """Fold one batch's logits (N, C) into the EMA and return the new ``value``.

        The logits are detached (no grad, no effect on the graph). Raises ValueError for
        non-finite logits, so check the loss for divergence before calling this.
        """
        with torch.no_grad():
            batch_value = self._function(logits, from_logits=True)
        if self.value is None:
            self.value = batch_value
        else:
            self.value = self.momentum * self.value + (1.0 - self.momentum) * batch_value
        self.last_batch_value = batch_value
        self.count += 1
        return self.value

    def state_dict(self) -> dict[str, Any]:
        """Plain numbers (and the signal name): round-trips exactly through load_state_dict."""
        return {key: getattr(self, key) for key in self.STATE}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a ``state_dict()``; the signal name must match this tracker's."""
        missing = set(self.STATE) - set(state)
        if missing:
            raise ValueError(f"state_dict is missing keys {sorted(missing)}")
        if state["signal"] != self.signal:
            raise ValueError(
                f"state_dict is for signal {state['signal']!r}, this tracker tracks {self.signal!r}"
            )
        momentum = check_number("state_dict momentum", state["momentum"], 0.0, 1.0, "[)")
        for key in ("value", "last_batch_value"):
            check_number(f"state_dict {key}", state[key], 0.0, 1.0, "[]", optional=True)
        count = check_int("state_dict count", state["count"], 0)
        self.momentum = float(momentum)
        self.value = None if state["value"] is None else float(state["value"])
        self.last_batch_value = (
            None if state["last_batch_value"] is None else float(state["last_batch_value"])
        )
        self.count = count

    def __repr__(self) -> str:
        return (
            f"BatchSignalTracker(signal={self.signal!r}, momentum={self.momentum}, "
            f"value={self.value}, count={self.count})"
        )

"""Plain reference twin of mode ``cycle``: losses and signals in, LRs out, as pure functions.

``reference_cycle_lrs(events, base_lrs, options)`` is what ``UncertaintyLR`` writes after
each scheduler step of mode ``cycle``, written the slow, obvious way: at every step the
level, the trigger and the decay start are found again by scanning the whole history. The
tests hold the fast path (``modes/cycle.py``) equal to it, bit for bit. No torch here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from uncertainty_lr.schedulers.modes.reference import judged, lr_bounds, smoothed
from uncertainty_lr.schedulers.options import SEARCH_STEPS, UncertaintyOptions

#: LevelSearch's smoothing of the training loss (its default).
LOSS_SMOOTHING = 0.9


def search_level(history: Sequence[tuple[str, float | bool]], o: UncertaintyOptions,
                 cap: float) -> float:  # fmt: skip
    """The multiple of the base LR after the level search saw ``history``, in order:
    ("loss", training loss) and ("signal", over-confident or not) entries."""
    steps = o.search_steps if o.search_steps is not None else SEARCH_STEPS
    multiple, ema, best, best_multiple, taken = 1.0, None, math.inf, 1.0, 0
    for kind, value in history:
        if kind == "signal":
            if value:  # over-confident
                return o.search_safety * multiple
            if multiple >= cap:
                return multiple
            continue
        taken += 1
        if not math.isfinite(value):
            return o.search_safety * best_multiple
        ema = value if ema is None else LOSS_SMOOTHING * ema + (1 - LOSS_SMOOTHING) * value
        if ema < best:
            best, best_multiple = ema, multiple
        elif ema > best * (1 + o.search_margin):
            return o.search_safety * best_multiple
        multiple = min(cap ** (min(taken, steps) / steps), cap)
    return multiple


def trigger_step(judged_signals: Sequence[tuple[int, float]], o: UncertaintyOptions) -> int | None:
    """The step at which the over-confidence trigger fires, from (step, judged signal) pairs:
    ``patience`` signals in a row above ``threshold`` without a new low."""
    best, stall = None, 0
    for step, s in judged_signals:
        new_low = best is None or s < best * (1.0 - o.tolerance)
        if new_low:
            best = s
        stall = stall + 1 if s > o.threshold and not new_low else 0
        if stall >= o.patience:
            return step
    return None


def decay_start(t: int, fired: int | None, o: UncertaintyOptions) -> int | None:
    """The step the decay started at, looking back from step ``t`` (None: not yet)."""
    for step in range(1, t + 1):
        was_fired = fired is not None and fired <= step
        if o.total_steps is None:
            if was_fired:
                return step
            continue
        earliest = math.ceil(o.decay_earliest * o.total_steps)
        latest = math.floor(o.decay_latest * o.total_steps)
        if step >= o.total_steps or step >= latest or (was_fired and step >= earliest):
            return step
    return None


def decay_factor(t: int, start: int | None, o: UncertaintyOptions) -> float:
    if start is None:
        return 1.0
    length = (
        o.total_steps - start
        if o.total_steps is not None
        else max(1, math.ceil(o.decay_ratio * start))
    )
    if length <= 0:
        return 0.0
    done = min(1.0, (t - start) / length)
    return 1.0 - (math.sqrt(done) if o.decay_shape == "sqrt" else done)


def reference_cycle_lrs(
    events: Sequence[tuple[float | None, float | None]],
    base_lrs: Sequence[float],
    options: UncertaintyOptions,
) -> list[list[float]]:
    """The LRs of every group after each scheduler step of mode ``cycle``.

    ``events[k]`` = (loss, signal) given before step k + 1: the training loss of the
    optimizer step just taken (``observe_loss``) and an uncertainty signal (``observe``),
    each None when not given. Bounds and the signal's smoothing / reference are the
    policy's defaults or ``options``.
    """
    o = options
    base = [float(b) for b in base_lrs]
    low, high = lr_bounds(base, o)
    cap = min(h / b for h, b in zip(high, base))
    signal_steps = [k for k, (_, u) in enumerate(events, 1) if u is not None]
    values = judged(smoothed([events[k - 1][1] for k in signal_steps], o.smoothing),
                    o.reference, o.reference_steps)  # fmt: skip
    judged_signals = list(zip(signal_steps, values))
    judged_at = dict(judged_signals)
    fired = trigger_step(judged_signals, o)
    out = []
    for t in range(1, len(events) + 1):
        history: list[tuple[str, float | bool]] = []
        for k, (loss, _) in enumerate(events[:t], 1):
            if k in judged_at:  # a step decides on its signal before it reads its loss
                history.append(("signal", judged_at[k] > o.search_threshold))
            if loss is not None:
                history.append(("loss", loss))
        multiple = search_level(history, o, cap) if o.search else 1.0
        factor = multiple * decay_factor(t, decay_start(t, fired, o), o)
        out.append([min(max(b * factor, lo), hi) for b, lo, hi in zip(base, low, high)])
    return out

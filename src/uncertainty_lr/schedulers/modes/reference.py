"""Plain reference twins of the policy: signals in, LRs out, as pure functions.

``reference_lrs(signals, base_lrs, options)`` is what ``UncertaintyPolicy.step`` returns
for each signal, written the slow, obvious way: whole sequences instead of running state,
each mode's rule as a function of what it has seen (the anneal trigger re-scans its
history at every decision). The tests hold the fast path equal to it, bit for bit.
No torch import here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from uncertainty_lr.schedulers.modes.proportional import proportional_factor
from uncertainty_lr.schedulers.options import UncertaintyOptions
from uncertainty_lr.schedulers.policy import MAX_LR_MULTIPLE, MIN_LR_MULTIPLE


def smoothed(signals: Sequence[float], smoothing: float) -> list[float]:
    """The EMA of ``signals``: the first value, then w x previous + (1 - w) x new."""
    out: list[float] = []
    for u in signals:
        out.append(u if not out else smoothing * out[-1] + (1 - smoothing) * u)
    return out


def judged(values: Sequence[float], reference: str, reference_steps: int) -> list[float]:
    """Each smoothed value judged against the reference (``UncertaintyPolicy``'s table)."""
    out = []
    for k, u in enumerate(values):
        if reference == "absolute":
            out.append(u)
        elif reference == "initial":
            first = values[: min(k + 1, reference_steps)]
            u0 = sum(first) / len(first)
            out.append(0.0 if u0 <= 0 else min(u / u0, 1.0))
        else:  # running_min
            out.append(0.0 if u <= 0 else 1.0 - min(values[: k + 1]) / u)
    return out


def threshold_lrs(s: float, lrs: list[float], o: UncertaintyOptions) -> list[float]:
    return [lr * (1 + o.step_size) if s > o.threshold else lr * (1 - o.step_size) for lr in lrs]


def band_lrs(s: float, lrs: list[float], o: UncertaintyOptions) -> list[float]:
    if s > o.threshold * (1 + o.band_width):
        return [lr * (1 + o.step_size) for lr in lrs]
    if s < o.threshold * (1 - o.band_width):
        return [lr * (1 - o.step_size) for lr in lrs]
    return list(lrs)


def proportional_lrs(
    s: float, base: list[float], high: list[float], o: UncertaintyOptions
) -> list[float]:
    return [b * proportional_factor(s / o.threshold, h / b) for b, h in zip(base, high)]


def anneal_factor(
    seen: list[tuple[int, float]], k: int, cap: float, o: UncertaintyOptions
) -> float:
    """The anneal factor at decision ``k``, from ``seen``: (decision, judged signal) of every
    decision the rule took so far, this one last. Scans them for the decay's start."""
    best, stall, gain = None, 0, 1.0
    for step, s in seen:
        if o.explore:
            if s < -o.threshold:
                gain = max(1.0, min(gain * (1.0 + o.step_size), cap))
            s = max(s, 0.0)
        new_low = best is None or s < best * (1.0 - o.tolerance)
        if new_low:
            best = s
        above = s > o.threshold if o.trigger == "threshold" else True
        stall = stall + 1 if above and not new_low else 0
        if stall >= o.patience:  # the decay started at `step`
            length = max(1, math.ceil(o.decay_ratio * step))
            return gain * max(0.0, 1.0 - (k - step + 1) / length)
    return gain


def reference_lrs(
    signals: Sequence[float], base_lrs: Sequence[float], options: UncertaintyOptions
) -> list[list[float]]:
    """The LRs of every group after each signal (one list per signal), as the policy with
    ``options`` gives them for groups of initial LRs ``base_lrs``."""
    o = options
    base = [float(b) for b in base_lrs]
    low, high = lr_bounds(base, o)

    def clamp(lrs: list[float]) -> list[float]:
        return [min(max(lr, lo), hi) for lr, lo, hi in zip(lrs, low, high)]

    def warmup_factor(k: int) -> float:
        if o.warmup == 0:
            return 1.0
        return o.warmup_start_factor + (1.0 - o.warmup_start_factor) * min(k, o.warmup) / o.warmup

    lrs = clamp([b * warmup_factor(0) for b in base])
    seen: list[tuple[int, float]] = []
    cooldown_left, out = 0, []
    for k, s in enumerate(
        judged(smoothed(signals, o.smoothing), o.reference, o.reference_steps), 1
    ):
        if k <= o.warmup:
            lrs = clamp([b * warmup_factor(k) for b in base])
        elif cooldown_left > 0:
            cooldown_left -= 1
        else:
            if o.mode == "threshold":
                new = threshold_lrs(s, lrs, o)
            elif o.mode == "band":
                new = band_lrs(s, lrs, o)
            elif o.mode == "proportional":
                new = proportional_lrs(s, base, high, o)
            else:
                seen.append((k, s))
                cap = min(h / b for h, b in zip(high, base))
                new = [b * anneal_factor(seen, k, cap, o) for b in base]
            new = clamp(new)
            if new != lrs:
                cooldown_left = o.cooldown
            lrs = new
        out.append(list(lrs))
    return out


def lr_bounds(base: list[float], o: UncertaintyOptions) -> tuple[list[float], list[float]]:
    """(min_lr, max_lr) per group: the options' bounds, or the policy's default multiples of
    the base LRs where the options give none."""
    low = [b * MIN_LR_MULTIPLE for b in base] if o.min_lr is None else _per_group(o.min_lr, base)
    high = [b * MAX_LR_MULTIPLE for b in base] if o.max_lr is None else _per_group(o.max_lr, base)
    return low, high


def _per_group(value: float | Sequence[float], base: list[float]) -> list[float]:
    """A bound given as one number or one per group, per group."""
    return (
        [float(v) for v in value]
        if isinstance(value, (list, tuple))
        else [float(value)] * len(base)
    )

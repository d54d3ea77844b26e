"""Warmup-stable-decay, the one shape behind the ``linear`` and ``wsd`` arms.

``wsd_factor(step, total, warmup, decay)`` is the LR multiple the ``step``-th optimizer
step (0-based) uses: a linear warmup ``(step + 1) / warmup`` over the first ``warmup``
steps, 1 until the last ``decay`` steps, then ``(total - step) / decay``, so the last step
trains at ``1 / decay`` of the LR and the LR after it is 0 (as cosine annealing reaches its
minimum after the last step rather than wasting a step at it). ``linear`` is the case
``decay = total - warmup``; ``wsd`` keeps ``decay`` to the last fraction of the steps.
"""

from __future__ import annotations

from torch.optim.lr_scheduler import LRScheduler


def wsd_factor(step: int, total: int, warmup: int, decay: int) -> float:
    """The LR multiple at 0-based ``step`` of ``total`` steps (all counts, ``warmup + decay
    <= total``, ``decay >= 1``); 0 from ``step == total`` on."""
    if step < warmup:
        return (step + 1) / warmup
    if step < total - decay:
        return 1.0
    return max(0.0, (total - step) / decay)


def wsd_steps(total: int, warmup_fraction: float, decay_fraction: float) -> tuple[int, int]:
    """(warmup, decay) step counts for fractions of ``total`` steps: decay at least 1 step
    and warmup shortened so that both fit (``warmup + decay <= total``)."""
    decay = min(total, max(1, round(total * decay_fraction)))
    warmup = min(round(total * warmup_fraction), total - decay)
    return warmup, decay


class WarmupStableDecayLR(LRScheduler):
    """Per-step LR = base LR x ``wsd_factor(step, total, warmup, decay)``, each param group.

    Stepped after every optimizer step; the state is the step count and these plain
    numbers, so ``state_dict()`` round-trips with ``torch.load(weights_only=True)``.
    """

    def __init__(self, optimizer, total: int, warmup: int, decay: int, last_epoch: int = -1):
        if not 1 <= decay <= total or not 0 <= warmup <= total - decay:
            raise ValueError(
                f"need 1 <= decay <= total and 0 <= warmup <= total - decay, "
                f"got total={total}, warmup={warmup}, decay={decay}"
            )
        self.total, self.warmup, self.decay = total, warmup, decay
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        factor = wsd_factor(self.last_epoch, self.total, self.warmup, self.decay)
        return [base * factor for base in self.base_lrs]

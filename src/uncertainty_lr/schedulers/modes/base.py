"""What a mode of the uncertainty policy is: its own rule and the state it alone keeps.

``UncertaintyPolicy`` owns what every mode shares: the per-group bounds, smoothing, the
reference the signal is judged against, warmup and cooldown, and the LRs it writes. At each
decision past warmup and cooldown it asks its mode for the new LRs with ``decide(s, policy)``
and clamps them to the bounds. A mode reads its own options from ``UncertaintyOptions``
(``options.READ_WHEN`` says which) and keeps its state as plain numbers named in ``STATE``.
No torch import here.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol


class PolicyView(Protocol):
    """What a mode reads of its policy: per-group lists (one float per parameter group) and
    the number of decisions taken, the current one included."""

    base_lrs: list[float]
    max_lrs: list[float]
    lrs: list[float]
    steps: int


def max_multiple(policy: PolicyView) -> float:
    """The largest multiple of the base LR that keeps every group within its max_lr."""
    return min(hi / base for hi, base in zip(policy.max_lrs, policy.base_lrs))


def trigger_count(
    best: float | None, stall: int, s: float, tolerance: float, threshold: float | None
) -> tuple[float | None, int]:
    """The anneal trigger's bookkeeping for one signal ``s``: the new (best, stall).

    A new low (the first signal, or one more than ``tolerance`` below the best) becomes the
    best. With a ``threshold`` the stall counts the signals in a row above it that set no new
    low; without one, the signals since the last new low.
    """
    new_low = best is None or s < best * (1.0 - tolerance)
    if new_low:
        best = s
    if threshold is None:
        return best, 0 if new_low else stall + 1
    return best, stall + 1 if s > threshold and not new_low else 0


class ModeRule:
    """One mode: ``decide`` maps the judged signal ``s`` to the next LR of each group.

    Subclasses set ``name`` (the ``mode`` option's value) and ``STATE``, read their options in
    ``__init__`` and implement ``decide``. ``on_step`` is called at every step that composes
    with the LRs in place (``UncertaintyPolicy.advance``: each scheduler step but the first
    and a ``SequentialLR`` hand-over), after the decision if a signal came: a mode whose LR
    moves without a signal (stepped per optimizer step, say) returns new LRs there; the
    modes here move only on decisions.
    """

    name: ClassVar[str]
    #: Attribute names of the mode's own state (plain numbers), saved by state_dict()
    #: beside the policy's keys (option names and ``UncertaintyPolicy``'s state): distinct.
    STATE: ClassVar[tuple[str, ...]] = ()
    #: The lowest signal the mode takes: 0, or -1 for a signed one (explore).
    signal_low: float = 0.0
    #: True for a mode stepped once per optimizer step, whose LR moves without a signal.
    per_step: ClassVar[bool] = False
    #: True for a mode whose schedule can end (``annealed``): ``anneal`` and ``cycle``.
    anneals: ClassVar[bool] = False
    #: Whether the mode reads the training loss now (``observe_loss``); only ``cycle`` does.
    wants_loss: bool = False

    #: The options the mode reads: ``__init__`` keeps each as an attribute of that name.
    READS: ClassVar[tuple[str, ...]] = ()

    def __init__(self, options: Any) -> None:
        """``options``: the policy's ``UncertaintyOptions``; a mode keeps what it reads."""
        for name in self.READS:
            setattr(self, name, getattr(options, name))

    def decide(self, s: float, policy: PolicyView) -> list[float]:
        """The new LR of every group (before clamping) for judged signal ``s``."""
        raise NotImplementedError(f"{type(self).__name__} must implement decide()")

    def on_step(self, policy: PolicyView) -> list[float] | None:
        """New LRs for a scheduler step, or None to keep them (every mode here)."""
        return None

    def observe_loss(self, loss: float) -> None:
        """The training loss of the step just taken; the modes here do not read it."""

    def annealed(self, policy: PolicyView) -> bool:
        """True once the mode's schedule has run its course (modes with ``anneals``)."""
        return False

    def state_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.STATE}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name in self.STATE:
            setattr(self, name, state[name])

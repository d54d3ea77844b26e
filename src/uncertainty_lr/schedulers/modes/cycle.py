"""Mode ``cycle``: search the LR level, hold it, and anneal once the model is over-confident.

Stepped once per optimizer step (``UncertaintyLR.step()`` after ``optimizer.step()``), with
the training loss of each step (``observe_loss``) and, once per evaluation, the uncertainty
signal (``observe(u)``: ``signals.overconfidence`` on held-out data, mean confidence minus
accuracy). Three phases, t = scheduler steps taken:

1. *search* (``search=True``, ``LevelSearch``): from the base LR up to ``max_lr`` over
   ``search_steps`` steps, geometrically, while the smoothed training loss keeps within
   ``search_margin`` of its lowest value and no signal says the model is over-confident
   (above ``search_threshold``, 0.1). A rise of the loss settles the level at ``search_safety`` x the
   LR where the loss was lowest; an over-confident signal at ``search_safety`` x the LR
   reached; the first signal after the ramp's top that is not over-confident keeps it.
2. *hold* at that level L.
3. *anneal*: the trigger fires after ``patience`` decisions in a row with the signal above
   ``threshold`` that set no new low (each new low ``tolerance`` below the best), as in
   ``anneal``'s threshold trigger. Then
   - with ``total_steps`` = T (the budget is known): the decay starts at the step the
     trigger fired, but not before ``decay_earliest`` x T nor after ``decay_latest`` x T (by
     then it starts without the trigger), and ends at 0 at T:
     lr = L x (T - t) / (T - t0), or L x (1 - sqrt((t - t0) / (T - t0))) with
     ``decay_shape="sqrt"``;
   - without (budget-free): it starts when the trigger fires, at t0, and lasts
     D = ceil(``decay_ratio`` x t0) steps: lr = L x (1 - (t - t0) / D) (or the sqrt shape);
     ``annealed`` is then True: training can stop.

The policy clamps every LR to [min_lr, max_lr] of its group. No torch import here.
"""

from __future__ import annotations

import math
from typing import Any

from uncertainty_lr.schedulers.modes.base import ModeRule, PolicyView, max_multiple, trigger_count
from uncertainty_lr.schedulers.modes.search import LevelSearch
from uncertainty_lr.schedulers.options import SEARCH_STEPS

#: LevelSearch's state, saved under these names (distinct from the policy's and options').
_SEARCH_STATE = {"search_multiple": "multiple", "search_ema": "ema", "search_best": "best",
                 "search_best_multiple": "best_multiple", "search_taken": "taken",
                 "search_ended": "ended"}  # fmt: skip


class CycleRule(ModeRule):
    """The level, hold and anneal of mode ``cycle`` (module docstring).

    State: ``t`` (steps taken), the search's state (``search_*``), ``best`` / ``stall``
    (the trigger's), ``fired`` (the trigger has fired), ``decay_start`` (the step the decay
    started at, None before) and ``decay_steps`` (its length), ``pending_loss``.
    """

    name = "cycle"
    STATE = ("t", "best", "stall", "fired", "decay_start", "decay_steps", "pending_loss",
             *_SEARCH_STATE)  # fmt: skip
    per_step = True
    anneals = True

    READS = ("total_steps", "threshold", "search_threshold", "patience", "tolerance",
             "decay_ratio", "decay_earliest", "decay_latest", "decay_shape")  # fmt: skip

    def __init__(self, options: Any) -> None:
        super().__init__(options)
        steps = options.search_steps if options.search_steps is not None else SEARCH_STEPS
        self.level_search = LevelSearch(
            steps=steps, margin=options.search_margin, safety=options.search_safety,
            max_multiple=math.inf,
        )  # fmt: skip
        if not options.search:
            self.level_search.ended = "off"
        self.t = 0
        self.best: float | None = None
        self.stall = 0
        self.fired = False
        self.decay_start: int | None = None
        self.decay_steps = 0
        self.pending_loss: float | None = None

    # -- what the policy calls ------------------------------------------------------------
    @property
    def wants_loss(self) -> bool:
        """Whether the training loss is still read (only while the search runs)."""
        return self.level_search.searching

    def observe_loss(self, loss: float) -> None:
        """The training loss of the step just taken, for the next on_step()."""
        self.pending_loss = float(loss)

    def decide(self, s: float, policy: PolicyView) -> list[float]:
        """A signal: the search's cue, and the trigger's count."""
        if self.level_search.searching:  # the cap is read only while the search runs
            self.level_search.max_multiple = max_multiple(policy)
            self.level_search.observe_signal(over_confident=s > self.search_threshold)
        self.best, self.stall = trigger_count(
            self.best, self.stall, s, self.tolerance, self.threshold
        )
        self.fired = self.fired or self.stall >= self.patience
        return list(policy.lrs)

    def on_step(self, policy: PolicyView) -> list[float]:
        """One optimizer step was taken: the LRs of the next."""
        self.t += 1
        search = self.level_search
        if search.searching:  # no per-step work on the cap once the level is found
            search.max_multiple = max_multiple(policy)
        if self.pending_loss is not None:
            search.observe_loss(self.pending_loss)
            self.pending_loss = None
        if self.decay_start is None and self._decay_starts_now():
            self.decay_start = self.t
            known = self.total_steps  # the decay ends there; budget-free, it lasts decay_ratio x t
            self.decay_steps = (
                known - self.t
                if known is not None
                else max(1, math.ceil(self.decay_ratio * self.t))
            )
        factor = search.multiple * self._decay_factor()
        return [base * factor for base in policy.base_lrs]

    def annealed(self, policy: PolicyView) -> bool:
        return self.decay_start is not None and self.t - self.decay_start >= self.decay_steps

    # -- the phases -------------------------------------------------------------------------
    def _decay_starts_now(self) -> bool:
        if self.total_steps is None:
            return self.fired
        if self.t >= self.total_steps:
            return True
        earliest = math.ceil(self.decay_earliest * self.total_steps)
        latest = math.floor(self.decay_latest * self.total_steps)
        return (self.fired and self.t >= earliest) or self.t >= latest

    def _decay_factor(self) -> float:
        if self.decay_start is None:
            return 1.0
        if self.decay_steps <= 0:
            return 0.0
        done = min(1.0, (self.t - self.decay_start) / self.decay_steps)
        return 1.0 - (math.sqrt(done) if self.decay_shape == "sqrt" else done)

    # -- state ------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        state = {name: getattr(self, name) for name in self.STATE if name not in _SEARCH_STATE}
        state.update({k: getattr(self.level_search, v) for k, v in _SEARCH_STATE.items()})
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name in self.STATE:
            if name in _SEARCH_STATE:
                setattr(self.level_search, _SEARCH_STATE[name], state[name])
            else:
                setattr(self, name, state[name])

"""An uncertainty arm whose learning rate never moved, and why (no plotting, no torch).

When the signal an uncertainty rule reads never gives it a reason to act (on digits the
default's over-confidence signal is 0 in every epoch), the arm trains exactly as constant
LR does. Ranked among the arms without a word, it reads as a result of the method; the
verdict says instead that the LR never left its base value, and what the signal read.
"""

from __future__ import annotations

import numpy as np

from uncertainty_lr.report.load import RunData, Study
from uncertainty_lr.schedulers.registry import check_schedule

#: Runs that trained (a failed or running run may have stopped before its LR could move).
TRAINED = ("done", "diverged")


def lr_never_moved(runs: list[RunData]) -> bool | None:
    """True when every run logged an LR and each epoch's ``lr`` equals its first epoch's;
    None when no run logged one (nothing can be said)."""
    seen = False
    for run in runs:
        lr = run.curve("lr")
        lr = lr[np.isfinite(lr)]
        if lr.size == 0:
            return None
        seen = True
        if (lr != lr[0]).any():
            return False
    return seen or None


def _rule(run: RunData) -> tuple[str | None, str | None]:
    """(signal name, mode) the run's options resolve to; (None, None) for options this
    version cannot read (a store written by another version)."""
    try:
        resolved = check_schedule(run.base_schedule, run.config.get("schedule_options"))
    except ValueError:
        return None, None
    return resolved.get("signal"), resolved.get("mode")


def _signal_text(runs: list[RunData], name: str | None) -> str:
    """What the logged signal read over every epoch of ``runs``, in words."""
    what = f"its signal ({name})" if name else "its signal"
    values = np.concatenate([run.curve("signal") for run in runs])
    values = values[np.isfinite(values)]
    if values.size == 0:
        return "no signal was logged"
    low, high = float(values.min()), float(values.max())
    if low == high:
        return f"{what} was {low:.4g} throughout"
    return f"{what} stayed between {low:.4g} and {high:.4g}"


def static_lr_note(study: Study, problem: str, arm: str) -> str | None:
    """A sentence when no run of ``arm`` on ``problem`` ever moved its LR, else None.

    E.g. "Its LR never moved (0.001 in every epoch of its 3 runs), so it trained as
    constant LR: its signal (overconfidence) was 0 throughout and its rule (mode anneal)
    never acted." It follows a sentence that names the arm.
    """
    runs = [run for run in study.runs_of(problem, arm) if run.status in TRAINED]
    if not runs or not lr_never_moved(runs):
        return None
    bases = sorted({float(run.curve("lr")[np.isfinite(run.curve("lr"))][0]) for run in runs})
    name, mode = _rule(runs[0])
    rule = f"its rule (mode {mode})" if mode else "its rule"
    return (
        f"Its LR never moved ({' / '.join(f'{b:g}' for b in bases)} in every epoch of its "
        f"{len(runs)} run{'s' if len(runs) > 1 else ''}), so it trained as constant LR: "
        f"{_signal_text(runs, name)} and {rule} never acted."
    )

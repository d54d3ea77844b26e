"""Fault injection: hard-kill this process at a named point, to prove crashes lose nothing.

Set ``UNCERTAINTY_LR_FAULT=NAME:N`` (several: ``epoch:7,commit:3``) and the N-th time
``fault_point(NAME)`` runs in this process, the process sends itself SIGKILL: no
``finally`` blocks, no atexit handlers, no flushing, exactly like ``kill -9`` or the
out-of-memory killer. Unset (the normal case), ``fault_point`` is one global lookup and
a falsy test.

``UNCERTAINTY_LR_FAULT_COUNTS=PATH`` writes, at normal exit, a JSON object
``{name: times reached}`` to PATH, so a test can pick an N that a real run reaches.

The points placed in the package (``FAULT_POINTS``):

- ``run_start``: in ``train()``, after the run row is written and before its first epoch;
- ``epoch``: inside the training batch loop, after each ``optimizer.step()`` (mid-epoch);
- ``checkpoint``: in ``save_checkpoint``, after the temporary file is written and
  fsynced, before it is renamed over the checkpoint;
- ``commit``: in every store write, inside the transaction, before ``COMMIT``;
- ``after_commit``: in every store write, right after ``COMMIT``.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
from pathlib import Path

FAULT_ENV = "UNCERTAINTY_LR_FAULT"
COUNTS_ENV = "UNCERTAINTY_LR_FAULT_COUNTS"
FAULT_POINTS = ("run_start", "epoch", "checkpoint", "commit", "after_commit")

# None until the environment is read (once, on the first fault_point call); then either
# an empty dict (faults off: the fast path) or {name: N}.
_plan: dict[str, int] | None = None
_counting = False
_counts: dict[str, int] = {}


def parse_plan(text: str) -> dict[str, int]:
    """'epoch:7,commit:3' -> {'epoch': 7, 'commit': 3}; '' -> {}.

    Raises ValueError for an unknown point, a missing or non-positive N, or a point
    named twice.
    """
    plan: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, colon, count = item.partition(":")
        if name not in FAULT_POINTS:
            raise ValueError(
                f"{FAULT_ENV}: unknown fault point {name!r} in {text!r}; "
                f"known: {', '.join(FAULT_POINTS)}"
            )
        if not colon or not count.strip().isdigit() or int(count) < 1:
            raise ValueError(
                f"{FAULT_ENV}: {item!r} must look like NAME:N with N a positive integer"
            )
        if name in plan:
            raise ValueError(f"{FAULT_ENV}: fault point {name!r} is named twice in {text!r}")
        plan[name] = int(count)
    return plan


def _write_counts(path: str) -> None:
    Path(path).write_text(json.dumps(_counts, sort_keys=True), encoding="utf-8")


def _load() -> dict[str, int]:
    global _plan, _counting
    _plan = parse_plan(os.environ.get(FAULT_ENV, ""))
    counts_path = os.environ.get(COUNTS_ENV)
    if counts_path:
        _counting = True
        atexit.register(_write_counts, counts_path)
    return _plan


def fault_point(name: str) -> None:
    """Count a pass through point ``name``; SIGKILL this process on the planned pass.

    Does nothing unless ``UNCERTAINTY_LR_FAULT`` (or ``UNCERTAINTY_LR_FAULT_COUNTS``) is
    set. The environment is read on the first call and cached; ``reset()`` re-reads it.
    """
    plan = _plan if _plan is not None else _load()
    if not plan and not _counting:
        return
    _counts[name] = _counts.get(name, 0) + 1
    if plan.get(name) == _counts[name]:
        os.kill(os.getpid(), signal.SIGKILL)


def reset() -> None:
    """Forget the cached plan and the counts (tests that change the environment)."""
    global _plan, _counting
    atexit.unregister(_write_counts)
    _plan = None
    _counting = False
    _counts.clear()

"""Fault injection: kill, interrupt or fail this process at a named point, to prove faults lose nothing.

Set ``UNCERTAINTY_LR_FAULT=NAME:N`` (several: ``epoch:7,commit:3``) and the N-th time
``fault_point(NAME)`` runs in this process, the process sends itself SIGKILL: no
``finally`` blocks, no atexit handlers, no flushing, exactly like ``kill -9`` or the
out-of-memory killer. ``NAME:N:ACTION`` does something else on that pass (``FAULT_ACTIONS``):

- ``sigterm``: send this process SIGTERM (what a batch scheduler's preemption sends);
- ``ENOSPC``, ``EDQUOT``, ``EROFS``, ``EIO``: raise ``OSError`` with that errno, as the
  file system does when it is full, over quota, read-only or failing.

Unset (the normal case), ``fault_point`` is one global lookup and a falsy test.

``UNCERTAINTY_LR_FAULT_COUNTS=PATH`` writes, at normal exit, a JSON object
``{name: times reached}`` to PATH, so a test can pick an N that a real run reaches.

The points placed in the package: ``SWEEP_POINTS`` in a sweep,

- ``run_start``: in ``train()``, after the run row is written and before its first epoch;
- ``epoch``: inside the training batch loop, after each ``optimizer.step()`` (mid-epoch);
- ``checkpoint``: in ``save_checkpoint``, after the temporary file is written and
  fsynced, before it is renamed over the checkpoint;
- ``commit``: in every store write, inside the transaction, before ``COMMIT``;
- ``after_commit``: in every store write, right after ``COMMIT``;

and ``OUTPUT_POINTS`` in every report and export file write (``experiments.files``),

- ``file_write``: after a file's temporary copy is written and fsynced, before its rename;
- ``file_commit``: before each removal and each rename that puts a staged set of files
  (a report, an export) in place.
"""

from __future__ import annotations

import atexit
import errno
import json
import os
import signal
from pathlib import Path

FAULT_ENV = "UNCERTAINTY_LR_FAULT"
COUNTS_ENV = "UNCERTAINTY_LR_FAULT_COUNTS"
SWEEP_POINTS = ("run_start", "epoch", "checkpoint", "commit", "after_commit")
OUTPUT_POINTS = ("file_write", "file_commit")
FAULT_POINTS = SWEEP_POINTS + OUTPUT_POINTS
#: What a planned pass does: SIGKILL (the default), SIGTERM, or raise OSError(errno).
FAULT_ACTIONS = ("sigkill", "sigterm", "ENOSPC", "EDQUOT", "EROFS", "EIO")

# None until the environment is read (once, on the first fault_point call); then either
# an empty dict (faults off: the fast path) or {name: (N, action)}.
_plan: dict[str, tuple[int, str]] | None = None
_counting = False
_counts: dict[str, int] = {}


def parse_plan(text: str) -> dict[str, tuple[int, str]]:
    """'epoch:7,commit:3:ENOSPC' -> {'epoch': (7, 'sigkill'), 'commit': (3, 'ENOSPC')}.

    '' -> {}. Raises ValueError for an unknown point or action, a missing or
    non-positive N, or a point named twice.
    """
    plan: dict[str, tuple[int, str]] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, colon, rest = item.partition(":")
        count, _, action = rest.partition(":")
        if name not in FAULT_POINTS:
            raise ValueError(
                f"{FAULT_ENV}: unknown fault point {name!r} in {text!r}; "
                f"known: {', '.join(FAULT_POINTS)}"
            )
        if not colon or not count.strip().isdigit() or int(count) < 1:
            raise ValueError(
                f"{FAULT_ENV}: {item!r} must look like NAME:N with N a positive integer "
                f"(or NAME:N:ACTION, ACTION one of {', '.join(FAULT_ACTIONS)})"
            )
        action = action.strip() or "sigkill"
        if action not in FAULT_ACTIONS:
            raise ValueError(
                f"{FAULT_ENV}: unknown action {action!r} in {item!r}; "
                f"known: {', '.join(FAULT_ACTIONS)}"
            )
        if name in plan:
            raise ValueError(f"{FAULT_ENV}: fault point {name!r} is named twice in {text!r}")
        plan[name] = (int(count), action)
    return plan


def _write_counts(path: str) -> None:
    Path(path).write_text(json.dumps(_counts, sort_keys=True), encoding="utf-8")


def _load() -> dict[str, tuple[int, str]]:
    global _plan, _counting
    _plan = parse_plan(os.environ.get(FAULT_ENV, ""))
    counts_path = os.environ.get(COUNTS_ENV)
    if counts_path:
        _counting = True
        atexit.register(_write_counts, counts_path)
    return _plan


def _act(name: str, action: str) -> None:
    if action == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif action == "sigterm":
        os.kill(os.getpid(), signal.SIGTERM)
    else:
        code = getattr(errno, action)
        raise OSError(code, f"{os.strerror(code)} (injected at fault point {name})")


def fault_point(name: str) -> None:
    """Count a pass through point ``name``; act on the planned pass (SIGKILL by default).

    Does nothing unless ``UNCERTAINTY_LR_FAULT`` (or ``UNCERTAINTY_LR_FAULT_COUNTS``) is
    set. The environment is read on the first call and cached; ``reset()`` re-reads it.
    """
    plan = _plan if _plan is not None else _load()
    if not plan and not _counting:
        return
    _counts[name] = _counts.get(name, 0) + 1
    planned = plan.get(name)
    if planned is not None and planned[0] == _counts[name]:
        _act(name, planned[1])


def reset() -> None:
    """Forget the cached plan and the counts (tests that change the environment)."""
    global _plan, _counting
    atexit.unregister(_write_counts)
    _plan = None
    _counting = False
    _counts.clear()

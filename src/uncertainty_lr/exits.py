"""How the ``uncertainty-lr`` command ends when something outside the input goes wrong.

- A write the file system refuses (a full disk, a read-only folder) part-way: one line
  naming the cause, exit code 1; what finished before it is kept (``refused_write_line``).
- Runs that failed: the summary, then one line counting them, exit code 1.
- Ctrl-C (exit code 130) and SIGTERM, what a batch scheduler sends to preempt a job (exit
  code 143): both unwind the same way, through ``KeyboardInterrupt``, so every store write
  in flight is rolled back, and print the same line saying to rerun the same command.

Bad input (exit code 2) is cli.py's own. No torch.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

from uncertainty_lr.experiments.files import OutputError, write_refusal


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: unwinds like Ctrl-C, so the store and checkpoints stay consistent."""


def _raise_terminated(signum, frame) -> None:
    raise Terminated()


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """While inside, SIGTERM raises ``Terminated`` (main thread only; restored after)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _say(line: str) -> None:
    print(f"uncertainty-lr: {line}", file=sys.stderr)


def interrupted(error: KeyboardInterrupt) -> int:
    """Say to rerun; 128 + the signal: 143 for SIGTERM, 130 for Ctrl-C (SIGINT)."""
    _say("interrupted; rerun the same command to resume")
    return 128 + (signal.SIGTERM if isinstance(error, Terminated) else signal.SIGINT)


def refused_write_line(error: BaseException) -> str | None:
    """The one line for a write the file system refused, or None for any other error."""
    if isinstance(error, OutputError):
        return str(error)
    cause = write_refusal(error)
    if cause is None:
        return None
    filename = getattr(error, "filename", None)
    where = f" writing {filename}" if filename else ""
    return f"{cause}{where}; free space (or make it writable) and rerun the same command"


def refused_write(error: Exception) -> int:
    """Say what the file system refused and return 1; re-raise any other ``error``."""
    line = refused_write_line(error)
    if line is None:
        raise error
    _say(f"error: {line}")
    return 1


def failed_runs(configs, results) -> int:
    """1, after a line counting them, when some run of ``configs`` has no result; else 0."""
    from uncertainty_lr.experiments.config import run_id

    ids = {run_id(cfg) for cfg in configs}
    missing = len(ids - {result.run_id for result in results})
    if missing:
        _say(f"{missing} of {len(ids)} runs failed (their errors are above); rerun the same "
             "command to retry them")  # fmt: skip
    return 1 if missing else 0


@contextlib.contextmanager
def runs_kept_if_report_fails(out: Path) -> Iterator[None]:
    """A refused report write after a sweep also says the runs are safe and how to report."""
    try:
        yield
    except OutputError as error:
        raise OutputError(
            f"{error} (the runs are stored in {Path(out) / 'results.sqlite'}; write the "
            f"report later with `uncertainty-lr report {out}`)"
        ) from error

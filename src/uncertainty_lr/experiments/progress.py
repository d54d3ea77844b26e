"""Progress of a sweep: a bar on a terminal, one line per finished run anywhere else.

Under nohup, CI or a batch scheduler, stderr is a file or a pipe, where a redrawn bar is
noise (tqdm's is switched off there), so a long sweep used to print nothing until its
summary. There each finished run prints one line to stderr instead, for example::

    runs 4/27 (1 already done): digits_mlp cosine seed 1: done; 1 min 05 s so far, about 6 min 30 s left

The estimate is the time per run finished by this process so far times the runs left,
so it counts parallel workers (runs finish faster) and leaves out runs skipped as
already finished (they take no time). No torch: the sweep imports this before training.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO


class SweepProgress:
    """Counts finished runs of a sweep and shows them: a tqdm bar or plain lines.

    Args:
        total: runs in the sweep, finished ones included.
        done: runs already finished before this process started (skipped, no time).
        enabled: False shows nothing (``--quiet``, or a non-zero torchrun rank).
        stream: where to show it (default ``sys.stderr``, where the bar would be). A
            terminal gets the bar; anything else one line per finished run.
        clock: seconds, monotonic (``time.monotonic``; a test passes its own).
    """

    def __init__(
        self,
        total: int,
        done: int = 0,
        *,
        enabled: bool = True,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total, self.skipped, self.finished = total, done, done
        self.stream = stream or sys.stderr
        self.clock = clock
        self.started = clock()
        self.bar = None
        self.lines = enabled and not _is_terminal(self.stream)
        if enabled and not self.lines:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=done, desc="runs", unit="run", file=self.stream)

    def run_finished(self, problem: str, schedule: str, seed: int, status: str) -> None:
        """One more run ended (done, diverged or failed): advance the bar or print a line."""
        self.finished += 1
        what = f"{problem} {schedule} seed {seed}: {status}"
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix_str(what)
        elif self.lines:
            print(self.line(what), file=self.stream, flush=True)

    def line(self, what: str) -> str:
        """The line for the run just finished: counts, time so far, time left."""
        elapsed = self.clock() - self.started
        timed = self.finished - self.skipped  # runs this process trained
        left = self.total - self.finished
        counts = f"runs {self.finished}/{self.total}"
        if self.skipped:
            counts += f" ({self.skipped} already done)"
        if left == 0:
            return f"{counts}: {what}; {duration(elapsed)} in all"
        eta = duration(elapsed / timed * left)
        return f"{counts}: {what}; {duration(elapsed)} so far, about {eta} left"

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def duration(seconds: float) -> str:
    """Seconds as people read them: '42 s', '6 min 05 s', '2 h 03 min'."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())

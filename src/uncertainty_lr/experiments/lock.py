"""The sweep lock: one process at a time runs a sweep into a results folder.

An exclusive, non-blocking POSIX ``flock`` on ``<out>/sweep.lock``; the file holds the
holder's description, so a refused second sweep can say who is running. The lock dies
with its process (``kill -9`` included), so no stale lock needs cleaning up.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

LOCK_NAME = "sweep.lock"


class StoreLockedError(ValueError):
    """Another process holds the store's ``sweep.lock``; the message names the holder."""


def default_lock_owner() -> str:
    """Who holds the lock, for the refusal message: 'pid 123 on host: python -m ...'."""
    return f"pid {os.getpid()} on {socket.gethostname()}: {' '.join(sys.argv)}"


@contextlib.contextmanager
def hold_lock(out_dir: str | Path, owner: str | None = None) -> Iterator[None]:
    """Hold the exclusive advisory lock ``sweep.lock`` in ``out_dir`` (an existing folder).

    Non-blocking: if another process (or another open of the file) holds it, raises
    ``StoreLockedError`` naming the holder written in the file. ``owner`` defaults to
    ``default_lock_owner()`` (pid, host, command).
    """
    import fcntl  # POSIX only; imported here so readers on other systems still work

    owner = default_lock_owner() if owner is None else owner
    out_dir = Path(out_dir)
    lock_path = out_dir / LOCK_NAME
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = lock_path.read_text(encoding="utf-8", errors="replace").strip()
            raise StoreLockedError(
                f"results store {out_dir} is in use by {holder or 'an unknown holder'} "
                f"(lock file {lock_path})"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, owner.encode("utf-8"))
        os.fsync(fd)
        try:
            yield
        finally:
            # Empty the file but keep it: unlinking a flock file races with a process
            # that has just opened the old inode and would then lock a ghost.
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)

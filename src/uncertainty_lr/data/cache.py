"""On-disk cache of decoded splits: keys, atomic writes, safe loads.

Decoding MNIST / CIFAR-10 images or tokenising IMDB takes seconds to a minute; the
result is saved once with `torch.save` and read back with `torch.load(weights_only=True)`
(tensors, dicts, lists, strings and numbers only, so a cache file cannot run code).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import torch

CACHE_ENV = "UNCERTAINTY_LR_CACHE"
# Bump when the payload layout changes, so old files are decoded again, not misread.
CACHE_FORMAT = 1


def default_cache_dir() -> Path:
    """$UNCERTAINTY_LR_CACHE if set, else ~/.cache/uncertainty_lr."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "uncertainty_lr"


def make_key(parts: dict) -> str:
    """A stable hex digest of JSON-able `parts` (dict order does not matter)."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def folder_signature(folder: str | os.PathLike) -> list[tuple[str, int, int]]:
    """(relative path, size in bytes, mtime in ns) of every file under `folder`, sorted.

    A cheap guard on top of `datasets`' fingerprints: replacing a data file changes it.
    """
    root = Path(folder)
    rows = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        stat = path.stat()
        rows.append((path.relative_to(root).as_posix(), stat.st_size, stat.st_mtime_ns))
    return rows


def content_hash(tensors: list[torch.Tensor]) -> str:
    """blake2b of the raw bytes, shapes and dtypes of `tensors` (CPU), 32 hex chars."""
    digest = hashlib.blake2b(digest_size=16)
    for tensor in tensors:
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{tuple(t.shape)}{t.dtype}".encode())
        digest.update(t.numpy())  # buffer protocol: hashed in place, no copy
    return digest.hexdigest()


def atomic_write(path: Path, write) -> None:
    """Call write(temp_path) then rename onto `path`, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    os.close(fd)
    try:
        write(temp)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def save_payload(path: Path, payload: dict) -> None:
    """torch.save `payload` (plus the format number) to `path` atomically."""

    def write(temp: str) -> None:
        torch.save({**payload, "format": CACHE_FORMAT}, temp)

    atomic_write(path, write)


def load_payload(path: Path) -> dict | None:
    """The payload at `path`, or None if it is missing, unreadable or of another format.

    A damaged file (a crash mid-copy, a full disk) counts as a miss and is rewritten by
    the caller rather than failing the run.
    """
    if not path.is_file():
        return None
    try:
        payload = torch.load(path, weights_only=True)
    except Exception:  # any unpickling / zip error means "decode again"
        return None
    if not isinstance(payload, dict) or payload.get("format") != CACHE_FORMAT:
        return None
    return payload

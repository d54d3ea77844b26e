"""Atomic, safely loadable training checkpoints, and RNG state that survives them.

A checkpoint is a dict of plain data (tensors, numbers, strings, lists, dicts) saved with
``torch.save`` and loaded with ``weights_only=True``, which refuses any pickled object
that could run code on load. ``save_checkpoint`` checks the types up front, so a state
that could not be loaded back fails when saved, not hours later when resumed.
Conventionally ``state["meta"]`` holds {"problem": ..., "schedule": ..., ...} so a
resume can check it picked up the right file.
"""

from __future__ import annotations

import collections
import os
import pickle
import random
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from uncertainty_lr.checks import check_type
from uncertainty_lr.experiments.files import fsync_path
from uncertainty_lr.faults import fault_point

# What torch's weights_only unpickler accepts by default (checked against torch 2.13).
_PLAIN_SCALARS = (type(None), bool, int, float, complex, str, bytes, bytearray)
_PLAIN_TORCH = (torch.Tensor, torch.Size, torch.dtype, torch.device)
_RNG_KEYS = ("torch", "cuda", "numpy", "python")


def _check_plain(value: Any, where: str) -> None:
    """Raise ValueError naming the first value weights_only loading would refuse."""
    kind = type(value)
    if kind in _PLAIN_SCALARS or isinstance(value, _PLAIN_TORCH):
        return
    if kind in (dict, collections.OrderedDict):
        for key, item in value.items():
            _check_plain(key, f"{where} key {key!r}")
            _check_plain(item, f"{where}[{key!r}]")
        return
    if kind in (list, tuple, set):
        for index, item in enumerate(value):
            _check_plain(item, f"{where}[{index}]")
        return
    # Exact type checks on purpose: numpy.float64 is a float subclass but pickles as a
    # numpy global, which weights_only refuses.
    raise ValueError(
        f"{where} is a {kind.__module__}.{kind.__qualname__}, which weights_only loading "
        "refuses; store tensors, numbers, strings, lists or dicts instead"
    )


def save_checkpoint(path: str | Path, state: dict) -> None:
    """Write ``state`` to ``path`` atomically: ``path.tmp``, fsync, rename, fsync the folder.

    A crash at any moment leaves either the old checkpoint or the new one, never a torn
    file. Creates the parent folder. Raises ValueError if ``state`` holds anything
    ``load_checkpoint`` (weights_only) would refuse, e.g. a numpy array or a dataclass.
    """
    check_type("checkpoint state", state, dict, "a dict")
    _check_plain(state, "checkpoint state")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with tmp.open("wb") as handle:
            torch.save(state, handle)
            handle.flush()
            os.fsync(handle.fileno())
        fault_point("checkpoint")  # a kill here leaves the old checkpoint and a stray .tmp
        os.replace(tmp, path)
    except BaseException as error:
        tmp.unlink(missing_ok=True)
        # torch reports a failed write (e.g. a full disk) as "unexpected pos ..."; the OSError
        # it was handling says what happened, and survives the trip back from a worker process
        if isinstance(error, RuntimeError) and isinstance(error.__context__, OSError):
            raise error.__context__ from None
        raise
    fsync_path(path.parent)


def _first_line(text: str, limit: int = 200) -> str:
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    return line[:limit]


def _refusal_detail(text: str) -> str:
    """'Unsupported global: GLOBAL print was not an allowed global by default' from torch's essay."""
    start = text.find("Unsupported global")
    detail = text[start:] if start >= 0 else text
    return _first_line(detail.split(". Please use")[0])


def _corruption_detail(error: BaseException) -> str:
    # torch wraps the unpickler's own error (e.g. 'Unsupported operand 103') in a long
    # explanation about weights_only; the wrapped one says what is wrong with the bytes.
    if isinstance(error, pickle.UnpicklingError) and error.__context__ is not None:
        error = error.__context__
    if isinstance(error, EOFError):
        return "unexpected end of file"
    text = _first_line(str(error)).split(". ")[0]
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def load_checkpoint(path: str | Path, *, expected: dict | None = None) -> dict:
    """Load a checkpoint with ``torch.load(weights_only=True, map_location="cpu")``.

    ``expected`` (e.g. {"problem": "mnist_cnn", "schedule": "cosine"}) is compared with
    ``state["meta"]``. Raises ValueError (one line, naming the file) when the file is
    missing, truncated or corrupt, holds a pickled object that weights_only refuses,
    is not a dict, or does not match ``expected``.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"checkpoint {path} does not exist")
    try:
        with warnings.catch_warnings():
            # Garbage bytes make torch warn about an unknown pickle protocol; the error says it.
            warnings.simplefilter("ignore")
            state = torch.load(path, weights_only=True, map_location="cpu")
    except OSError:
        raise  # permissions and I/O errors are not a property of the file's contents
    except Exception as error:
        text = str(error)
        if isinstance(error, pickle.UnpicklingError) and "Unsupported global" in text:
            raise ValueError(
                f"checkpoint {path} is not a plain tensor/number checkpoint "
                f"(refused by weights_only loading): {_refusal_detail(text)}"
            ) from None
        raise ValueError(
            f"checkpoint {path} is truncated, corrupt or not a torch checkpoint: "
            f"{_corruption_detail(error)}"
        ) from None
    if not isinstance(state, dict):
        raise ValueError(f"checkpoint {path} holds a {type(state).__name__}, not a dict")
    if expected:
        meta = state.get("meta")
        if not isinstance(meta, dict):
            raise ValueError(
                f"checkpoint {path} has no 'meta' dict to check {', '.join(expected)} against"
            )
        for key, want in expected.items():
            if meta.get(key) != want:
                raise ValueError(f"checkpoint {path} is for {key} {meta.get(key)}, not {want}")
    return state


def rng_state() -> dict:
    """Capture torch CPU (+ every CUDA device), numpy global and python ``random`` states.

    Returns {"torch": ByteTensor, "cuda": [ByteTensor, ...] (only with CUDA),
    "numpy": {...lists and numbers...}, "python": {...}}: all weights_only-loadable.
    """
    name, keys, pos, has_gauss, cached_gaussian = np.random.get_state(legacy=True)
    version, internal, gauss_next = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "bit_generator": str(name),
            "keys": [int(key) for key in keys],
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached_gaussian),
        },
        "python": {"version": version, "internal": list(internal), "gauss_next": gauss_next},
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what ``rng_state`` captured; keys that are absent are left alone.

    CUDA states are restored for as many devices as both the state and this machine
    have (a GPU checkpoint resumed on CPU skips them).
    """
    check_type("rng state", state, dict, "a dict")
    unknown = sorted(set(state) - set(_RNG_KEYS))
    if unknown:
        raise ValueError(f"unknown rng state keys {unknown}; allowed: {', '.join(_RNG_KEYS)}")
    if "torch" in state:
        torch.set_rng_state(torch.as_tensor(state["torch"], dtype=torch.uint8).cpu())
    if "cuda" in state and torch.cuda.is_available():
        count = min(len(state["cuda"]), torch.cuda.device_count())
        for device, device_state in enumerate(state["cuda"][:count]):
            torch.cuda.set_rng_state(torch.as_tensor(device_state, dtype=torch.uint8), device)
    if "numpy" in state:
        saved = state["numpy"]
        np.random.set_state(
            (
                saved["bit_generator"],
                np.asarray(saved["keys"], dtype=np.uint32),
                saved["pos"],
                saved["has_gauss"],
                saved["cached_gaussian"],
            )
        )
    if "python" in state:
        saved = state["python"]
        random.setstate((saved["version"], tuple(saved["internal"]), saved["gauss_next"]))

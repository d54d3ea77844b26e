"""Shared helpers for the benchmarks: the environment header, medians, data choice."""

from __future__ import annotations

import io
import json
import os
import platform
import statistics
from pathlib import Path

import numpy as np
import torch

import uncertainty_lr
from uncertainty_lr.data import cache
from uncertainty_lr.experiments.runtime import cpu_name

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


def header(title: str, **sizes) -> None:
    """Print what was measured, on what, with which versions and sizes."""
    print(f"# {title}")
    print(
        f"hardware: {cpu_name()}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}"
    )
    if torch.cuda.is_available():
        print(f"gpu: {torch.cuda.get_device_name()}")
    print(f"versions: python {platform.python_version()}, torch {torch.__version__}, "
          f"uncertainty-lr {uncertainty_lr.__version__}")  # fmt: skip
    print("sizes: " + ", ".join(f"{k}={v}" for k, v in sizes.items()))


def study_plan_arm(signal: str) -> tuple[str, dict]:
    """The harness arm running the study plan's rule (threshold 0.05, step 0.1) on ``signal``."""
    return "uncertainty", {"mode": "threshold", "signal": signal}


def median(values) -> float:
    return statistics.median(values)


def data_source(smoke: bool) -> tuple[str, str | None]:
    """(problem, data_dir): real MNIST from ../shared when present and not in smoke mode, else digits."""
    if not smoke and (SHARED / "mnist").is_dir():
        return "mnist_cnn", str(SHARED)
    return "digits_mlp", None


def cifar10_payload(folder: Path) -> dict:
    """The decoded payload `load_data` would build for a CIFAR-10 parquet folder.

    Read with pyarrow and PIL alone, so it runs where `datasets` is not installed (the GPU
    machine); `data.load.carve(payload, seed, ...)` then gives the bundle `load_data` gives
    (tests/slow/test_gpu_study.py checks the fingerprints agree).
    """
    import pyarrow.parquet as pq
    from PIL import Image

    splits, names = {}, None
    for role in ("train", "test"):
        (path,) = sorted(folder.glob(f"{role}-*.parquet"))
        table = pq.read_table(path)
        if names is None:
            meta = json.loads(table.schema.metadata[b"huggingface"])
            names = meta["info"]["features"]["label"]["names"]
        images = [
            np.asarray(Image.open(io.BytesIO(c["bytes"])).convert("RGB"), dtype=np.uint8)
            for c in table.column("img").to_pylist()
        ]
        x = torch.from_numpy(np.stack(images).transpose(0, 3, 1, 2).copy())
        y = torch.from_numpy(table.column("label").to_numpy().astype(np.int64))
        splits[role] = {"x": x, "y": y}
    ordered = [splits[r][k] for r in ("train", "test") for k in ("x", "y")]
    return {"name": "cifar10", "kind": "image", "source": str(folder), "class_names": names,
            "vocab_size": 0, "pad_id": 0, "splits": splits,
            "content_hash": cache.content_hash(ordered) + cache.make_key(names)[:8]}  # fmt: skip

"""Shared helpers for the benchmarks: the environment header, medians, data choice."""

from __future__ import annotations

import os
import platform
import statistics
from pathlib import Path

import torch

import uncertainty_lr
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

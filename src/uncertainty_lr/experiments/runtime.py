"""Where a run ran: hardware, versions and the git commit, stored with every run."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from functools import cache
from importlib import metadata
from pathlib import Path
from urllib.parse import unquote, urlparse

import torch

import uncertainty_lr


def pick_device(name: str) -> torch.device:
    """ "auto" -> cuda if available, else mps, else cpu; an unavailable device is an error."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            "device 'cuda' was asked for but torch sees no CUDA GPU; use --device cpu or auto"
        )
    return torch.device(name)


@cache
def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hardware(device: torch.device) -> dict:
    """A plain dict describing the machine and software of this run."""
    info = {
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": str(device),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def _git(folder: Path, *args: str) -> subprocess.CompletedProcess | None:
    """``git -C folder args``; None when git cannot be run."""
    try:
        return subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True,
                              timeout=5)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None


def _head(folder: Path) -> str | None:
    """The commit checked out in ``folder``, when it is inside a git work tree."""
    out = _git(folder, "rev-parse", "HEAD")
    return out.stdout.strip() or None if out is not None and out.returncode == 0 else None


def _same_package(installed: Path, source: Path) -> bool:
    """Whether the ``.py`` files under ``installed`` and ``source`` are the same, byte for byte."""
    mine = {p.relative_to(installed) for p in installed.rglob("*.py")}
    theirs = {p.relative_to(source) for p in source.rglob("*.py")} if source.is_dir() else set()
    return mine == theirs and all(
        (installed / p).read_bytes() == (source / p).read_bytes() for p in mine
    )


def _installed_from(package: Path) -> str | None:
    """The commit pip installed ``package`` from, read from its PEP 610 ``direct_url.json``:
    recorded for ``pip install git+URL``; for ``pip install .`` the HEAD of that folder, if
    its package files are still the ones installed and match HEAD (else the code that runs
    is not that commit, and None is the honest answer)."""
    try:
        # the record of the copy that runs (another copy may be installed too, e.g. editable)
        dist = next((d for d in metadata.distributions(name="uncertainty-lr")
                     if Path(str(d.locate_file("uncertainty_lr/__init__.py"))).resolve()
                     == package / "__init__.py"), None)  # fmt: skip
        url = json.loads(dist.read_text("direct_url.json") or "{}") if dist else {}
    except (ValueError, OSError):
        return None
    if "vcs_info" in url:
        return url["vcs_info"].get("commit_id")
    if not str(url.get("url", "")).startswith("file://"):
        return None
    source = Path(unquote(urlparse(url["url"]).path))
    if not _same_package(package, source / "src" / "uncertainty_lr"):
        return None
    clean = _git(source, "diff", "--quiet", "HEAD", "--", "src/uncertainty_lr")
    return _head(source) if clean is not None and clean.returncode == 0 else None


@cache
def git_sha() -> str | None:
    """The commit of the code that runs, or None when it cannot be known.

    Run from a git checkout (an editable install, or ``PYTHONPATH=src``): that checkout's
    HEAD. Installed by pip (``pip install .`` from a clone, ``pip install git+URL``): the
    commit pip's record of the install points to (``_installed_from``), so a clone used
    with a virtual environment elsewhere still records its commit.
    """
    package = Path(uncertainty_lr.__file__).resolve().parent
    if package.parent.name == "src":
        return _head(package.parent.parent)
    return _installed_from(package)

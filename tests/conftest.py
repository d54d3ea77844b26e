"""Shared test set-up: one torch thread, so tests are deterministic and do not fight over cores."""

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)

SHARED_DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


@pytest.fixture
def isolated_caches(tmp_path, monkeypatch):
    """datasets' arrow cache and ours inside tmp_path, never in the user's home (a module
    asks for it with ``pytestmark = pytest.mark.usefixtures("isolated_caches")``)."""
    import datasets  # here, not at the top: most tests never load it

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("UNCERTAINTY_LR_CACHE", str(tmp_path / "default-cache"))


@pytest.fixture
def shared_datasets() -> Path:
    """The real MNIST / CIFAR-10 / IMDB folders in the hub layout (../shared/datasets)."""
    if not SHARED_DATASETS.is_dir():
        pytest.skip(f"real datasets not found at {SHARED_DATASETS}")
    return SHARED_DATASETS


class PackageCopy:
    """A copy of ``src/uncertainty_lr`` to edit, and Python run against that copy.

    Shows what a change touches: make the edits, then ``changed()`` lists the files that
    differ from the package under test and ``run(code)`` executes ``code`` in a fresh
    interpreter that imports the copy (its own data cache, one torch thread).
    """

    SOURCE = Path(__file__).resolve().parents[1] / "src" / "uncertainty_lr"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.package = root / "src" / "uncertainty_lr"
        shutil.copytree(self.SOURCE, self.package, ignore=shutil.ignore_patterns("__pycache__"))

    def append(self, path: str, text: str) -> None:
        """Add ``text`` at the end of the copy's file ``path`` (relative to the package)."""
        file = self.package / path
        file.write_text(file.read_text() + "\n" + textwrap.dedent(text))

    def changed(self) -> set[str]:
        """Files of the copy that differ from the package's (paths relative to it)."""
        return {
            str(path.relative_to(self.package))
            for path in self.package.rglob("*.py")
            if path.read_bytes() != (self.SOURCE / path.relative_to(self.package)).read_bytes()
        }

    def run(self, code: str) -> str:
        """Run ``code`` against the copy; its stdout (AssertionError with stderr on failure)."""
        env = {**os.environ, "PYTHONPATH": str(self.root / "src"),
               "UNCERTAINTY_LR_CACHE": str(self.root / "cache")}  # fmt: skip
        prelude = "import torch, uncertainty_lr\ntorch.set_num_threads(1)\n"
        check = f"assert uncertainty_lr.__file__.startswith({str(self.package)!r})\n"
        done = subprocess.run([sys.executable, "-c", prelude + check + textwrap.dedent(code)],
                              capture_output=True, text=True, env=env, cwd=self.root,
                              timeout=300, check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout


@pytest.fixture
def package_copy(tmp_path) -> PackageCopy:
    """A fresh copy of the package in tmp_path (see `PackageCopy`)."""
    return PackageCopy(tmp_path)

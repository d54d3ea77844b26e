"""git_sha: the commit of the code that runs, from a checkout or from pip's record of an
install (PEP 610 direct_url.json), and None when the code no longer matches any commit."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import uncertainty_lr
from uncertainty_lr.experiments.runtime import _installed_from, git_sha

REPO = Path(__file__).resolve().parents[2]
PACKAGE = Path(uncertainty_lr.__file__).resolve().parent


def git(folder: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(folder), "-c", "user.name=t", "-c", "user.email=t@t",
                           *args], capture_output=True, text=True, check=True)  # fmt: skip
    return done.stdout.strip()


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """A clone with one commit and the package "pip installed" from it into a site folder."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    clone, site = tmp_path / "clone", tmp_path / "site"
    shutil.copytree(PACKAGE, clone / "src" / "uncertainty_lr",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    git(clone, "init", "-q")
    git(clone, "add", ".")
    git(clone, "commit", "-qm", "the code")
    shutil.copytree(clone / "src" / "uncertainty_lr", site / "uncertainty_lr")
    record = site / "uncertainty_lr-0.1.0.dist-info"
    record.mkdir()
    (record / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: uncertainty-lr\nVersion: 0.1.0\n"
    )
    (record / "direct_url.json").write_text(json.dumps({"url": clone.as_uri(), "dir_info": {}}))
    monkeypatch.setattr(sys, "path", [str(site), *sys.path])
    return clone, site


def test_a_checkout_records_its_head():
    if not (REPO / ".git").exists() or PACKAGE.parent != REPO / "src":
        pytest.skip("the package under test does not run from a git checkout")
    # uncached: another test of this process may have read it before a commit
    assert git_sha.__wrapped__() == git(REPO, "rev-parse", "HEAD")


def test_pip_install_from_a_clone_records_the_clone_head(installed):
    clone, site = installed
    assert _installed_from(site / "uncertainty_lr") == git(clone, "rev-parse", "HEAD")


def test_a_clone_that_moved_on_since_the_install_records_nothing(installed):
    clone, site = installed
    (clone / "src" / "uncertainty_lr" / "extra.py").write_text("x = 1\n")
    git(clone, "add", ".")
    git(clone, "commit", "-qm", "more code")
    assert _installed_from(site / "uncertainty_lr") is None  # the installed code is older
    (clone / "src" / "uncertainty_lr" / "extra.py").unlink()
    assert _installed_from(site / "uncertainty_lr") is None  # same files, HEAD differs from them


def test_pip_install_from_git_records_pips_commit(installed):
    _, site = installed
    record = site / "uncertainty_lr-0.1.0.dist-info" / "direct_url.json"
    record.write_text(json.dumps({"url": "https://example.org/u.git",
                                  "vcs_info": {"vcs": "git", "commit_id": "abc123"}}))  # fmt: skip
    assert _installed_from(site / "uncertainty_lr") == "abc123"

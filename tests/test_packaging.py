"""What a user expects of a package: a license, one version, type information a checker
can read, and the demo's output kept out of git."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

import uncertainty_lr
from uncertainty_lr import integrations

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "uncertainty_lr"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_license_file_is_the_mit_license_pyproject_names():
    assert PYPROJECT["project"]["license"] == "MIT"
    assert "LICENSE" in PYPROJECT["project"]["license-files"]
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "WITHOUT WARRANTY OF ANY KIND" in text


def test_the_version_is_stated_once_in_the_package():
    assert "version" not in PYPROJECT["project"] and "version" in PYPROJECT["project"]["dynamic"]
    attr = PYPROJECT["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    assert attr == "uncertainty_lr.__version__"
    assert uncertainty_lr.__version__.count(".") == 2


def test_changelog_has_an_entry_for_this_version():
    assert f"## [{uncertainty_lr.__version__}]" in (ROOT / "CHANGELOG.md").read_text()


def test_py_typed_ships_with_the_package():
    assert (PACKAGE / "py.typed").is_file()
    assert "py.typed" in PYPROJECT["tool"]["setuptools"]["package-data"]["uncertainty_lr"]


def test_demo_output_is_ignored_by_git():
    from uncertainty_lr.cli_parser import DEMO_OUT

    assert f"{DEMO_OUT}/" in (ROOT / ".gitignore").read_text().splitlines()


def type_checking_names(module) -> set[str]:
    """Names imported under ``if TYPE_CHECKING:`` in a module's source."""
    tree = ast.parse(Path(module.__file__).read_text())
    names = set()
    for node in tree.body:
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for stmt in node.body:
                names.update(alias.name for alias in stmt.names)
    return names


@pytest.mark.parametrize("module", [uncertainty_lr, integrations], ids=lambda m: m.__name__)
def test_lazy_names_are_also_visible_to_type_checkers(module):
    exports = set(module._EXPORTS)
    assert type_checking_names(module) == exports
    assert set(module.__all__) - {"__version__"} == exports


def test_mypy_sees_the_classes_not_any(tmp_path):
    pytest.importorskip("mypy")
    code = tmp_path / "user.py"
    code.write_text(
        "from uncertainty_lr import RECOMMENDED, UncertaintyLR\n"
        "reveal_type(UncertaintyLR)\nreveal_type(RECOMMENDED)\n"
    )
    # Third-party packages are left out (seen as Any): checking torch would take minutes,
    # and what is tested is how the package's own lazy names resolve.
    flags = ["--no-site-packages", "--ignore-missing-imports", "--follow-imports=silent",
             "--cache-dir", str(tmp_path / "cache")]  # fmt: skip
    env = {**os.environ, "MYPYPATH": str(ROOT / "src")}
    out = subprocess.run([sys.executable, "-m", "mypy", *flags, str(code)], env=env,
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    revealed = [line for line in out.stdout.splitlines() if "Revealed type" in line]
    assert len(revealed) == 2, out.stdout + out.stderr
    assert "-> uncertainty_lr.schedulers.uncertainty.UncertaintyLR" in revealed[0]
    assert '"dict[str, Any]"' in revealed[1]

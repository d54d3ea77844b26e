"""A package's public names imported on first use, so importing the package stays cheap
(and torch-free where only some of its modules need torch). Imports nothing of the package."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Any


def by_module(modules: dict[str, tuple[str, ...]]) -> dict[str, str]:
    """The ``exports`` of ``lazy_getattr`` (name -> module) from module -> its names, the
    form a package's ``__init__`` lists them in (each module named once)."""
    return {name: module for module, names in modules.items() for name in names}


def lazy_getattr(package: str, exports: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: a name of ``exports`` is looked up in the
    module ``package.<exports[name]>``, imported then; any other name raises AttributeError."""

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(import_module(f"{package}.{exports[name]}"), name)

    return __getattr__

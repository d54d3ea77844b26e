"""The import rules of docs/architecture.md, checked against the code.

Imports are read from the source (every ``import`` / ``from ... import``, at module level
and inside functions), so a rule broken by a lazy import is caught too.
"""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "uncertainty_lr"
DOC = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"


def rules_in_the_document() -> dict[str, set[str]]:
    """The import table of docs/architecture.md: package (or top-level module) -> the
    packages of uncertainty_lr it may import, or single modules of one ("signals.catalog":
    that module, not the rest of its package). Every one may import ``checks``."""
    rules = {}
    for line in DOC.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 2 and cells[0].startswith("`") and line.startswith("|"):
            names = set(re.findall(r"`([\w.]+)`", cells[1]))
            rules[cells[0].strip("`")] = {"*"} if cells[1] == "everything" else names
    everything = set(rules) - {"__main__"}
    return {k: (everything if v == {"*"} else v) | {"checks"} for k, v in rules.items()}


ALLOWED = rules_in_the_document()
#: Modules that must import no torch (at import time, through any chain of imports).
TORCH_FREE = ["checks", "exits", "faults", "problems", "stats", "report", "signals.catalog", "schedulers.policy",
              *(p.relative_to(SRC).with_suffix("").as_posix().replace("/", ".").removesuffix(".__init__")
                for p in sorted((SRC / "schedulers" / "modes").glob("*.py"))),
              "schedulers.options", "schedulers.registry", "experiments.config",
              "experiments.grid", "experiments.results", "experiments.hooks",
              "experiments.records", "experiments.lock", "experiments.files",
              "experiments.store_reader", "experiments.store",
              "experiments.tuning", "experiments.export", "experiments.summary",
              "experiments.progress"]  # fmt: skip


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(["uncertainty_lr", *parts])


def imports(path: Path, top_level_only: bool = False) -> set[str]:
    """Modules of uncertainty_lr (and torch) that ``path`` imports."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else ast.walk(tree)
    if top_level_only:  # module level, including if / try blocks, not function bodies
        nodes = [n for stmt in tree.body for n in ast.walk(stmt)
                 if not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]  # fmt: skip
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    modules = {module_name(p) for p in SRC.rglob("*.py")}
    return {n for n in found if n in modules or n == "torch" or n.startswith("torch.")}


MODULES = {module_name(p): p for p in SRC.rglob("*.py")}


def package_of(module: str) -> str:
    return module.split(".")[1] if module.count(".") else ""


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.count(".")))
def test_imports_follow_the_layer_rules(module):
    own = package_of(module)
    for target in imports(MODULES[module]):
        if target.startswith("torch") or target == "uncertainty_lr":
            continue
        other = package_of(target)
        allowed = ALLOWED[own]
        ok = other == own or other in allowed or target.removeprefix("uncertainty_lr.") in allowed
        assert ok, f"{module} imports {target}"


def test_the_table_has_a_row_for_every_package_and_nothing_else():
    on_disk = {package_of(m) for m in MODULES if m.count(".")}
    assert set(ALLOWED) == on_disk
    named = {n for names in ALLOWED.values() for n in names}
    assert {n for n in named if f"uncertainty_lr.{n}" not in MODULES} == set()


def experiments_order() -> list[str]:
    """experiments/ in the order docs/architecture.md states (each imports only modules
    before it): the names between "Inside it, imports run one way" and "Everything up to"."""
    text = " ".join(DOC.read_text().split())
    chain = text.split("Inside it, imports run one way")[1].split("Everything up to")[0]
    return re.findall(r"`(\w+)`", chain)


def test_experiments_modules_import_only_earlier_ones():
    prefix = "uncertainty_lr.experiments."
    order = experiments_order()
    on_disk = {m.removeprefix(prefix) for m in MODULES if m.startswith(prefix)}
    assert sorted(order) == sorted(on_disk)
    for i, name in enumerate(order):
        targets = {t.removeprefix(prefix).split(".")[0] for t in imports(MODULES[prefix + name])
                   if t.startswith(prefix)}  # fmt: skip
        later = targets - set(order[:i])
        assert not later, f"experiments.{name} imports {sorted(later)}, listed after it"


def test_no_import_circle():
    graph = {m: {t for t in imports(p) if t in MODULES and t != m} for m, p in MODULES.items()}
    # Package __init__ files that re-export lazily are not edges back into the package.
    state: dict[str, int] = {}

    def visit(node, stack):
        state[node] = 1
        for nxt in graph[node]:
            if nxt == "uncertainty_lr" or (node.startswith(nxt + ".")):
                continue  # importing a parent package (its lazy __init__) is no circle
            if state.get(nxt) == 1:
                raise AssertionError("import circle: " + " -> ".join([*stack, node, nxt]))
            if nxt not in state:
                visit(nxt, [*stack, node])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [])


@pytest.mark.parametrize("module", TORCH_FREE)
def test_torch_free_modules_reach_no_torch_at_import(module):
    seen, todo = set(), ["uncertainty_lr." + module]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        path = MODULES[current]
        found = imports(path, top_level_only=True)
        assert not any(t == "torch" or t.startswith("torch.") for t in found), (
            f"{module} reaches torch through {current}"
        )
        parents = [".".join(current.split(".")[:i]) for i in range(2, current.count(".") + 1)]
        todo.extend(t for t in (*found, *parents) if t in MODULES)


def test_importing_the_config_loads_no_torch():
    code = "import sys, uncertainty_lr.experiments.config; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_document_names_every_package():
    text = DOC.read_text()
    for package in ALLOWED:
        if package != "__main__":
            assert f"`{package}" in text, package

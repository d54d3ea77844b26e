"""Every script in examples/ runs as a user would run it (`python examples/NAME.py`) and
prints what it promises. Each is CPU-small: seconds apiece."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
from testkit import HANDS_OVER, NO_HAND_OVER

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
#: example -> a line its output must contain (every example needs one here).
PROMISES = {
    "plain_loop.py": "annealed after",
    "warmup_sequential.py": "epoch 11",
    "lightning_monitored.py": "4 decisions",
    "hf_trainer.py": "3 decisions",
    "hf_trainer_cycle.py": "budget spent: lr 1.0e-05 after 48 steps",
    "ddp_cpu.py": "epoch 4",
    "known_budget.py": "budget spent: lr 1.0e-06 after 400 steps",
}


def third_party_imports(path: Path) -> set[str]:
    """Top-level modules the script imports that are neither stdlib, torch nor ours."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    local = {p.stem for p in EXAMPLES.glob("*.py")}  # one example importing another
    return names - set(sys.stdlib_module_names) - {"torch", "uncertainty_lr"} - local


def test_every_example_has_a_promise():
    assert {p.name for p in EXAMPLES.glob("*.py")} == set(PROMISES)


@pytest.mark.parametrize("name", sorted(PROMISES))
def test_example_runs(name, tmp_path):
    script = EXAMPLES / name
    if name == "warmup_sequential.py" and not HANDS_OVER:
        pytest.skip(NO_HAND_OVER)
    needs = third_party_imports(script)
    if "transformers" in needs:
        needs.add("accelerate")  # the Trainer needs it
    for module in sorted(needs):
        pytest.importorskip(module)
    # One thread per process, as conftest sets for in-process tests: on a shared machine
    # torch's thread pool otherwise spins against the other processes.
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=600)  # fmt: skip
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
    assert PROMISES[name] in out.stdout, out.stdout[-2000:]

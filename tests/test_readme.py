"""The README's library quick-start really runs."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_quick_start_runs_and_moves_the_lr(capsys):
    code = python_blocks()[0]
    assert "UncertaintyLR" in code and len(code.strip().splitlines()) <= 20
    namespace: dict = {}
    exec(compile(code, str(README), "exec"), namespace)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 5
    lrs = [float(line.split("[")[1].rstrip("]")) for line in lines]
    assert lrs[0] != 1e-3 and all(1e-6 <= lr <= 1e-2 for lr in lrs)

"""The README's library quick-start really runs."""

import re
from pathlib import Path

import pytest
from testkit import HANDS_OVER, NO_HAND_OVER

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_quick_start_raises_holds_then_anneals_and_stops(capsys):
    code = python_blocks()[0]
    assert "UncertaintyLR" in code and len(code.strip().splitlines()) <= 28
    namespace: dict = {}
    exec(compile(code, str(README), "exec"), namespace)
    lines = capsys.readouterr().out.strip().splitlines()
    epochs = [int(line.split()[0]) for line in lines]
    lrs = [float(line.split("[")[1].rstrip("]")) for line in lines]
    # the level found in the first epoch (10 x: the loss stayed stable, the model calm),
    # held, then a linear decay (not a drop) to min_lr
    assert lrs[:2] == [pytest.approx(1e-2), pytest.approx(1e-2)] and lrs[-1] == pytest.approx(1e-6)
    assert 1e-6 < min(lrs[:-1]) < 1e-2
    assert namespace["scheduler"].annealed and epochs[-1] < 99  # stopped before the end


@pytest.mark.skipif(not HANDS_OVER, reason=NO_HAND_OVER)
def test_sequential_warmup_block_gives_the_lrs_computed_by_hand(capsys):
    code = python_blocks()[1]
    assert "SequentialLR" in code
    exec(compile(code, str(README), "exec"), {})
    lrs = [float(line.split("[")[1].rstrip("]")) for line in capsys.readouterr().out.splitlines()]
    # warmup 0.055, then from the base LR: x1.1 (0.6 > 0.05), x1.1, x0.9 (0.02 < 0.05)
    assert lrs == [pytest.approx(v, rel=1e-12) for v in [0.055, 0.11, 0.121, 0.1331, 0.1331 * 0.9]]


def test_lightning_fragment_is_part_of_a_snippet_the_docs_run():
    fragment = python_blocks()[2]
    assert "MonitoredUncertaintyLR" in fragment and '"monitor": "val_entropy"' in fragment
    docs = (README.parent / "docs" / "integrations.md").read_text()

    def lines(text):  # indentation and blank lines aside (ruff formats both blocks)
        return "\n".join(line.strip() for line in text.splitlines() if line.strip())

    assert lines(fragment) in lines(docs)

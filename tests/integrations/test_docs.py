"""Every ```python block of docs/integrations.md runs as written."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

# Keras picks its backend at first import, which pytest.importorskip below may trigger.
os.environ.setdefault("KERAS_BACKEND", "torch")

DOC = Path(__file__).resolve().parents[2] / "docs" / "integrations.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
# A block that imports one of these is skipped when the package is missing.
NEEDS = {
    "lightning": ["lightning"],
    "transformers": ["transformers", "accelerate"],
    "keras": ["keras"],
    "make_loggers": ["mlflow", "tensorboard"],
}


def doc_blocks() -> list[str]:
    return BLOCK.findall(DOC.read_text(encoding="utf-8"))


KINDS = ["lightning", "lightning", "transformers", "transformers", "keras", "make_loggers"]
IDS = ["lightning_plain", "lightning_callback", "hf_plain", "hf_callback", "keras", "tracking"]


def test_the_doc_has_the_scheduler_and_a_callback_per_framework():
    blocks = doc_blocks()
    assert len(blocks) == len(KINDS)
    for block, word in zip(blocks, KINDS):
        assert word in block
    assert "MonitoredUncertaintyLR" in blocks[0] and "MonitoredUncertaintyLR" in blocks[2]


@pytest.mark.parametrize("index", range(len(KINDS)), ids=IDS)
def test_doc_block_runs(index, tmp_path, monkeypatch):
    code = doc_blocks()[index]
    for word, packages in NEEDS.items():
        if re.search(rf"\b{word}\b", code):
            for package in packages:
                pytest.importorskip(package)
    monkeypatch.chdir(tmp_path)  # the snippets write logs/, hf_out/, runs/, mlflow.db
    namespace: dict = {"__name__": "__docs__"}
    exec(compile(code, f"{DOC}:block{index}", "exec"), namespace)
    if index in (0, 2):  # the framework stepped the scheduler once per evaluation
        scheduler = (
            namespace.get("scheduler")
            or namespace["model"].trainer.lr_scheduler_configs[0].scheduler
        )
        assert scheduler.policy.steps == 3
    elif index == 1:
        assert len(namespace["callback"].history) == 3
    elif index == 3:
        logged = [e for e in namespace["trainer"].state.log_history if "uncertainty_lr/lr" in e]
        assert len(logged) == 3
    elif index == 4:
        assert len(namespace["history"].history["lr"]) == 3
    else:
        assert (tmp_path / "runs" / "mnist_cnn-uncertainty-s0").is_dir()
        assert (tmp_path / "mlflow.db").is_file()

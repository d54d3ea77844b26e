"""The core package imports no framework; a missing framework names the extra to install."""

from __future__ import annotations

import json
import subprocess
import sys

# Runs in a fresh interpreter, so no framework is imported yet.
SCRIPT = r"""
import importlib.abc, json, sys

BLOCKED = ("lightning", "pytorch_lightning", "transformers", "keras", "mlflow", "tensorboard")

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

# 1) Importing the core and the integrations package loads no framework.
import uncertainty_lr, uncertainty_lr.integrations, uncertainty_lr.integrations.tracking
import uncertainty_lr.schedulers.uncertainty, uncertainty_lr.signals
from uncertainty_lr.integrations import make_loggers
assert make_loggers() == []
loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
# 2) With the frameworks unimportable, each integration says which extra to install.
sys.meta_path.insert(0, Block())
errors = {}
for name in ("UncertaintyLRCallback", "UncertaintyLRTrainerCallback", "UncertaintyLRKerasCallback"):
    try:
        getattr(uncertainty_lr.integrations, name)
    except ImportError as error:
        errors[name] = str(error)
for name, arg in (("TensorBoardLogger", "/tmp/unused"), ("MLflowLogger", "sqlite:///unused.db")):
    try:
        getattr(uncertainty_lr.integrations, name)(arg)
    except ImportError as error:
        errors[name] = str(error)
print(json.dumps({"loaded": loaded, "errors": errors}))
"""


def test_core_imports_no_framework_and_errors_name_the_extra():
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["loaded"] == []
    extras = {
        "UncertaintyLRCallback": "lightning",
        "UncertaintyLRTrainerCallback": "hf",
        "UncertaintyLRKerasCallback": "keras",
        "TensorBoardLogger": "tracking",
        "MLflowLogger": "tracking",
    }
    assert set(result["errors"]) == set(extras)
    for name, extra in extras.items():
        assert f"pip install 'uncertainty-lr[{extra}]'" in result["errors"][name]
        assert result["errors"][name].startswith(name)

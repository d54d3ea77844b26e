"""Untrusted files: a poisoned checkpoint or cache never runs code; reports escape names.

The payload is a pickled object whose ``__reduce__`` calls ``exec`` on code that prints
"pwned" and creates a marker file. A positive control shows the payload is live (plain
unpickling runs it); every loader of the package must refuse it instead.
"""

from __future__ import annotations

import ast
import builtins
import re
from pathlib import Path

import torch

import uncertainty_lr
from uncertainty_lr.data.cache import load_payload
from uncertainty_lr.experiments.checkpoint import load_checkpoint
from uncertainty_lr.experiments.store import Store
from uncertainty_lr.faults import FAULT_ENV
from uncertainty_lr.report import write_report

SRC = Path(uncertainty_lr.__file__).parent
XSS = "<script>alert(1)</script>"


class Payload:
    """Unpickling this runs ``code`` (the classic pickle remote-code-execution trick)."""

    def __init__(self, code: str) -> None:
        self.code = code

    def __reduce__(self):
        return (builtins.exec, (self.code,))


def poison(path: Path, marker: Path, meta: dict | None = None) -> None:
    """A checkpoint-shaped dict at ``path`` whose "model" entry is the payload."""
    code = f"import pathlib; pathlib.Path({str(marker)!r}).touch(); print('pwned')"
    torch.save({"meta": meta or {}, "epoch": 1, "model": Payload(code)}, path)


def test_poisoned_checkpoint_is_refused_on_resume_and_never_runs(tmp_path, helpers) -> None:
    out, marker = tmp_path / "out", tmp_path / "PWNED"
    sweep = ("run", "--problem", "digits_mlp", "--schedule", "constant", "--seeds", "0",
             "--epochs", "3", "--train-size", "300", "--batch-size", "32", "--threads", "1",
             "--quiet", "--no-report", "--out", out)  # fmt: skip
    # Killed in epoch 2 (9 batches an epoch): epoch 1's checkpoint is on disk, run 'running'.
    killed = helpers.cli(*sweep, cwd=tmp_path, env={FAULT_ENV: "epoch:12"})
    assert killed.returncode == -9, killed.stderr
    (ckpt,) = (out / "checkpoints").glob("*.pt")
    poison(ckpt, marker, meta={"problem": "digits_mlp", "schedule": "constant"})

    resumed = helpers.cli(*sweep, cwd=tmp_path)
    assert not marker.exists() and "pwned" not in resumed.stdout + resumed.stderr
    message = f"checkpoint {ckpt} is not a plain tensor/number checkpoint (refused by weights_only loading): Unsupported global"  # fmt: skip
    assert message in resumed.stderr and "exec" in resumed.stderr, resumed.stderr
    assert "Traceback" not in resumed.stderr
    assert resumed.returncode == 1 and resumed.stderr.endswith(
        "uncertainty-lr: 1 of 1 runs failed (their errors are above); rerun the same command "
        "to retry them\n"
    )
    with Store(out, create=False) as store:
        (run,) = store.runs()
    assert run["status"] == "failed" and message in run["error"], run
    assert run["epochs_done"] == 1  # epoch 1 is still there for when the file is replaced

    # Positive control: the same file unpickled the unsafe way does run the payload.
    torch.load(ckpt, weights_only=False)
    assert marker.exists()


def test_load_checkpoint_refuses_the_payload_directly(tmp_path, capfd) -> None:
    path, marker = tmp_path / "evil.pt", tmp_path / "PWNED"
    poison(path, marker)
    try:
        load_checkpoint(path)
    except ValueError as error:
        text = str(error)
    else:
        raise AssertionError("a pickled payload was loaded")
    assert "\n" not in text and "refused by weights_only loading" in text and str(path) in text
    assert not marker.exists() and "pwned" not in capfd.readouterr().out


def test_poisoned_data_cache_is_a_miss_not_an_execution(tmp_path, capfd) -> None:
    path, marker = tmp_path / "cache.pt", tmp_path / "PWNED"
    poison(path, marker)
    assert load_payload(path) is None  # refused, so the caller decodes the data again
    assert not marker.exists() and "pwned" not in capfd.readouterr().out


def _calls(tree: ast.AST, attr: str):
    for node in ast.walk(tree):
        call = isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        if call and node.func.attr == attr:
            yield node


def test_every_torch_load_in_src_passes_weights_only_true() -> None:
    loads, unsafe = [], []
    for path in sorted(SRC.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source, filename=str(path))
        where = str(path.relative_to(SRC))
        for call in _calls(tree, "load"):
            base = call.func.value
            if isinstance(base, ast.Name) and base.id == "torch":
                loads.append(where)
                flags = {k.arg: k.value for k in call.keywords}
                safe = isinstance(flags.get("weights_only"), ast.Constant)
                if not (safe and flags["weights_only"].value is True):
                    unsafe.append(f"{where}:{call.lineno}")
        # Other ways to unpickle untrusted bytes, or to run a model repo's own code.
        for name in ("loads", "load", "Unpickler"):
            for call in _calls(tree, name):
                base = call.func.value
                if isinstance(base, ast.Name) and base.id in ("pickle", "dill", "joblib"):
                    unsafe.append(f"{where}:{call.lineno} {base.id}.{name}")
        for found in re.finditer(r"trust_remote_code\s*=\s*True|allow_pickle\s*=\s*True", source):
            unsafe.append(f"{where}: {found.group(0)}")
    assert len(loads) >= 2, loads  # the checkpoint loader and the data cache at least
    assert unsafe == [], unsafe


def _store_with_hostile_names(out: Path) -> None:
    with Store(out) as store:
        for schedule in (XSS, "constant"):
            for seed in (0, 1):
                config = {"epochs": 2, "note": XSS}
                run_id = Store.run_id(XSS, schedule, seed, config)
                store.start_run(run_id, problem=XSS, schedule=schedule, seed=seed,
                                config=config, name=f"run {XSS}")  # fmt: skip
                for epoch in (1, 2):
                    acc = 0.5 + 0.1 * epoch + 0.01 * seed + (0.05 if schedule == XSS else 0)
                    store.log_epoch(run_id, epoch, {
                        "train_loss": 1.0 / epoch, "val_loss": 1.1 / epoch, "val_accuracy": acc,
                        "lr": 0.001, "val_entropy": 0.3 / epoch, "note": XSS,
                    })  # fmt: skip
                store.finish_run(run_id, "done", test={"accuracy": acc, "loss": 0.5})


def test_report_escapes_every_user_provided_string(tmp_path) -> None:
    out = tmp_path / "out"
    _store_with_hostile_names(out)
    report = write_report(out, uncertainty_schedule=XSS, command=f"uncertainty-lr run {XSS}")
    html = (report / "report.html").read_text(encoding="utf-8")
    md = (report / "report.md").read_text(encoding="utf-8")
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert html.count(escaped) >= 3, html[:3000]  # problem, schedule and command all shown
    assert "<script" not in html.lower()
    # Markdown: raw HTML is live outside code fences, plain text inside them.
    prose = re.sub(r"```.*?```", "", md, flags=re.S)
    assert "<script" not in prose.lower() and prose.count("alert(1)") >= 3, prose[:3000]
    # The CSV tables keep the names verbatim (they are data, not markup).
    rows = (report / "final_metrics.csv").read_text(encoding="utf-8")
    assert XSS in rows

"""benchmarks/gpu_study.py end to end on the CPU at its tiny size, on the real CIFAR-10
parquet files, and its datasets-free reader against `load_data` (minutes on 2 CPU cores)."""

from __future__ import annotations

import json
import sqlite3
import sys
import tarfile
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import gpu_study  # noqa: E402
from common import cifar10_payload  # noqa: E402

from uncertainty_lr.data import load_data  # noqa: E402
from uncertainty_lr.data.load import carve  # noqa: E402

pytestmark = pytest.mark.slow


def test_the_parquet_reader_gives_the_bundle_load_data_gives(shared_datasets):
    folder = shared_datasets / "cifar10"
    ours = carve(cifar10_payload(folder), 1, 0.1, 512, 256, 256)
    theirs = load_data(folder, seed=1, train_size=512, val_size=256, test_size=256)
    assert ours.fingerprint == theirs.fingerprint
    assert torch.equal(ours.x_train, theirs.x_train) and torch.equal(ours.y_test, theirs.y_test)
    assert ours.class_names == theirs.class_names and ours.mean == theirs.mean


def test_tiny_study_runs_every_arm_on_three_paired_seeds_and_reports(shared_datasets, tmp_path, capsys):  # fmt: skip
    out = tmp_path / "out"
    argv = ["--tiny", "--data-dir", str(shared_datasets), "--out", str(out), "--minutes", "60"]
    assert gpu_study.main(argv) == 0
    printed = capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["plan.json", "report.tar.gz", "results.sqlite", "tail.sqlite"]  # fmt: skip

    plan = json.loads((out / "plan.json").read_text())
    assert plan["cuts"] == [] and plan["seeds"] == 3 and plan["budgets"] == [1, 2]
    arms, refused = gpu_study.known_arms()
    assert plan["arms"] == [a.spec for a in arms] and len(arms) >= 7
    assert all(note.split(":")[0] in printed for note in refused)  # "skipped arm ...", printed

    with sqlite3.connect(out / "results.sqlite") as db:
        rows = db.execute("SELECT schedule, seed, status, config FROM runs").fetchall()
    aware = sum(a.budget_aware for a in arms)
    assert len(rows) == 3 * (
        2 * aware + len(arms) - aware
    )  # per seed: aware x 2 budgets + free x 1
    assert {status for _, _, status, _ in rows} == {"done"}
    assert {seed for _, seed, _, _ in rows} == {0, 1, 2}
    configs = [json.loads(c) for *_, c in rows]
    assert {c["data_sizes"]["train"] for c in configs} == {256}
    free = [c for c in configs if not gpu_study.needs_budget(c["schedule"], c["schedule_options"])]
    assert free and all(c["test_every_epoch"] and c["epochs"] == 2 for c in free)

    with tarfile.open(out / "report.tar.gz") as tar:
        names = tar.getnames()
        assert "report/report.md" in names and "report/anytime_summary.csv" in names
        summary = tar.extractfile("report/anytime_summary.csv").read().decode()
    assert "cifar10_fast" in summary and "uncertainty" in summary

    with sqlite3.connect(out / "tail.sqlite") as db:
        tail = db.execute("SELECT problem, schedule, status FROM runs").fetchall()
    assert sorted(tail) == [(p, s, "done") for p in ("cifar10_resnet18", "cifar10_vgg16")
                            for s in ("onecycle", "uncertainty")]  # fmt: skip
    for line in ("probe:", "grid: 3 seeds x budgets (1, 2)", "difference to", "report:", "done in"):
        assert line in printed, line

"""benchmarks/annealed_stop.py on a real tiny store: the stop epoch a budget-free annealing
arm records, the same epoch inferred from its LRs (stores from before the flag), and the
accuracy and time the stop trades."""

from __future__ import annotations

import shutil
import sqlite3
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from uncertainty_lr.experiments.config import RunConfig
from uncertainty_lr.experiments.sweep import run_sweep

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import annealed_stop  # noqa: E402

#: On digits at lr 0.03 seeds 0 and 1 anneal within 8 epochs (at 4 and 7), seed 2 does not.
OPTIONS = {"signal": "overconfidence", "mode": "anneal", "trigger": "threshold",
           "threshold": 0.01, "patience": 1}  # fmt: skip

ARM = "uncertainty:mode=anneal,patience=1,signal=overconfidence,threshold=0.01,trigger=threshold"


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("annealed")
    base = RunConfig(problem="digits_mlp", epochs=8, lr=0.03, test_every_epoch=True)
    configs = [replace(base, schedule="uncertainty", seed=seed, schedule_options=OPTIONS)
               for seed in (0, 1, 2)] + [replace(base, schedule="cosine")]  # fmt: skip
    assert all(r.status == "done" for r in run_sweep(configs, out, progress=False))
    return out


def test_the_recorded_stop_and_what_it_trades(store):
    table = annealed_stop.stops(str(store), None)
    assert list(table) == [("digits_mlp", ARM)]  # cosine is told its budget
    entries = table[("digits_mlp", ARM)]
    stopped = [e for e in entries if e["stop"] is not None]
    assert len(entries) == 3 and 1 <= len(stopped) < 3
    for entry in entries:
        if entry["stop"] is None:
            assert entry["seconds_saved"] == 0 and entry["acc_stop"] is None
        else:
            assert (
                entry["stop"] < entry["epochs"] == 8
                and 0 < entry["seconds_saved"] < entry["seconds"]
            )
    text = annealed_stop.markdown(table)
    assert f"| digits_mlp | `{ARM}` | {len(stopped)} / 3 |" in text


def test_without_the_flag_the_stop_is_read_from_the_lrs(store, tmp_path):
    recorded = {
        e["seed"]: e["stop"] for e in annealed_stop.stops(str(store), None)[("digits_mlp", ARM)]
    }
    old = tmp_path / "old"
    shutil.copytree(store, old)
    with sqlite3.connect(old / "results.sqlite") as db:  # a store from before the flag
        db.execute("UPDATE epochs SET extra = json_remove(extra, '$.annealed')")
    assert all(row.get("annealed") is None for row in annealed_stop.StoreReader(old).epochs())
    inferred = annealed_stop.stops(str(old), None)[("digits_mlp", ARM)]
    assert {e["seed"]: e["stop"] for e in inferred} == recorded

"""RunConfig's fields drive the flags, the TOML keys, the data key and the loader arguments."""

import dataclasses

import pytest

import uncertainty_lr
from uncertainty_lr.cli import build_parser
from uncertainty_lr.experiments.config import (
    DATA_FIELDS,
    TOML_FIELDS,
    RunConfig,
    data_arguments,
    data_key,
    load_toml,
    resolve,
    run_id,
    run_key,
    schedule_label,
)
from uncertainty_lr.experiments.store import Store
from uncertainty_lr.problems import get_problem


def test_data_key_holds_the_settings_that_decide_the_data():
    assert DATA_FIELDS == ("problem", "seed", "train_size", "val_size", "test_size", "val_fraction",
                           "max_length", "vocab_size", "pretrained", "data_dir", "source",
                           "image_column", "text_column", "label_column", "train_split",
                           "val_split", "test_split", "default_sizes")  # fmt: skip
    a = resolve(RunConfig(problem="digits_mlp", seed=1))
    assert data_key(a) == data_key(dataclasses.replace(a, schedule="cosine", lr=0.1))
    assert data_key(a) != data_key(dataclasses.replace(a, train_size=100))
    assert data_key(a)[:2] == ("digits_mlp", 1)


def test_data_arguments_are_the_loader_keywords():
    cfg = resolve(RunConfig(problem="mnist_cnn", seed=3, val_size=50, label_column="y"))
    args = data_arguments(cfg)
    assert args["seed"] == 3 and args["label_column"] == "y" and args["val_size"] == 50
    assert args["max_train_size"] == 10000 and "train_size" not in args  # a default is a bound
    assert args["max_length"] == 256 and args["tokenizer"] is None
    bert = resolve(RunConfig(problem="imdb_bert", pretrained="bert-base-uncased", max_length=64))
    assert data_arguments(bert)["tokenizer"] == "bert-base-uncased"
    assert data_arguments(bert)["max_length"] == 64
    import inspect

    from uncertainty_lr.data import DataSettings

    assert set(args) <= set(inspect.signature(DataSettings).parameters)


def test_every_flag_field_is_a_flag_of_run_and_tune():
    parser = build_parser()
    for command in ("run", "tune"):
        args = parser.parse_args([command, "--epochs", "2", "--bf16", "--signals", "mc_variance",
                                  "--label-column", "y", "--optimizer", "sgd"])  # fmt: skip
        assert (args.epochs, args.bf16, args.signals, args.label_column, args.optimizer) == (
            2, True, ["mc_variance"], "y", "sgd")  # fmt: skip
        for f in dataclasses.fields(RunConfig):
            if f.metadata["flag"] is not None:
                assert hasattr(args, f.name), f.name
    with pytest.raises(ValueError, match="invalid choice"):
        parser.parse_args(["run", "--optimizer", "lamb"])


def test_toml_keys_follow_the_fields(tmp_path):
    assert "lr" in TOML_FIELDS and "seed" not in TOML_FIELDS and "lr_source" not in TOML_FIELDS
    path = tmp_path / "c.toml"
    path.write_text("lr = 0.1\nlabel_column = 'y'\n")
    assert load_toml(path) == {"lr": 0.1, "label_column": "y"}
    path.write_text("lr_source = 'tuned'\n")
    with pytest.raises(ValueError, match="unknown key"):
        load_toml(path)


def test_run_id_is_the_stores_hash_of_the_run_key():
    cfg = resolve(RunConfig(schedule="cosine", seed=2))
    assert run_id(cfg) == Store.run_id(cfg.problem, cfg.schedule, 2, run_key(cfg))
    assert run_id(cfg) != run_id(dataclasses.replace(cfg, seed=3))
    assert run_id(cfg) == run_id(dataclasses.replace(cfg, device="cpu", data_dir="/elsewhere"))


def test_run_key_holds_the_resolved_options_so_a_default_named_is_the_same_run():
    bare = resolve(RunConfig(schedule="step"))
    named = resolve(RunConfig(schedule="step", schedule_options={"gamma": 0.1}))
    assert schedule_label(bare) != schedule_label(named)
    assert run_key(bare)["schedule_options"] == {"step_epochs": None, "gamma": 0.1}
    assert run_id(bare) == run_id(named)
    other = resolve(RunConfig(schedule="step", schedule_options={"gamma": 0.5}))
    assert run_id(other) != run_id(bare)


def _with_default(monkeypatch, schedule: str, option: str, value) -> None:
    """Change the registry's default of one schedule option, as a later version might."""
    from uncertainty_lr.schedulers.registry import SCHEDULES

    spec = SCHEDULES[schedule]
    changed = dataclasses.replace(spec.options[option], default=value)
    options = {**spec.options, option: changed}
    monkeypatch.setitem(SCHEDULES, schedule, dataclasses.replace(spec, options=options))


def test_a_changed_default_changes_the_run_id(monkeypatch):
    # schedule_free's warmup changed default once; the old and new runs shared an id
    before = run_id(resolve(RunConfig(schedule="schedule_free")))
    _with_default(monkeypatch, "schedule_free", "warmup_epochs", 0.5)
    assert run_id(resolve(RunConfig(schedule="schedule_free"))) != before


def test_a_changed_default_reruns_the_arm_in_a_store(tmp_path, monkeypatch):
    from uncertainty_lr.experiments.run import train

    config = RunConfig(schedule="step", epochs=2, train_size=200, val_size=50, test_size=50)
    with Store(tmp_path) as store:
        first = train(config=config, store=store)
        assert train(config=config, store=store).skipped  # finished: not trained again
        _with_default(monkeypatch, "step", "gamma", 0.5)
        second = train(config=config, store=store)
        assert not second.skipped and second.run_id != first.run_id and len(store.runs()) == 2
        (row,) = [r for r in store.runs() if r["run_id"] == second.run_id]
        assert row["config"]["resolved_schedule_options"] == {"step_epochs": None, "gamma": 0.5}
        assert row["version"] == uncertainty_lr.__version__
        assert row["config"]["num_classes"] == 10 == get_problem("digits_mlp").classes


def test_validating_configs_loads_no_torch():
    # Schedule options, MC-dropout signals and grids are all checked from tables.
    code = """
import sys
from uncertainty_lr.experiments.config import RunConfig, resolve
from uncertainty_lr.experiments.grid import expand_grid
expand_grid(["imdb_transformer", "mnist_cnn"], ["uncertainty:mode=band,signal=entropy", "onecycle"],
            [0, 1], RunConfig(signals=("mc_variance",)))
for bad in (RunConfig(problem="mnist_cnn", dropout=0.0, signals=("mc_variance",)),
            RunConfig(schedule="step", schedule_options={"gamma": -1})):
    try:
        resolve(bad)
    except ValueError:
        pass
    else:
        raise SystemExit("accepted a bad config")
print("torch" in sys.modules)
"""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

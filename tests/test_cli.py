"""The uncertainty-lr command: a real tiny run, list, export, and bad input -> exit 2, nothing written."""

import csv
import dataclasses
import gc
import subprocess
import sys

import pytest

from uncertainty_lr.cli import _grid_from_args, build_parser, entry, main
from uncertainty_lr.experiments.store import Store


def run_cli(*args):
    return main([str(a) for a in args])


def test_run_writes_store_and_resumes_nothing_twice(tmp_path, capsys):
    out = tmp_path / "out"
    args = ["run", "--problem", "digits_mlp", "--schedule", "constant", "uncertainty:mode=band",
            "--seeds", "0", "1", "--epochs", "2", "--out", out, "--quiet", "--no-report"]  # fmt: skip
    assert run_cli(*args) == 0
    table = capsys.readouterr().out
    assert "uncertainty:mode=band" in table and "2 done" in table
    store = Store(out, create=False)
    assert len(store.runs()) == 4 and len(store.epochs()) == 8
    assert {r["schedule"] for r in store.runs()} == {"constant", "uncertainty:mode=band"}
    assert run_cli(*args) == 0  # everything finished: skipped, nothing duplicated
    assert len(store.runs()) == 4 and len(store.epochs()) == 8


def test_toml_config_and_flag_override(tmp_path):
    conf = tmp_path / "c.toml"
    conf.write_text('problems = ["digits_mlp"]\nschedules = ["cosine"]\nseeds = [3]\nepochs = 5\n'
                    'batch_size = 128\n')  # fmt: skip
    out = tmp_path / "out"
    assert (
        run_cli("run", "--config", conf, "--epochs", "1", "--out", out, "--quiet", "--no-report")
        == 0
    )
    (run,) = Store(out, create=False).runs()
    assert run["seed"] == 3 and run["config"]["epochs"] == 1 and run["config"]["batch_size"] == 128


def test_list_names_everything(capsys):
    assert run_cli("list") == 0
    text = capsys.readouterr().out
    for name in (
        "mnist_cnn",
        "imdb_bert",
        "schedule_free",
        "greedy",
        "ll_mutual_information",
        "la_entropy",
        "la_mutual_information",
        "train_entropy",
        "overconfidence",
        "calibration_gap",
    ):
        assert name in text


def test_list_names_every_signal_the_harness_accepts(capsys):
    from uncertainty_lr.experiments.config import RunConfig, resolve
    from uncertainty_lr.schedulers.registry import SCHEDULES

    assert run_cli("list") == 0
    section = capsys.readouterr().out.split("\nsignals (")[1].splitlines()[1:]
    listed = {line.split()[0] for line in section}
    schedule = set(SCHEDULES["uncertainty"].options["signal"].choices)  # signal=...
    flags = set()  # --signals: every name validation takes
    for name in listed | schedule:
        try:
            resolve(RunConfig(signals=(name,)))
            flags.add(name)
        except ValueError:
            pass
    assert schedule | flags == listed
    assert {"overconfidence", "calibration_gap"} <= flags


def test_export_writes_csv(tmp_path):
    out = tmp_path / "out"
    run_cli(
        "run", "--schedule", "constant", "--epochs", "1", "--out", out, "--quiet", "--no-report"
    )
    assert run_cli("export", out) == 0
    assert (out / "runs.csv").read_text().count("\n") == 2
    with (out / "runs.csv").open(newline="") as handle:
        (row,) = csv.DictReader(handle)
    assert (row["stopped_epoch"], row["tested_epoch"]) == ("1", "1")


def test_early_stopping_has_help_and_is_in_the_study_preset(capsys):
    with pytest.raises(SystemExit) as done:
        run_cli("run", "--help")
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "--early-stopping N stop a run after N epochs without a lower val_loss" in text
    assert "restore_best_weights=True" in text and "--preset study: 5" in text
    parse = build_parser().parse_args
    assert _grid_from_args(parse(["run"]))[3].early_stopping == 0
    assert _grid_from_args(parse(["run", "--preset", "study"]))[3].early_stopping == 5
    off = parse(["run", "--preset", "study", "--early-stopping", "0"])
    assert _grid_from_args(off)[3].early_stopping == 0


def test_study_preset_takes_all_data_unless_a_size_is_set():
    from uncertainty_lr.experiments.config import data_arguments, resolve

    parse = build_parser().parse_args

    def resolved(*argv):  # as the sweep resolves each grid point
        problems, _, _, base, _ = _grid_from_args(parse(["run", "--problem", "imdb_lstm", *argv]))
        return resolve(dataclasses.replace(base, problem=problems[0]))

    plain = data_arguments(resolved())  # the problem's CPU-sized bounds
    assert (plain["max_train_size"], plain["max_test_size"]) == (10_000, 5_000)
    study = data_arguments(resolved("--preset", "study"))  # no bound: whole splits
    assert (study["max_train_size"], study["max_val_size"], study["max_test_size"]) == (None,) * 3
    assert resolve(resolved("--preset", "study")).train_size is None  # stays all on a re-resolve
    sized = data_arguments(resolved("--preset", "study", "--train-size", "500"))
    assert sized["train_size"] == 500 and sized["max_test_size"] is None  # set sizes must fit


def test_python_dash_m_works():
    r = subprocess.run(
        [sys.executable, "-m", "uncertainty_lr", "list"], capture_output=True, text=True
    )
    assert r.returncode == 0 and "digits_mlp" in r.stdout


def _not_a_folder(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    return f / "sub"


BAD = [
    (["--problem", "mnist_rnn"], "unknown problem 'mnist_rnn'; known: digits_mlp"),
    (["--schedule", "cosin"], "unknown schedule 'cosin'; known: constant"),
    (["--epochs", "0"], "epochs must be a positive integer, got 0"),
    (["--lr", "-1"], "lr must be a positive number, got -1.0"),
    (["--batch-size", "0"], "batch_size must be a positive integer, got 0"),
    (["--opt", "threshold=1.5"], "threshold must be a number in (0, 1), got 1.5"),
    (["--schedule", "uncertainty:signal=vibes"], "signal must be one of confidence"),
    (["--schedule", "step:gama=2"], "unknown option(s) gama for schedule 'step'"),
    (
        ["--problem", "mnist_cnn", "--data-dir", "/nonexistent/data"],
        "data folder not found: /nonexistent/data/mnist",
    ),
    (["--epochs", "three"], "argument --epochs: invalid int value: 'three'"),
    (["--dropout", "1.0"], "dropout must be a number in [0, 1), got 1.0"),
    (["--signals", "mc_vibes"], "unknown signal 'mc_vibes'"),
    (["--seeds", "-1"], "seed must be a non-negative integer, got -1"),
    (
        ["--schedule", "uncertainty:signal=mc_variance", "--dropout", "0"],
        "signal 'mc_variance' needs dropout > 0: model 'mlp' has no other dropout",
    ),
    (["--signals", "ll_entropy", "--dropout", "0"], "signal 'll_entropy' needs dropout > 0"),
]


@pytest.mark.parametrize("extra, message", BAD)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys, extra, message):
    out = tmp_path / "out"
    assert run_cli("run", "--out", out, "--quiet", "--no-report", *extra) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert not out.exists()


def test_unwritable_output_folder(tmp_path, capsys):
    out = _not_a_folder(tmp_path)
    assert run_cli("run", "--out", out, "--quiet", "--no-report", "--epochs", "1") == 2
    assert "not a folder" in capsys.readouterr().err


def test_corrupt_data_folder(tmp_path, capsys):
    folder = tmp_path / "data" / "mnist"
    folder.mkdir(parents=True)
    (folder / "train-00000-of-00001.parquet").write_bytes(b"not parquet at all")
    out = tmp_path / "out"
    code = run_cli(
        "run", "--problem", "mnist_cnn", "--data-dir", tmp_path / "data", "--out", out, "--quiet"
    )
    assert code == 2
    assert str(folder) in capsys.readouterr().err and not out.exists()


def test_missing_config_file_and_unknown_key(tmp_path, capsys):
    assert run_cli("run", "--config", tmp_path / "nope.toml") == 2
    bad = tmp_path / "bad.toml"
    bad.write_text("epochz = 3\n")
    assert run_cli("run", "--config", bad) == 2
    err = capsys.readouterr().err
    assert "config file not found" in err and "unknown key(s) in" in err and "epochz" in err


def test_entry_is_main_for_the_command(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["uncertainty-lr", "run", "--epochs", "0"])
    try:
        assert entry() == 2
    finally:
        gc.unfreeze()  # entry freezes the collector's objects before the command exits
    assert "epochs" in capsys.readouterr().err


def _small_text_folder(root):
    """A hub-layout text folder far below imdb_lstm's default sizes: 40 train, 12 test rows."""
    import datasets

    features = datasets.Features(
        {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["neg", "pos"])}
    )
    words = (["an awful dull film", "boring and awful"], ["a wonderful film", "great fun"])
    (root / "data").mkdir(parents=True)
    for split, n in (("train", 40), ("test", 12)):
        labels = [i % 2 for i in range(n)]
        rows = {"text": [words[y][i % 2] for i, y in enumerate(labels)], "label": labels}
        datasets.Dataset.from_dict(rows, features=features).to_parquet(
            root / "data" / f"{split}-00000-of-00001.parquet"
        )
    return root


def test_default_sizes_are_upper_bounds_explicit_sizes_must_fit(tmp_path, monkeypatch, capsys):
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("UNCERTAINTY_LR_CACHE", str(tmp_path / "cache"))
    folder = _small_text_folder(tmp_path / "reviews")
    out = tmp_path / "out"
    args = ["run", "--problem", "imdb_lstm", "--source", folder, "--schedule", "constant",
            "--epochs", "1", "--max-length", "8", "--vocab-size", "40", "--quiet", "--no-report"]  # fmt: skip
    # imdb_lstm defaults to at most 10,000 train and 5,000 test rows; this folder has fewer.
    assert run_cli(*args, "--out", out) == 0
    (run,) = Store(out, create=False).runs()
    assert run["status"] == "done"
    assert run["config"]["data_sizes"] == {"train": 36, "val": 4, "test": 12}  # what was used
    assert (run["config"]["train_size"], run["config"]["test_size"]) == (10_000, 5_000)
    assert run["config"]["default_sizes"] == ["train_size", "test_size"]
    # Which sizes were bounds does not enter the run id: stores written before keep theirs.
    from uncertainty_lr.experiments.config import RunConfig, resolve, run_key

    assert "default_sizes" not in run_key(resolve(RunConfig(problem="imdb_lstm")))
    capsys.readouterr()
    # A size the user sets must fit: one line, exit 2, nothing written.
    for flag, value, available, role in (("--test-size", 5000, 12, "test"),
                                         ("--train-size", 37, 36, "train"),
                                         ("--val-size", 5, 4, "val")):  # fmt: skip
        fresh = tmp_path / f"out_{role}"
        assert run_cli(*args, flag, value, "--out", fresh) == 2
        err = capsys.readouterr().err
        message = f"{role}_size must be an integer in [1, {available}] (rows available in {role}), got {value}"
        assert err.count("\n") == 1 and message in err, err
        assert not fresh.exists()


def test_list_says_default_sizes_are_upper_bounds(capsys):
    assert run_cli("list") == 0
    text = capsys.readouterr().out
    assert "default sizes are upper bounds" in text
    assert "imdb_lstm" in text and "train at most 10,000, test at most 5,000" in text

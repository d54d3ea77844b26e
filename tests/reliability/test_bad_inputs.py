"""The bad-input matrix: CLI flags, TOML files and the library API, each refused in one line.

CLI and TOML cases run against an existing results folder (a real finished sweep with its
report) and must exit 2 with exactly one stderr line naming the value and what is
allowed, and leave every file of that folder byte-identical (sha256 before and after).
Library cases must raise ValueError with a one-line message.
"""

from __future__ import annotations

from pathlib import Path

import datasets
import numpy as np
import pytest
import torch
from PIL import Image

from uncertainty_lr import UncertaintyLR, UncertaintyPolicy
from uncertainty_lr.cli import main
from uncertainty_lr.data import load_data
from uncertainty_lr.experiments.checkpoint import load_checkpoint, save_checkpoint
from uncertainty_lr.experiments.config import RunConfig, resolve
from uncertainty_lr.experiments.schedules import make_schedule
from uncertainty_lr.experiments.store import Store
from uncertainty_lr.signals import BatchSignalTracker, entropy, expected_calibration_error
from uncertainty_lr.signals.estimate import estimate_signal

pytestmark = pytest.mark.usefixtures("isolated_caches")

# (id, arguments after `run`, a fragment of the error line). {name} is a path from `paths`.
CLI_CASES = [
    ("unknown problem", ["--problem", "mnist_rnn"], "unknown problem 'mnist_rnn'; known: digits_mlp"),
    ("unknown schedule", ["--schedule", "cosin"], "unknown schedule 'cosin'; known: constant"),
    ("epochs not a number", ["--epochs", "ten"], "argument --epochs: invalid int value: 'ten'"),
    ("epochs zero", ["--epochs", "0"], "epochs must be a positive integer, got 0"),
    ("lr negative", ["--lr", "-1"], "lr must be a positive number, got -1.0"),
    ("lr nan", ["--lr", "nan"], "lr must be a positive number, got nan"),
    ("dropout 1.5", ["--dropout", "1.5"], "dropout must be a number in [0, 1), got 1.5"),
    ("val fraction 1", ["--val-fraction", "1"], "val_fraction must be a number in (0, 1), got 1.0"),
    ("weight decay < 0", ["--weight-decay", "-0.1"], "weight_decay must be a non-negative number, got -0.1"),
    ("unknown optimizer", ["--optimizer", "rmsprop"], "invalid choice: 'rmsprop' (choose from 'adam', 'adamw', 'sgd')"),
    ("unknown device", ["--device", "tpu"], "device must be one of auto, cpu, cuda, mps; got 'tpu'"),
    ("negative seed", ["--seeds", "-1"], "seed must be a non-negative integer, got -1"),
    ("threads 0", ["--threads", "0"], "--threads must be a positive integer, got 0"),
    ("unknown flag", ["--epochz", "3"], "unrecognized arguments: --epochz 3"),
    ("policy threshold", ["--opt", "threshold=1.5"], "threshold must be a number in (0, 1), got 1.5"),
    ("opt without =", ["--opt", "threshold"], "--opt 'threshold' must look like KEY=VALUE"),
    ("unknown signal option", ["--schedule", "uncertainty:signal=vibes"], "signal must be one of confidence"),
    ("unknown mode", ["--schedule", "uncertainty:mode=sideways"], "mode must be one of threshold, band, proportional, anneal, cycle; got 'sideways'"),
    ("min_lr > max_lr", ["--schedule", "uncertainty:min_lr=1,max_lr=0.1"], "min_lr must not exceed max_lr"),
    ("unknown option", ["--schedule", "step:gama=2"], "unknown option(s) gama for schedule 'step'; allowed: gamma, step_epochs"),
    ("negative eta_min", ["--schedule", "cosine:eta_min=-1"], "eta_min of schedule 'cosine' must be a non-negative number, got -1"),
    ("step_epochs 0", ["--schedule", "step:step_epochs=0"], "step_epochs of schedule 'step' must be a positive integer, got 0"),
    ("plateau metric", ["--schedule", "plateau:metric=val_vibes"], "metric of schedule 'plateau' must be one of val_loss"),
    ("prodigy with SGD", ["--schedule", "prodigy", "--optimizer", "sgd"], "schedule 'prodigy' replaces Adam or AdamW (adam, adamw), got optimizer 'sgd'"),
    ("wsd too long", ["--schedule", "wsd:warmup_fraction=0.5,decay_fraction=0.6"], "warmup_fraction + decay_fraction of schedule 'wsd' must be <= 1, got 0.5 + 0.6"),
    ("old schedule_free option", ["--schedule", "schedule_free:warmup_fraction=0.1"], "unknown option(s) warmup_fraction for schedule 'schedule_free'; allowed: warmup_epochs"),
    ("unknown --signals", ["--signals", "mc_vibes"], "unknown signal 'mc_vibes'"),
    ("ll signal, dropout 0", ["--schedule", "uncertainty:signal=ll_mutual_information", "--dropout", "0"], "signal 'll_mutual_information' needs dropout > 0: last-layer MC dropout samples only the head's dropout, so with dropout 0.0 every MC sample is the same"),
    ("mc --signals, dropout 0", ["--signals", "entropy", "mc_variance", "--dropout", "0"], "signal 'mc_variance' needs dropout > 0: model 'mlp' has no other dropout"),
    ("missing data folder", ["--problem", "mnist_cnn", "--data-dir", "{missing}"], "data folder not found: {missing}/mnist"),
    ("string labels", ["--problem", "mnist_cnn", "--source", "{string_labels}"], "labels must be a ClassLabel or integers; column 'label' in data folder {string_labels} is Value('string')"),
    ("empty split", ["--problem", "mnist_cnn", "--source", "{empty_split}"], "split 'test' of data folder {empty_split} is empty"),
    ("corrupt parquet", ["--problem", "mnist_cnn", "--source", "{corrupt}"], "could not load data folder {corrupt}: file data/train-00000-of-00001.parquet: ArrowInvalid"),
    ("truncated parquet", ["--problem", "mnist_cnn", "--source", "{cut_parquet}"], "could not load data folder {cut_parquet}: file data/test-00000-of-00001.parquet: ArrowInvalid"),
    ("label outside the classes", ["--problem", "mnist_cnn", "--source", "{stray_label}"], "label 1000 in split 'train' of data folder {stray_label} is outside 0..2: integer labels must number the classes 0..K-1 with training rows for each, and split 'train' has none for 3"),
    ("class without training rows", ["--problem", "mnist_cnn", "--source", "{no_train_rows}"], "1 of 3 classes of data folder {no_train_rows} have no rows in the training split 'train': 2 ('c'); every class 0..2 needs training rows"),
    ("all-empty text column", ["--problem", "imdb_lstm", "--source", "{empty_text}"], "text column 'text' of split 'train' of data folder {empty_text} is empty in all 12 rows"),
    ("unknown column", ["--problem", "mnist_cnn", "--source", "{good}", "--image-column", "pic"], "image_column 'pic' not found in data folder {good}; columns: image (image), label (classlabel)"),
    ("unknown split", ["--problem", "mnist_cnn", "--source", "{good}", "--train-split", "learn"], "train_split 'learn' not found in data folder {good}; available splits: train, test"),
    ("missing config file", ["--config", "{missing}/c.toml"], "config file not found: {missing}/c.toml"),
    ("output is a file", ["--out", "{a_file}/sub"], "output folder {a_file}/sub cannot be created: {a_file} is not a folder"),
]  # fmt: skip

# (id, TOML text, fragment): passed as `run --config FILE`.
TOML_CASES = [
    ("epochs a string", 'epochs = "ten"', "epochs must be a positive integer, got 'ten'"),
    ("epochs a float", "epochs = 3.0", "epochs must be a positive integer, got 3.0"),
    ("lr negative", "lr = -0.5", "lr must be a positive number, got -0.5"),
    ("unknown key", "epochz = 3", "unknown key(s) in {config}: epochz; allowed: batch_size"),
    ("invalid TOML", "epochs = ", "config file {config} is not valid TOML: Invalid value (at line 1"),
    ("not UTF-8", b"epochs = \xff\xfe", "config file {config} is not valid TOML"),
    ("unknown schedule", 'schedules = ["cosine", "warp"]', "unknown schedule 'warp'; known: constant"),
    ("seeds not a list", "seeds = 3", "seeds in {config} must be a non-empty list of integers, got 3"),
    ("seed a string", 'seeds = [0, "one"]', "seeds in {config} must be a non-empty list of integers, got [0, 'one']"),
    ("problems a string", 'problems = "digits_mlp"', "problems in {config} must be a non-empty list of names, got 'digits_mlp'"),
    ("no schedules", "schedules = []", "schedules in {config} must be a non-empty list of names, got []"),
    ("options not a table", "schedule_options = 5", "schedule_options in {config} must be a table of options, got 5"),
    ("signals a string", 'signals = "entropy"', "signals in {config} must be a list of signal names, got 'entropy'"),
    ("bool a string", 'test_every_epoch = "no"', "test_every_epoch must be true or false, got 'no'"),
    ("path a number", "data_dir = 5", "data_dir must be a string, got 5"),
    ("out a number", "out = 5", "out in {config} must be a folder path (a string), got 5"),
    ("option out of range", "[schedule_options]\nthreshold = 2.0", "threshold must be a number in (0, 1), got 2.0"),
    ("mc signal, dropout 0", 'dropout = 0\n[schedule_options]\nsignal = "mc_mutual_information"', "signal 'mc_mutual_information' needs dropout > 0: model 'mlp' has no other dropout, so with dropout 0 every"),
]  # fmt: skip

# Other subcommands, against the existing folder or a missing one.
OTHER_CASES = [
    ("report target > 1", ["report", "{existing}", "--target", "2"], "target must be a validation accuracy in (0, 1]"),
    ("report missing store", ["report", "{missing}"], "no results store in {missing}"),
    ("export missing store", ["export", "{missing}"], "no results store in {missing}"),
    ("unknown command", ["frobnicate"], "argument command: invalid choice: 'frobnicate'"),
]  # fmt: skip


def _opt() -> torch.optim.Optimizer:
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)


# (id, call(paths), fragment): each must raise a one-line ValueError.
LIBRARY_CASES = [
    ("UncertaintyLR threshold", lambda p: UncertaintyLR(_opt(), threshold=1.5), "threshold must be a number in (0, 1), got 1.5"),
    ("UncertaintyLR option", lambda p: UncertaintyLR(_opt(), threshhold=0.1), "unknown option(s) threshhold for UncertaintyLR; allowed: band_width"),
    ("UncertaintyLR mode", lambda p: UncertaintyLR(_opt(), mode="sideways"), "mode must be one of threshold, band, proportional, anneal, cycle; got 'sideways'"),
    ("signal NaN", lambda p: UncertaintyLR(_opt()).step(float("nan")), "uncertainty must be a finite number in [0, 1], got nan"),
    ("signal 1.5", lambda p: UncertaintyLR(_opt()).step(1.5), "uncertainty must be a finite number in [0, 1], got 1.5"),
    ("signal vector", lambda p: UncertaintyLR(_opt()).step(torch.tensor([0.1, 0.2])), "uncertainty must be a scalar, got a tensor of shape (2,)"),
    ("policy no lrs", lambda p: UncertaintyPolicy([]), "base_lrs must hold at least one learning rate, got none"),
    ("policy lr < 0", lambda p: UncertaintyPolicy([-0.1]), "learning rate must be a positive number, got -0.1"),
    ("policy step_size", lambda p: UncertaintyPolicy([0.1], step_size=0), "step_size must be a number in (0, 1), got 0"),
    ("policy max_lr groups", lambda p: UncertaintyPolicy([0.1], max_lr=[1.0, 2.0]), "max_lr must be one number or a list of 1 (one per group), got 2"),
    ("policy reference", lambda p: UncertaintyPolicy([0.1], reference="median"), "reference must be one of absolute, initial, running_min; got 'median'"),
    ("make_schedule name", lambda p: make_schedule("warp", _opt(), epochs=3, steps_per_epoch=1), "unknown schedule 'warp'; known: constant"),
    ("make_schedule epochs", lambda p: make_schedule("cosine", _opt(), epochs=0, steps_per_epoch=1), "epochs must be a positive integer, got 0"),
    ("make_schedule option", lambda p: make_schedule("cosine", _opt(), epochs=3, steps_per_epoch=1, gama=2), "unknown option(s) gama for schedule 'cosine'; allowed: eta_min"),
    ("make_schedule gamma", lambda p: make_schedule("step", _opt(), epochs=3, steps_per_epoch=1, gamma=-1), "gamma of schedule 'step' must be a number in (0, 1], got -1"),
    ("entropy of NaN probs", lambda p: entropy(torch.tensor([[0.5, float("nan")]])), "probs must be finite, got a NaN or infinite value"),
    ("tracker NaN logits", lambda p: BatchSignalTracker("entropy").update(torch.tensor([[float("nan"), 1.0]])), "logits must be finite"),
    ("ECE NaN probs", lambda p: expected_calibration_error(torch.tensor([[0.5, float("nan")]]), torch.tensor([0])), "probs must be finite"),
    ("load_data missing", lambda p: load_data(p["missing"]), "data folder not found: {missing}"),
    ("load_data corrupt", lambda p: load_data(p["corrupt"], cache_dir=p["cache"]), "could not load data folder {corrupt}: file data/train-00000-of-00001.parquet: ArrowInvalid"),
    ("load_data string labels", lambda p: load_data(p["string_labels"], cache_dir=p["cache"]), "labels must be a ClassLabel or integers; column 'label'"),
    ("load_data empty split", lambda p: load_data(p["empty_split"], cache_dir=p["cache"]), "split 'test' of data folder {empty_split} is empty"),
    ("load_data label outside", lambda p: load_data(p["stray_label"], cache_dir=p["cache"]), "label 1000 in split 'train' of data folder {stray_label} is outside 0..2"),
    ("load_data class without rows", lambda p: load_data(p["no_train_rows"], cache_dir=p["cache"]), "have no rows in the training split 'train': 2 ('c')"),
    ("load_data empty text", lambda p: load_data(p["empty_text"], cache_dir=p["cache"]), "text column 'text' of split 'train' of data folder {empty_text} is empty in all 12 rows"),
    ("load_data val_fraction", lambda p: load_data("digits", val_fraction=1.5), "val_fraction must be a number in (0, 1), got 1.5"),
    ("checkpoint of another problem", lambda p: load_checkpoint(p["checkpoint"], expected={"problem": "mnist_cnn"}), "checkpoint {checkpoint} is for problem digits_mlp, not mnist_cnn"),
    ("checkpoint truncated", lambda p: load_checkpoint(p["truncated"]), "checkpoint {truncated} is truncated, corrupt or not a torch checkpoint"),
    ("checkpoint of numpy", lambda p: save_checkpoint(p["missing"] / "x.pt", {"x": np.zeros(2)}), "checkpoint state['x'] is a numpy.ndarray, which weights_only loading refuses"),
    ("store not SQLite", lambda p: Store(p["garbage_store"], create=False), "results.sqlite is not a usable SQLite results store: file is not a database"),
    ("RunConfig epochs string", lambda p: resolve(RunConfig(epochs="ten")), "epochs must be a positive integer, got 'ten'"),
    ("RunConfig bool string", lambda p: resolve(RunConfig(bf16="yes")), "bf16 must be true or false, got 'yes'"),
    ("RunConfig options", lambda p: resolve(RunConfig(model_options="x")), "model_options must be a table of options (a dict), got 'x'"),
    ("RunConfig ll_ on transformer, dropout 0", lambda p: resolve(RunConfig(problem="imdb_transformer", dropout=0.0, signals=("ll_variance",))), "signal 'll_variance' needs dropout > 0: last-layer MC dropout"),
    ("RunConfig mc_, no encoder dropout", lambda p: resolve(RunConfig(problem="imdb_transformer", dropout=0.0, model_options={"encoder_dropout": 0.0}, signals=("mc_entropy",))), "signal 'mc_entropy' needs dropout > 0: model 'transformer' has no other dropout"),
    ("estimator, dropout 0", lambda p: estimate_signal(torch.nn.Sequential(torch.nn.Dropout(0.0), torch.nn.Linear(2, 2)), torch.zeros(3, 2), "mc_mutual_information"), "model Sequential has no dropout layer with p > 0"),
]  # fmt: skip


def _text_split(texts: list[str], labels, feature) -> datasets.Dataset:
    features = datasets.Features({"text": datasets.Value("string"), "label": feature})
    return datasets.Dataset.from_dict({"text": texts, "label": labels}, features=features)


def _image_split(n: int, labels, feature) -> datasets.Dataset:
    images = [
        Image.fromarray(np.full((8, 8), (9 * i) % 256, dtype=np.uint8), mode="L") for i in range(n)
    ]
    features = datasets.Features({"image": datasets.Image(), "label": feature})
    return datasets.Dataset.from_dict({"image": images, "label": labels}, features=features)


def _hub_folder(root: Path, splits: dict[str, datasets.Dataset]) -> Path:
    (root / "data").mkdir(parents=True)
    for name, split in splits.items():
        split.to_parquet(root / "data" / f"{name}-00000-of-00001.parquet")
    return root


@pytest.fixture(scope="module")
def paths(tmp_path_factory) -> dict[str, Path]:
    """The existing results folder and every bad file the cases point at."""
    root = tmp_path_factory.mktemp("bad_inputs")
    existing = root / "existing"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("UNCERTAINTY_LR_CACHE", str(root / "cache"))
        code = main(["run", "--problem", "digits_mlp", "--schedule", "constant", "uncertainty",
                     "--epochs", "2", "--train-size", "100", "--threads", "1", "--quiet",
                     "--out", str(existing)])  # fmt: skip
    assert code == 0 and (existing / "report" / "report.html").is_file()
    with Store(existing, create=False) as store:  # a real store with real runs to protect
        assert [r["status"] for r in store.runs()] == ["done", "done"]
    names = datasets.ClassLabel(names=["a", "b", "c"])
    text = datasets.Value("string")
    p = {"existing": existing, "missing": root / "missing", "cache": root / "cache"}
    p["string_labels"] = _hub_folder(root / "string_labels", {
        "train": _image_split(12, ["a", "b", "c"] * 4, text),
        "test": _image_split(6, ["a", "b", "c"] * 2, text),
    })  # fmt: skip
    p["empty_split"] = _hub_folder(root / "empty_split", {
        "train": _image_split(12, [0, 1, 2] * 4, names),
        "test": _image_split(3, [0, 1, 2], names).select([]),
    })  # fmt: skip
    p["good"] = _hub_folder(root / "good", {
        "train": _image_split(30, [0, 1, 2] * 10, names),
        "test": _image_split(9, [0, 1, 2] * 3, names),
    })  # fmt: skip
    integers = datasets.Value("int64")
    p["stray_label"] = _hub_folder(root / "stray_label", {  # one 1000 among three classes
        "train": _image_split(12, [0, 1, 2] * 3 + [0, 1000, 2], integers),
        "test": _image_split(6, [0, 1, 2] * 2, integers),
    })  # fmt: skip
    p["no_train_rows"] = _hub_folder(root / "no_train_rows", {  # class "c" only in test
        "train": _image_split(12, [0, 1] * 6, names),
        "test": _image_split(6, [0, 1, 2] * 2, names),
    })  # fmt: skip
    sentiment = datasets.ClassLabel(names=["neg", "pos"])
    p["empty_text"] = _hub_folder(root / "empty_text", {
        "train": _text_split([""] * 12, [0, 1] * 6, sentiment),
        "test": _text_split(["good film", "bad film"] * 2, [1, 0] * 2, sentiment),
    })  # fmt: skip
    p["cut_parquet"] = _hub_folder(root / "cut_parquet", {
        "train": _image_split(12, [0, 1, 2] * 4, names),
        "test": _image_split(6, [0, 1, 2] * 2, names),
    })  # fmt: skip
    test_file = p["cut_parquet"] / "data" / "test-00000-of-00001.parquet"
    test_file.write_bytes(test_file.read_bytes()[:-200])  # a copy cut short
    p["corrupt"] = root / "corrupt"
    (p["corrupt"] / "data").mkdir(parents=True)
    (p["corrupt"] / "data" / "train-00000-of-00001.parquet").write_bytes(b"PAR1 not parquet")
    p["a_file"] = root / "a_file"
    p["a_file"].write_text("not a folder")
    p["checkpoint"] = root / "digits.pt"
    save_checkpoint(p["checkpoint"], {"meta": {"problem": "digits_mlp", "schedule": "constant"}})
    p["truncated"] = root / "truncated.pt"
    p["truncated"].write_bytes(p["checkpoint"].read_bytes()[:40])
    p["garbage_store"] = root / "garbage_store"
    p["garbage_store"].mkdir()
    (p["garbage_store"] / "results.sqlite").write_bytes(b"\x00garbage" * 600)
    return p


def _fill(text: str, paths: dict[str, Path], **more) -> str:
    return text.format(**{k: str(v) for k, v in {**paths, **more}.items()})


def _refused(argv: list[str], fragment: str, paths, capfd, helpers, **more) -> None:
    """Run the CLI in-process; exit 2, one stderr line with ``fragment``, folder untouched."""
    existing = paths["existing"]
    before = helpers.folder_checksums(existing)
    code = main(argv)
    out, err = capfd.readouterr()
    assert code == 2, (argv, out, err)
    assert err.count("\n") == 1 and err.startswith("uncertainty-lr: error: "), err
    assert _fill(fragment, paths, **more) in err, err
    assert helpers.folder_checksums(existing) == before, "the existing results folder changed"


@pytest.mark.parametrize(
    "extra, fragment", [c[1:] for c in CLI_CASES], ids=[c[0] for c in CLI_CASES]
)
def test_bad_flag(extra, fragment, paths, capfd, helpers) -> None:
    argv = ["run", "--out", str(paths["existing"]), "--quiet", "--no-report", "--epochs", "1"]
    _refused(argv + [_fill(a, paths) for a in extra], fragment, paths, capfd, helpers)


@pytest.mark.parametrize(
    "text, fragment", [c[1:] for c in TOML_CASES], ids=[c[0] for c in TOML_CASES]
)
def test_bad_config_file(text, fragment, paths, capfd, tmp_path, helpers) -> None:
    config = tmp_path / "bad.toml"
    if isinstance(text, bytes):
        config.write_bytes(text)
    else:
        config.write_text(text + "\n")
    argv = [
        "run",
        "--config",
        str(config),
        "--out",
        str(paths["existing"]),
        "--quiet",
        "--no-report",
    ]
    _refused(argv, fragment, paths, capfd, helpers, config=config)


@pytest.mark.parametrize(
    "argv, fragment", [c[1:] for c in OTHER_CASES], ids=[c[0] for c in OTHER_CASES]
)
def test_bad_subcommand_input(argv, fragment, paths, capfd, helpers) -> None:
    _refused([_fill(a, paths) for a in argv], fragment, paths, capfd, helpers)


@pytest.mark.parametrize(
    "call, fragment", [c[1:] for c in LIBRARY_CASES], ids=[c[0] for c in LIBRARY_CASES]
)
def test_bad_library_call(call, fragment, paths) -> None:
    with pytest.raises(ValueError) as caught:
        call(paths)
    message = str(caught.value)
    assert "\n" not in message and _fill(fragment, paths) in message, message


def test_real_process_exit_code_is_2(paths, helpers, tmp_path) -> None:
    """The same refusal through a real interpreter: the process exit status itself is 2."""
    config = tmp_path / "bad.toml"
    config.write_text('epochs = "ten"\n')
    before = helpers.folder_checksums(paths["existing"])
    result = helpers.cli("run", "--config", config, "--out", paths["existing"], cwd=tmp_path)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == "uncertainty-lr: error: epochs must be a positive integer, got 'ten'\n"
    assert helpers.folder_checksums(paths["existing"]) == before


def test_the_matrix_is_big_enough() -> None:
    """The issue asks for at least 25 distinct bad inputs; ids must not repeat."""
    ids = [c[0] for c in CLI_CASES + TOML_CASES + OTHER_CASES + LIBRARY_CASES]
    assert len(ids) >= 25
    for cases in (CLI_CASES, TOML_CASES, OTHER_CASES, LIBRARY_CASES):
        assert len({c[0] for c in cases}) == len(cases)

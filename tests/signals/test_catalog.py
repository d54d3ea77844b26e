"""The signal catalog: every entry computable, every reader agrees, a new signal is 2 files."""

import json

import pytest
import torch

from uncertainty_lr.experiments.config import RunConfig, resolve
from uncertainty_lr.experiments.evaluate import evaluate
from uncertainty_lr.models import build_model
from uncertainty_lr.schedulers.registry import check_schedule
from uncertainty_lr.signals import functions
from uncertainty_lr.signals.catalog import (
    FAMILIES,
    SIGNALS,
    SignalSpec,
    evaluated_signals,
    signal_spec,
    signals_of,
)


def test_every_entry_names_functions_that_exist():
    for name, spec in SIGNALS.items():
        assert spec.name == name and spec.description
        assert callable(functions.signal_function(name))
        if spec.per_example is not None:
            assert callable(functions.per_example_function(name))
        if spec.from_training:  # the tracker's EMA of a single-pass signal of the batch logits
            assert spec.statistic in functions.SIGNAL_FUNCTIONS
            assert spec.function == SIGNALS[spec.statistic].function


def names(where) -> set[str]:
    return {name for name, spec in SIGNALS.items() if where(spec)}


def test_what_each_family_needs():
    ll = {"ll_entropy", "ll_mutual_information", "ll_variance"}
    mc = {"mc_entropy", "mc_mutual_information", "mc_variance"}
    assert names(lambda s: s.needs_dropout == "head") == ll
    assert names(lambda s: s.needs_dropout == "model") == mc
    assert names(lambda s: s.needs_laplace_fit) == {"la_entropy", "la_mutual_information"}
    assert names(lambda s: s.needs_labels) == {"overconfidence", "calibration_gap"}
    assert names(lambda s: s.signed) == {"calibration_gap"}
    assert names(lambda s: s.from_training) == {"train_confidence", "train_entropy", "train_margin"}
    assert names(lambda s: s.every_evaluation) == {"confidence", "entropy", "margin"}


def test_unknown_names_and_families_are_refused_in_one_line():
    with pytest.raises(ValueError, match=r"^unknown signal 'vibes'; known: confidence, entropy"):
        signal_spec("vibes")
    with pytest.raises(ValueError, match=r"^family of signal 'x' must be one of single_pass"):
        SignalSpec("x", "tea_leaves", "x", "x", "x")
    with pytest.raises(ValueError, match=r"^family must be one of single_pass, mc_dropout"):
        signals_of("tea_leaves")
    with pytest.raises(ValueError, match="signal 'mc_entropy' has no per-example function"):
        functions.per_example_function("mc_entropy")
    assert all(family.description for family in FAMILIES.values())


def test_every_signal_is_accepted_by_the_schedule_and_evaluated_ones_by_the_config():
    for name in SIGNALS:
        every = "step" if SIGNALS[name].from_training else "epoch"
        options = {"mode": "threshold", "signal": name, "every": every}  # any per-signal mode
        assert check_schedule("uncertainty", options)["signal"] == name
    assert resolve(RunConfig(signals=evaluated_signals())).signals == evaluated_signals()
    for name in ("train_entropy", "vibes"):
        with pytest.raises(ValueError, match=f"unknown signal '{name}'; known: confidence"):
            resolve(RunConfig(signals=(name,)))


def test_evaluate_computes_every_evaluated_signal_in_its_range():
    torch.manual_seed(0)
    model = build_model("mlp", num_classes=3, in_channels=1, image_size=4)
    gen = torch.Generator().manual_seed(1)
    x, y = torch.randn(30, 1, 4, 4, generator=gen), torch.randint(0, 3, (30,), generator=gen)
    out = evaluate(model, x, y, num_classes=3, extra_signals=evaluated_signals(), mc_samples=3,
                   mc_seed=0, fit_inputs=torch.randn(40, 1, 4, 4, generator=gen))  # fmt: skip
    for name in evaluated_signals():
        low = -1.0 if SIGNALS[name].signed else 0.0
        assert low <= out[f"val_{name}"] <= 1.0, name
    with pytest.raises(ValueError, match="unknown signal 'train_entropy'; known: confidence"):
        evaluate(model, x, y, num_classes=3, extra_signals=("train_entropy",))


#: A single-pass signal as a user would add it: two functions in functions.py ...
TOY_FUNCTIONS = '''
def per_sample_top_mass(probs: torch.Tensor, *, from_logits: bool = False) -> torch.Tensor:
    """(N, C) -> (N,) float64: 1 - (max_c p)^2, a toy signal for the catalog test."""
    probs = _checked_probs(probs, 2, "probs", from_logits)
    return 1.0 - probs.max(dim=-1).values ** 2


def top_mass(probs: torch.Tensor, *, from_logits: bool = False) -> float:
    """mean_n 1 - (max_c p)^2 in [0, 1]."""
    return _mean_float(per_sample_top_mass(probs, from_logits=from_logits))
'''
#: ... and one entry in the catalog.
TOY_ENTRY = """
SIGNALS["top_mass"] = SignalSpec(
    "top_mass", "single_pass", "top_mass", "top_mass", "1 - mean squared top probability",
    per_example="per_sample_top_mass",
)
"""


def test_a_new_single_pass_signal_touches_two_files_and_every_reader_takes_it(package_copy):
    package_copy.append("signals/functions.py", TOY_FUNCTIONS)
    package_copy.append("signals/catalog.py", TOY_ENTRY)
    assert package_copy.changed() == {"signals/functions.py", "signals/catalog.py"}
    out = package_copy.run("""
        import io, contextlib, json, sys
        from uncertainty_lr.cli import main
        from uncertainty_lr.experiments.config import RunConfig, resolve
        from uncertainty_lr.experiments.evaluate import evaluate
        from uncertainty_lr.experiments.store import Store
        from uncertainty_lr.integrations._common import check_signal_choice, per_sample_signal
        from uncertainty_lr.schedulers.registry import check_schedule
        from uncertainty_lr.signals.estimate import estimate_signal
        from uncertainty_lr.signals.functions import top_mass

        assert check_schedule("uncertainty", {"mode": "threshold", "signal": "top_mass"})
        assert resolve(RunConfig(signals=("top_mass",))).signals == ("top_mass",)
        model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
        x, y = torch.randn(20, 4), torch.randint(0, 3, (20,))
        value = evaluate(model, x, y, num_classes=3, extra_signals=["top_mass"])["val_top_mass"]
        assert value == top_mass(model(x).double().softmax(-1)), value
        assert abs(estimate_signal(model, x, "top_mass") - value) < 1e-6
        check_signal_choice("top_mass", 0)
        assert per_sample_signal("top_mass", logits=model(x)).shape == (20,)
        text = io.StringIO()
        with contextlib.redirect_stdout(text):
            assert main(["list"]) == 0
            assert main(["run", "--problem", "digits_mlp", "--schedule",
                         "uncertainty:mode=threshold,signal=top_mass", "--epochs", "2",
                         "--out", "out", "--quiet", "--no-report"]) == 0
        assert "top_mass                 1 - mean squared top probability" in text.getvalue()
        with Store("out", create=False) as store:
            (run,) = store.runs()
            epochs = store.epochs(run["run_id"])
        print(json.dumps([(e["val_top_mass"], e["signal"]) for e in epochs]))
    """)
    first, second = json.loads(out.strip().splitlines()[-1])
    assert first[0] == first[1] and second[0] == second[1]  # the schedule read the new signal

"""evaluate(): the last-layer Laplace signals beside the one-pass metrics, seeded and refused."""

import pytest
import torch

from uncertainty_lr.experiments.evaluate import evaluate
from uncertainty_lr.models import build_model
from uncertainty_lr.signals.estimate import estimate_signal

LAPLACE = ("la_entropy", "la_mutual_information")


def setup():
    torch.manual_seed(0)
    model = build_model("mlp", num_classes=3, in_channels=1, image_size=4)
    gen = torch.Generator().manual_seed(1)
    x_val, y_val = (
        torch.randn(30, 1, 4, 4, generator=gen),
        torch.randint(0, 3, (30,), generator=gen),
    )
    return model, x_val, y_val, torch.randn(80, 1, 4, 4, generator=gen)


def test_laplace_signals_are_recorded_seeded_and_leave_the_rest_alone():
    model, x, y, train = setup()
    plain = evaluate(model, x, y, num_classes=3)
    rng = torch.get_rng_state()
    out = evaluate(model, x, y, num_classes=3, extra_signals=LAPLACE, mc_samples=4, mc_seed=9,
                   fit_inputs=train)  # fmt: skip
    assert torch.equal(torch.get_rng_state(), rng)  # a resumed run sees the same RNG stream
    again = evaluate(model, x, y, num_classes=3, extra_signals=LAPLACE, mc_samples=4, mc_seed=9,
                     fit_inputs=train)  # fmt: skip
    other = evaluate(model, x, y, num_classes=3, extra_signals=LAPLACE, mc_samples=4, mc_seed=10,
                     fit_inputs=train)  # fmt: skip
    assert out == again and out["val_la_mutual_information"] != other["val_la_mutual_information"]
    assert {k: out[k] for k in plain} == plain  # one feature pass serves the metrics too
    for name in LAPLACE:
        assert 0.0 < out[f"val_{name}"] <= 1.0
        assert out[f"val_{name}"] == estimate_signal(
            model, x, name, samples=4, batch_size=1024, generator_seed=9, fit_inputs=train
        )


def test_laplace_beside_last_layer_dropout_uses_both_estimates():
    model, x, y, train = setup()
    out = evaluate(model, x, y, num_classes=3, extra_signals=("ll_entropy", "la_entropy"),
                   mc_samples=4, mc_seed=9, fit_inputs=train)  # fmt: skip
    assert out["val_la_entropy"] != out["val_ll_entropy"]
    assert out["val_la_entropy"] == evaluate(
        model, x, y, num_classes=3, extra_signals=("la_entropy",), mc_samples=4, mc_seed=9,
        fit_inputs=train,
    )["val_la_entropy"]  # fmt: skip


def test_laplace_signal_without_training_inputs_is_refused():
    model, x, y, _ = setup()
    with pytest.raises(ValueError, match="signal 'la_mutual_information' needs fit_inputs"):
        evaluate(model, x, y, num_classes=3, extra_signals=("la_mutual_information",))


def test_overconfidence_is_computed_on_request_from_the_same_pass():
    from uncertainty_lr.signals import calibration_gap, overconfidence, predict_logits

    model, x, y, _ = setup()
    plain = evaluate(model, x, y, num_classes=3)
    out = evaluate(model, x, y, num_classes=3, extra_signals=("overconfidence", "calibration_gap"))
    assert "val_overconfidence" not in plain and {k: out[k] for k in plain} == plain
    logits = predict_logits(model, x, batch_size=1024).double()
    # evaluate() takes softmax of the same logits; from_logits goes through log_softmax, so
    # the two agree to rounding, not bit for bit.
    assert out["val_overconfidence"] == pytest.approx(
        overconfidence(logits, y, from_logits=True), abs=1e-12
    )
    assert out["val_calibration_gap"] == pytest.approx(
        calibration_gap(logits, y, from_logits=True), abs=1e-12
    )

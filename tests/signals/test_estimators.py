"""Estimators on tiny models: modes restored, BatchNorm untouched, seeding, last-layer MC."""

import pytest
import torch
from testkit import TinyNet
from torch import nn

from uncertainty_lr.signals import functions
from uncertainty_lr.signals.estimate import ESTIMATED_SIGNALS, SIGNAL_DESCRIPTIONS, estimate_signal
from uncertainty_lr.signals.estimators import (
    last_layer_mc_probs,
    mc_dropout_probs,
    predict_logits,
)


class TinyTransformer(nn.Module):
    """Token ids (N, L) -> logits (N, 2) through one TransformerEncoderLayer with dropout."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.Embedding(20, 8)
        self.encoder = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.5, batch_first=True)
        self.head = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(self.embed(x)).mean(dim=1))


def inputs(n: int = 10) -> torch.Tensor:
    return torch.randn(n, 4, generator=torch.Generator().manual_seed(1))


def mixed_modes(model: nn.Module) -> dict[str, bool]:
    """Put the model in train mode except one submodule, and return every module's mode."""
    model.train()
    model.body[1].eval()  # BatchNorm in eval while the rest trains
    return {name: module.training for name, module in model.named_modules()}


def modes(model: nn.Module) -> dict[str, bool]:
    return {name: module.training for name, module in model.named_modules()}


def buffers(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: b.clone() for name, b in model.named_buffers()}


def assert_buffers_identical(before: dict, model: nn.Module) -> None:
    after = dict(model.named_buffers())
    assert before.keys() == after.keys()
    for name, tensor in before.items():
        assert torch.equal(tensor, after[name]), name


# ---------------------------------------------------------------- predict_logits


@pytest.mark.parametrize("batch_size", [3, 512])
def test_predict_logits_equals_eval_forward_and_restores_modes(batch_size):
    model, x = TinyNet(), inputs()
    before = mixed_modes(model)
    logits = predict_logits(model, x, batch_size=batch_size)
    assert modes(model) == before
    model.eval()
    with torch.no_grad():
        expected = model(x)
    assert logits.shape == (10, 3) and logits.dtype == torch.float32
    torch.testing.assert_close(logits, expected)
    logits.add_(1.0)  # an ordinary tensor, not an inference tensor


def test_predict_logits_applies_transform_to_each_batch():
    model = TinyNet()
    raw = (inputs(7) * 10).round().to(torch.int16)
    seen = []

    def to_float(batch: torch.Tensor) -> torch.Tensor:
        seen.append(batch.shape[0])
        return batch.float() / 10

    logits = predict_logits(model, raw, batch_size=3, transform=to_float)
    assert seen == [3, 3, 1]
    torch.testing.assert_close(logits, predict_logits(model, raw.float() / 10))


def test_predict_logits_leaves_batchnorm_untouched():
    model = TinyNet()
    model.train()
    before = buffers(model)
    predict_logits(model, inputs())
    assert_buffers_identical(before, model)


# ---------------------------------------------------------------- full MC dropout


def test_mc_dropout_samples_differ_and_are_probabilities():
    model, x = TinyNet(), inputs()
    probs = mc_dropout_probs(model, x, samples=6, batch_size=4, generator_seed=0)
    assert probs.shape == (6, 10, 3) and probs.dtype == torch.float64
    torch.testing.assert_close(probs.sum(dim=-1), torch.ones(6, 10, dtype=torch.float64))
    assert not torch.equal(probs[0], probs[1])


def test_mc_dropout_leaves_batchnorm_buffers_and_modes_as_they_were():
    model = TinyNet()
    before_modes = mixed_modes(model)
    before_buffers = buffers(model)
    mc_dropout_probs(model, inputs(), samples=4, generator_seed=0)
    assert_buffers_identical(before_buffers, model)
    assert modes(model) == before_modes


def test_mc_dropout_seed_is_reproducible_and_keeps_the_global_rng():
    model, x = TinyNet(), inputs()
    state = torch.get_rng_state()
    first = mc_dropout_probs(model, x, samples=4, generator_seed=7)
    second = mc_dropout_probs(model, x, samples=4, generator_seed=7)
    other = mc_dropout_probs(model, x, samples=4, generator_seed=8)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(first, second)
    assert not torch.equal(first, other)


def test_mc_dropout_samples_a_transformer_encoder_layer():
    # In eval mode under inference_mode, TransformerEncoderLayer takes a fused fast path
    # that ignores its dropout modules; the estimator must switch that path off.
    model = TinyTransformer()
    tokens = torch.randint(0, 20, (4, 6), generator=torch.Generator().manual_seed(0))
    probs = mc_dropout_probs(model, tokens, samples=3, generator_seed=0)
    assert probs.shape == (3, 4, 2)
    assert not torch.equal(probs[0], probs[1])
    assert torch.backends.mha.get_fastpath_enabled()  # restored afterwards


def test_mc_dropout_needs_a_dropout_layer_and_two_samples():
    with pytest.raises(ValueError, match="model Linear has no dropout layer with p > 0"):
        mc_dropout_probs(nn.Linear(4, 3), inputs())
    with pytest.raises(ValueError, match="samples must be an integer >= 2, got 1"):
        mc_dropout_probs(TinyNet(), inputs(), samples=1)
    with pytest.raises(ValueError, match="generator_seed must be an integer, got 1.5"):
        mc_dropout_probs(TinyNet(), inputs(), generator_seed=1.5)


# ---------------------------------------------------------------- last-layer MC dropout


@pytest.mark.parametrize(("batch_size", "batches"), [(512, 1), (4, 3)])
def test_last_layer_calls_features_once_per_batch_and_samples_differ(batch_size, batches):
    model, x = TinyNet(), inputs()
    probs = last_layer_mc_probs(model, x, samples=5, batch_size=batch_size, generator_seed=0)
    assert model.feature_calls == batches
    assert probs.shape == (5, 10, 3)
    assert not torch.equal(probs[0], probs[1])


def test_last_layer_features_are_computed_in_eval_mode():
    # Dropout left on in the body would make the features differ from the eval-mode ones.
    model, x = TinyNet(), inputs()
    model.train()
    seen = []
    model.body.register_forward_hook(lambda module, args, out: seen.append(out.clone()))
    last_layer_mc_probs(model, x, samples=3, generator_seed=0)
    model.eval()
    with torch.no_grad():
        expected = model.body(x)
    torch.testing.assert_close(seen[0], expected)


def test_last_layer_leaves_batchnorm_buffers_and_modes_as_they_were():
    model = TinyNet()
    before_modes = mixed_modes(model)
    before_buffers = buffers(model)
    state = torch.get_rng_state()
    last_layer_mc_probs(model, inputs(), samples=3, generator_seed=3)
    assert_buffers_identical(before_buffers, model)
    assert modes(model) == before_modes
    assert torch.equal(torch.get_rng_state(), state)


def test_last_layer_needs_features_head_and_head_dropout():
    with pytest.raises(ValueError, match="model Sequential needs a features\\(\\) method"):
        last_layer_mc_probs(nn.Sequential(nn.Dropout(), nn.Linear(4, 3)), inputs())
    model = TinyNet()
    model.head = nn.Linear(16, 3)
    with pytest.raises(ValueError, match="the head of model TinyNet has no dropout layer"):
        last_layer_mc_probs(model, inputs())


@pytest.mark.parametrize(
    "signal", ["mc_entropy", "mc_mutual_information", "mc_variance", "ll_entropy",
               "ll_mutual_information", "ll_variance"],
)  # fmt: skip
def test_dropout_zero_is_refused_not_a_silent_zero(signal):
    # Dropout(p=0) modules are there but drop nothing: every MC sample is the same, so
    # mutual information and variance would be exactly 0 and a schedule would only decay.
    model = TinyNet(head_dropout=0.0)
    model.body[3] = nn.Dropout(0.0)
    with pytest.raises(ValueError, match="no dropout layer with p > 0") as caught:
        estimate_signal(model, inputs(), signal, samples=3, generator_seed=0)
    assert "\n" not in str(caught.value)
    if signal.startswith("ll_"):  # last-layer MC dropout looks at the head only
        body_only = TinyNet(head_dropout=0.0)
        with pytest.raises(ValueError, match="the head of model TinyNet has no dropout layer"):
            estimate_signal(body_only, inputs(), signal, samples=3, generator_seed=0)
    else:  # full MC dropout samples wherever a dropout with p > 0 sits
        assert estimate_signal(TinyNet(head_dropout=0.0), inputs(), signal, samples=3) > 0


# ---------------------------------------------------------------- estimate_signal


def test_signal_names_and_descriptions():
    assert ESTIMATED_SIGNALS == (
        "confidence",
        "entropy",
        "margin",
        "mc_entropy",
        "mc_mutual_information",
        "mc_variance",
        "ll_entropy",
        "ll_mutual_information",
        "ll_variance",
        "la_entropy",
        "la_mutual_information",
    )
    assert all(SIGNAL_DESCRIPTIONS[name] for name in ESTIMATED_SIGNALS)


@pytest.mark.parametrize("signal", ESTIMATED_SIGNALS)
def test_every_signal_is_a_float_in_unit_interval_and_leaves_the_model_alone(signal):
    model = TinyNet()
    before_modes = mixed_modes(model)
    before_buffers = buffers(model)
    fit = inputs(20)  # the training inputs a last-layer Laplace fits on; the others ignore them
    value = estimate_signal(model, inputs(), signal, samples=4, generator_seed=0, fit_inputs=fit)
    assert isinstance(value, float) and 0.0 <= value <= 1.0
    assert modes(model) == before_modes
    assert_buffers_identical(before_buffers, model)


def test_estimated_signals_match_the_functions():
    model, x = TinyNet(), inputs()
    logits = predict_logits(model, x)
    assert estimate_signal(model, x, "margin") == functions.margin(logits, from_logits=True)
    mc = mc_dropout_probs(model, x, samples=4, generator_seed=5)
    assert estimate_signal(model, x, "mc_entropy", samples=4, generator_seed=5) == (
        functions.entropy(mc.mean(dim=0))
    )
    assert estimate_signal(model, x, "mc_variance", samples=4, generator_seed=5) == (
        functions.predictive_variance(mc)
    )
    ll = last_layer_mc_probs(model, x, samples=4, generator_seed=5)
    assert estimate_signal(model, x, "ll_mutual_information", samples=4, generator_seed=5) == (
        functions.mutual_information(ll)
    )


def test_bad_arguments_raise():
    model = TinyNet()
    with pytest.raises(ValueError, match="unknown signal 'bald'; known: confidence, entropy"):
        estimate_signal(model, inputs(), "bald")
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        predict_logits(model, inputs(), batch_size=0)
    with pytest.raises(
        ValueError, match=r"inputs must hold at least one example, got shape \(0, 4\)"
    ):
        predict_logits(model, torch.zeros(0, 4))
    with pytest.raises(ValueError, match="inputs must be one torch.Tensor, got list"):
        predict_logits(model, [[0.0] * 4])


def test_last_layer_can_return_the_deterministic_logits_of_the_same_pass():
    torch.manual_seed(0)
    from uncertainty_lr.models import build_model

    model = build_model("mlp", num_classes=3, in_channels=1, image_size=4)
    x = torch.randn(10, 1, 4, 4)
    probs, logits = last_layer_mc_probs(model, x, samples=4, generator_seed=1, return_logits=True)
    assert torch.equal(logits, predict_logits(model, x))
    assert torch.equal(probs, last_layer_mc_probs(model, x, samples=4, generator_seed=1))

"""Last-layer Laplace: the K-FAC posterior against a dense reference and laplace-torch, seeding."""

import math

import pytest
import scipy.optimize
import torch
import torch.nn.functional as F
from testkit import TinyNet
from torch import nn

from uncertainty_lr.signals import functions
from uncertainty_lr.signals.estimate import estimate_signal
from uncertainty_lr.signals.estimators import predict_logits
from uncertainty_lr.signals.laplace import (
    PRIOR_PRECISION_RANGE,
    fit_head_posterior,
    last_layer_laplace_probs,
    linear_head,
    tune_prior_precision,
)


def tiny_net(bias: bool = True) -> TinyNet:
    """features: Linear -> BatchNorm -> Tanh (6 features); head: Dropout -> Linear (3 classes)."""
    return TinyNet(width=6, activation=nn.Tanh, body_dropout=0.0, bias=bias)


def data(n: int, seed: int = 1) -> torch.Tensor:
    return torch.randn(n, 4, generator=torch.Generator().manual_seed(seed))


def features(model: TinyNet, x: torch.Tensor) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return model.features(x).double()


def dense_logit_covariance(head, fit, test, prior_precision, data_size=None):
    """The same K-FAC posterior built as dense matrices and inverted, with the loss Hessian
    of each fit example taken by autograd: an independent check of the eigenbasis algebra."""
    n = fit.shape[0]
    weight, bias = head.weight.detach().double(), head.bias.detach().double()
    logits = fit @ weight.T + bias
    label = torch.tensor(0)  # the Hessian of cross-entropy in the logits does not need labels
    factor_b = sum(
        torch.autograd.functional.hessian(lambda f: F.cross_entropy(f, label), row)
        for row in logits
    ) * ((data_size or n) / n)
    factor_a = fit.T @ fit / n
    eye_w = torch.eye(weight.numel(), dtype=torch.float64)
    cov_w = torch.linalg.inv(torch.kron(factor_b, factor_a) + prior_precision * eye_w)
    cov_b = torch.linalg.inv(factor_b + prior_precision * torch.eye(3, dtype=torch.float64))
    # logits_c = sum_d W_cd f_d + b_c; W flattened row-major, so d logits / d vec(W) = I (x) f^T
    jac = torch.stack([torch.kron(torch.eye(3, dtype=torch.float64), f[None]) for f in test])
    return jac @ cov_w @ jac.transpose(1, 2) + cov_b


def test_posterior_predictive_equals_the_dense_k_fac_reference():
    model = tiny_net()
    fit, test = features(model, data(20)), features(model, data(5, seed=2))
    head = linear_head(model)
    posterior = fit_head_posterior(head, fit, prior_precision=0.7, data_size=60)
    mean, _ = posterior.logit_moments(test)
    torch.testing.assert_close(mean, test @ head.weight.double().T + head.bias.double())
    expected = dense_logit_covariance(head, fit, test, 0.7, data_size=60)
    torch.testing.assert_close(posterior.logit_covariance(test), expected, rtol=1e-9, atol=1e-12)


def test_posterior_predictive_equals_laplace_torch():
    laplace = pytest.importorskip("laplace")
    model = tiny_net().double().eval()
    x, y = data(20).double(), torch.randint(0, 3, (20,), generator=torch.Generator().manual_seed(3))
    reference = laplace.Laplace(
        model, "classification", subset_of_weights="last_layer", hessian_structure="kron",
        prior_precision=0.7,
    )  # fmt: skip
    reference.fit(torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=20))
    test = data(5, seed=2).double()
    ref_mean, ref_cov = reference._glm_predictive_distribution(test)
    posterior = fit_head_posterior(linear_head(model), features(model, x), prior_precision=0.7)
    mean, _ = posterior.logit_moments(features(model, test))
    torch.testing.assert_close(mean, ref_mean.detach())
    torch.testing.assert_close(posterior.logit_covariance(features(model, test)), ref_cov.detach())


def dense_log_evidence(head, fit, delta):
    """(P/2) log delta - (delta/2) ||MAP||^2 - (1/2) log det(K-FAC GGN + delta I), densely."""
    posterior = fit_head_posterior(head, fit, prior_precision=1.0)
    factor_a = fit.T @ fit / fit.shape[0]
    factor_b = posterior.vec_b @ torch.diag(posterior.eig_b) @ posterior.vec_b.T
    weight, bias = head.weight.detach().double(), head.bias.detach().double()
    count = weight.numel() + bias.numel()
    log_det = torch.logdet(torch.kron(factor_b, factor_a) + delta * torch.eye(weight.numel()))
    log_det = log_det + torch.logdet(factor_b + delta * torch.eye(3))
    norm = weight.pow(2).sum() + bias.pow(2).sum()
    return (0.5 * count * math.log(delta) - 0.5 * delta * norm - 0.5 * log_det).item()


def test_log_evidence_equals_the_dense_formula():
    model = tiny_net()
    fit, head = features(model, data(20)), linear_head(model)
    posterior = fit_head_posterior(head, fit, prior_precision=1.0)
    for delta in (1e-3, 0.7, 30.0):
        assert posterior.log_evidence(delta) == pytest.approx(dense_log_evidence(head, fit, delta))


def test_log_evidence_differences_equal_laplace_torch():
    laplace = pytest.importorskip("laplace")
    model = tiny_net().double().eval()
    x, y = data(20).double(), torch.randint(0, 3, (20,), generator=torch.Generator().manual_seed(3))
    reference = laplace.Laplace(
        model, "classification", subset_of_weights="last_layer", hessian_structure="kron"
    )
    reference.fit(torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=20))
    posterior = fit_head_posterior(linear_head(model), features(model, x), prior_precision=1.0)

    def theirs(delta):  # log p(D | MAP) is the same for every delta and cancels
        return reference.log_marginal_likelihood(torch.tensor(delta, dtype=torch.float64)).item()

    for delta in (0.01, 3.0, 200.0):
        assert posterior.log_evidence(delta) - posterior.log_evidence(1.0) == pytest.approx(
            theirs(delta) - theirs(1.0), rel=1e-9
        )


def test_marglik_prior_precision_is_the_maximiser_scipy_finds():
    model = tiny_net()
    fit = features(model, data(40))
    posterior = fit_head_posterior(linear_head(model), fit, data_size=400, prior_precision=1.0)
    low, high = (math.log10(bound) for bound in PRIOR_PRECISION_RANGE)
    found = scipy.optimize.minimize_scalar(
        lambda e: -posterior.log_evidence(10.0**e), bounds=(low, high), method="bounded",
        options={"xatol": 1e-10},
    )  # fmt: skip
    tuned = tune_prior_precision(posterior)
    assert math.log10(tuned) == pytest.approx(found.x, abs=1e-5)
    assert PRIOR_PRECISION_RANGE[0] < tuned < PRIOR_PRECISION_RANGE[1]
    assert fit_head_posterior(
        linear_head(model), fit, data_size=400
    ).prior_precision == pytest.approx(tuned, rel=1e-12)  # the default tunes it


def test_head_without_bias_has_no_bias_variance():
    model = tiny_net(bias=False)
    fit, test = features(model, data(20)), features(model, data(5, seed=2))
    posterior = fit_head_posterior(linear_head(model), fit, prior_precision=2.0)
    with_bias = fit_head_posterior(linear_head(tiny_net()), fit, prior_precision=2.0)
    assert not posterior.has_bias and with_bias.has_bias
    # a zero feature vector leaves only the bias term: 1 / (beta + delta) with a bias, 0 without
    zero = torch.zeros(1, 6, dtype=torch.float64)
    assert posterior.logit_moments(zero)[1].abs().max() == 0
    assert with_bias.logit_moments(zero)[1].min() > 0
    assert posterior.logit_moments(test)[1].min() > 0


def test_more_training_data_means_a_tighter_posterior():
    model = tiny_net()
    fit, test = features(model, data(20)), features(model, data(5, seed=2))
    head = linear_head(model)
    small = fit_head_posterior(head, fit, data_size=20, prior_precision=1.0)
    large = fit_head_posterior(head, fit, data_size=20_000, prior_precision=1.0)
    small, large = small.logit_moments(test)[1], large.logit_moments(test)[1]
    # eigenvalues ascend; the first direction of B is all-ones (softmax ignores a shift of
    # every logit), where the data say nothing and the prior alone sets the variance
    torch.testing.assert_close(large[:, 0], small[:, 0])
    assert (large[:, 1:] < small[:, 1:]).all()


def test_samples_have_the_predictive_moments():
    model = tiny_net()
    fit, test = features(model, data(20)), features(model, data(3, seed=2))
    posterior = fit_head_posterior(linear_head(model), fit, prior_precision=0.5)
    draws = posterior.sample_logits(test, 40_000, torch.Generator().manual_seed(0))
    assert draws.shape == (40_000, 3, 3) and draws.dtype == torch.float64
    mean, _ = posterior.logit_moments(test)
    centred = draws - draws.mean(0)
    empirical = torch.einsum("tni,tnj->nij", centred, centred) / draws.shape[0]
    scale = posterior.logit_covariance(test).abs().max()
    torch.testing.assert_close(draws.mean(0), mean, rtol=0, atol=0.03 * scale.sqrt().item())
    torch.testing.assert_close(
        empirical, posterior.logit_covariance(test), rtol=0, atol=0.05 * scale
    )


# ---------------------------------------------------------------- the estimator


def test_probs_are_seeded_keep_the_global_rng_and_leave_the_model_alone():
    model = tiny_net()
    model.train()
    model.body[1].eval()
    before_modes = {name: m.training for name, m in model.named_modules()}
    before_buffers = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    first = last_layer_laplace_probs(model, data(10), data(50, seed=4), samples=4, generator_seed=7)
    assert torch.equal(torch.get_rng_state(), rng)
    again = last_layer_laplace_probs(model, data(10), data(50, seed=4), samples=4, generator_seed=7)
    other = last_layer_laplace_probs(model, data(10), data(50, seed=4), samples=4, generator_seed=8)
    assert first.shape == (4, 10, 3) and first.dtype == torch.float64
    torch.testing.assert_close(first.sum(-1), torch.ones(4, 10, dtype=torch.float64))
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert {name: m.training for name, m in model.named_modules()} == before_modes
    for key, value in model.state_dict().items():
        assert torch.equal(value, before_buffers[key]), key


def test_one_feature_pass_per_batch_and_the_deterministic_logits_of_it():
    model, x = tiny_net(), data(10)
    probs, logits = last_layer_laplace_probs(
        model, x, data(8, seed=4), samples=3, batch_size=4, generator_seed=0, return_logits=True
    )
    assert model.feature_calls == 3 + 2  # three input batches, two fit batches
    torch.testing.assert_close(logits, predict_logits(model, x))
    assert probs.shape == (3, 10, 3)


def test_fit_uses_a_seeded_subset_of_at_most_fit_size_rows():
    model, x, train = tiny_net(), data(10), data(200, seed=4)
    whole = last_layer_laplace_probs(model, x, train, samples=3, generator_seed=0, fit_size=200)
    bounded = last_layer_laplace_probs(model, x, train, samples=3, generator_seed=0, fit_size=16)
    again = last_layer_laplace_probs(model, x, train, samples=3, generator_seed=0, fit_size=16)
    assert torch.equal(bounded, again) and not torch.equal(bounded, whole)


def test_estimate_signal_reads_the_laplace_draws():
    model, x, train = tiny_net(), data(10), data(40, seed=4)
    probs = last_layer_laplace_probs(model, x, train, samples=5, generator_seed=3)
    kwargs = {"samples": 5, "generator_seed": 3, "fit_inputs": train}
    assert estimate_signal(model, x, "la_entropy", **kwargs) == functions.entropy(probs.mean(0))
    assert estimate_signal(model, x, "la_mutual_information", **kwargs) == (
        functions.mutual_information(probs)
    )
    with pytest.raises(ValueError, match="signal 'la_entropy' needs fit_inputs"):
        estimate_signal(model, x, "la_entropy", samples=5)


class NoFeatures(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(x)


def test_refuses_what_it_cannot_fit():
    x = data(5)
    with pytest.raises(ValueError, match="NoFeatures needs a features\\(\\) method and a head"):
        last_layer_laplace_probs(NoFeatures(), x, x)
    deep = tiny_net()
    deep.head = nn.Sequential(nn.Linear(6, 6), nn.ReLU(), nn.Linear(6, 3))
    with pytest.raises(ValueError, match="needs model.head to be an nn.Linear"):
        last_layer_laplace_probs(deep, x, x)
    model = tiny_net()
    with pytest.raises(ValueError, match=r"fit_inputs must be .* got Tensor of shape \(0, 4\)"):
        last_layer_laplace_probs(model, x, torch.zeros(0, 4))
    with pytest.raises(ValueError, match="fit_inputs must be .* got list"):
        last_layer_laplace_probs(model, x, [[0.0] * 4])
    with pytest.raises(ValueError, match="fit_size must be a positive integer, got 0"):
        last_layer_laplace_probs(model, x, x, fit_size=0)
    with pytest.raises(ValueError, match="samples must be an integer >= 2, got 1"):
        last_layer_laplace_probs(model, x, x, samples=1)
    head, fit = linear_head(model), features(model, x)
    for bad in (0, -1.0, "mackay", True):
        with pytest.raises(
            ValueError, match=f"prior_precision must be a positive number or 'marglik', got {bad!r}"
        ):
            fit_head_posterior(head, fit, prior_precision=bad)
    with pytest.raises(ValueError, match="data_size must be an integer >= 5"):
        fit_head_posterior(head, fit, data_size=3)
    with pytest.raises(ValueError, match=r"features must be \(n, 6\)"):
        fit_head_posterior(head, fit[:, :4])

"""Signal functions against hand-worked values on tiny tensors, plus range properties."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from uncertainty_lr.signals import functions as F
from uncertainty_lr.signals.functions import (
    SIGNAL_FUNCTIONS,
    calibration_gap,
    confidence,
    entropy,
    expected_calibration_error,
    margin,
    mutual_information,
    overconfidence,
    per_sample_confidence,
    per_sample_entropy,
    per_sample_margin,
    per_sample_mutual_information,
    per_sample_variance,
    predictive_variance,
    probs_from_logits,
)

SINGLE_PASS = [confidence, entropy, margin]
MONTE_CARLO = [mutual_information, predictive_variance]
FAST = settings(max_examples=30, deadline=None, derandomize=True)


def t(rows) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float64)


# ---------------------------------------------------------------- single pass


@pytest.mark.parametrize("function", SINGLE_PASS)
@pytest.mark.parametrize("num_classes", [2, 3, 10])
def test_uniform_is_one_and_one_hot_is_zero(function, num_classes):
    uniform = torch.full((4, num_classes), 1.0 / num_classes, dtype=torch.float64)
    one_hot = torch.eye(num_classes, dtype=torch.float64)
    assert function(uniform) == pytest.approx(1.0, abs=1e-12)
    assert function(one_hot) == 0.0
    assert isinstance(function(one_hot), float)


def test_hand_worked_two_by_three():
    # rows: [0.5, 0.25, 0.25] and one-hot [1, 0, 0]; C = 3
    probs = t([[0.5, 0.25, 0.25], [1.0, 0.0, 0.0]])
    # confidence: mean max = (0.5 + 1) / 2 = 0.75; (1 - 0.75) / (1 - 1/3) = 0.25 / (2/3) = 0.375
    assert confidence(probs) == pytest.approx(0.375, abs=1e-12)
    # entropy: H(row0) = 0.5 ln 2 + 2 * 0.25 ln 4 = 1.5 ln 2, H(row1) = 0 (0 log 0 = 0);
    # mean = 0.75 ln 2, divided by ln 3 = 0.4731973...
    assert entropy(probs) == pytest.approx(0.75 * math.log(2) / math.log(3), abs=1e-12)
    # margin: gaps 0.5 - 0.25 = 0.25 and 1 - 0 = 1; 1 - mean(0.625) = 0.375
    assert margin(probs) == pytest.approx(0.375, abs=1e-12)


def test_per_sample_helpers_average_to_the_scalar_signals():
    probs = t([[0.5, 0.25, 0.25], [1.0, 0.0, 0.0], [0.2, 0.3, 0.5]])
    pairs = [
        (per_sample_confidence, confidence),
        (per_sample_entropy, entropy),
        (per_sample_margin, margin),
    ]
    for per_sample, scalar in pairs:
        values = per_sample(probs)
        assert values.shape == (3,) and values.dtype == torch.float64
        assert values.mean().item() == pytest.approx(scalar(probs), abs=1e-12)
    # row 2 by hand: margin 1 - (0.5 - 0.3) = 0.8, confidence (1 - 0.5) / (2/3) = 0.75
    assert per_sample_margin(probs)[2].item() == pytest.approx(0.8, abs=1e-12)
    assert per_sample_confidence(probs)[2].item() == pytest.approx(0.75, abs=1e-12)


def test_margin_of_a_top_two_tie_is_one():
    assert margin(t([[0.4, 0.4, 0.2]])) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("function", SINGLE_PASS)
def test_from_logits_matches_softmax_of_the_logits(function):
    logits = torch.tensor([[2.0, -1.0, 0.5], [0.0, 0.0, 3.0]])
    probs = torch.softmax(logits.double(), dim=-1)
    assert function(logits, from_logits=True) == pytest.approx(function(probs), abs=1e-12)


def test_huge_logits_stay_finite_and_exact():
    probs = probs_from_logits(torch.tensor([[1e4, 0.0, -1e4]]))
    assert probs.dtype == torch.float64
    assert probs.tolist() == [[1.0, 0.0, 0.0]]
    assert entropy(torch.tensor([[1e4, 0.0, -1e4]]), from_logits=True) == 0.0


def test_accepts_numpy_lists_and_float32():
    rows = [[0.5, 0.25, 0.25], [1.0, 0.0, 0.0]]
    assert entropy(np.array(rows)) == pytest.approx(entropy(t(rows)), abs=1e-12)
    assert entropy(rows) == pytest.approx(entropy(t(rows)), abs=1e-12)
    assert entropy(torch.tensor(rows, dtype=torch.float32)) == pytest.approx(
        entropy(t(rows)), abs=1e-6
    )


def test_logits_requiring_grad_are_fine():
    logits = torch.randn(5, 4, generator=torch.Generator().manual_seed(0), requires_grad=True)
    value = entropy(logits, from_logits=True)
    assert isinstance(value, float) and logits.grad is None


def test_signal_functions_registry():
    assert {"confidence": confidence, "entropy": entropy, "margin": margin} == SIGNAL_FUNCTIONS


# ---------------------------------------------------------------- Monte Carlo


def test_mi_and_variance_are_zero_when_all_samples_agree():
    one = t([[0.6, 0.3, 0.1], [0.2, 0.2, 0.6]])
    mc = one.expand(5, 2, 3)
    assert mutual_information(mc) == pytest.approx(0.0, abs=1e-12)
    assert predictive_variance(mc) == 0.0


@pytest.mark.parametrize("num_classes", [2, 3, 5])
def test_mi_and_variance_are_one_for_one_hot_samples_split_evenly(num_classes):
    # T = C samples, sample t is one-hot on class t: mean is uniform (H = ln C), each
    # sample has H = 0, so MI = ln C / ln C = 1; each class has Bernoulli(1/C) values,
    # variance (1/C)(1 - 1/C), summed over C classes = 1 - 1/C = the bound.
    mc = torch.eye(num_classes, dtype=torch.float64).unsqueeze(1)  # (T=C, N=1, C)
    assert mutual_information(mc) == pytest.approx(1.0, abs=1e-12)
    assert predictive_variance(mc) == pytest.approx(1.0, abs=1e-12)


def test_mi_and_variance_hand_worked():
    # T = 2, N = 1, C = 2: samples [0.5, 0.5] and [1, 0]
    mc = t([[[0.5, 0.5]], [[1.0, 0.0]]])
    # mean [0.75, 0.25]: H = -(0.75 ln 0.75 + 0.25 ln 0.25) = 0.5623351
    # mean_t H = (ln 2 + 0) / 2 = 0.3465736; MI = 0.2157616 / ln 2 = 0.3112781
    total = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    expected_mi = (total - math.log(2) / 2) / math.log(2)
    assert mutual_information(mc) == pytest.approx(expected_mi, abs=1e-12)
    assert expected_mi == pytest.approx(0.3112781, abs=1e-7)
    # population variance per class: values {0.5, 1} and {0.5, 0} -> 0.0625 each;
    # sum 0.125 / (1 - 1/2) = 0.25
    assert predictive_variance(mc) == pytest.approx(0.25, abs=1e-12)
    assert per_sample_variance(mc).tolist() == pytest.approx([0.25], abs=1e-12)
    assert per_sample_mutual_information(mc).shape == (1,)


def test_mc_from_logits_matches_softmax():
    logits = torch.randn(4, 3, 5, generator=torch.Generator().manual_seed(1))
    probs = torch.softmax(logits.double(), dim=-1)
    for function in MONTE_CARLO:
        assert function(logits, from_logits=True) == pytest.approx(function(probs), abs=1e-12)


# ---------------------------------------------------------------- range properties


@st.composite
def prob_matrices(draw, leading=()):
    """Probabilities with some exact zeros, or softmax of logits up to +-60."""
    n = draw(st.integers(1, 5))
    c = draw(st.integers(2, 6))
    shape = (*leading, n, c) if leading else (n, c)
    count = int(np.prod(shape))
    if draw(st.booleans()):
        logits = draw(st.lists(st.floats(-60, 60), min_size=count, max_size=count))
        return torch.softmax(torch.tensor(logits, dtype=torch.float64).reshape(shape), dim=-1)
    weights = draw(
        st.lists(st.sampled_from([0.0, 0.0, 1e-9, 0.3, 1.0, 7.0]), min_size=count, max_size=count)
    )
    weights = torch.tensor(weights, dtype=torch.float64).reshape(shape)
    weights[..., 0] += 1e-12  # no all-zero row
    return weights / weights.sum(dim=-1, keepdim=True)


@FAST
@given(prob_matrices())
def test_single_pass_signals_lie_in_unit_interval(probs):
    for function in SINGLE_PASS:
        assert 0.0 <= function(probs) <= 1.0


@FAST
@given(st.integers(1, 4).flatmap(lambda samples: prob_matrices(leading=(samples,))))
def test_monte_carlo_signals_lie_in_unit_interval(mc_probs):
    for function in MONTE_CARLO:
        assert 0.0 <= function(mc_probs) <= 1.0


# ---------------------------------------------------------------- ECE


def test_ece_hand_worked_with_an_exact_bin_edge():
    # n_bins = 5: bins (0, .2], (.2, .4], (.4, .6], (.6, .8], (.8, 1]
    probs = t([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    labels = torch.tensor([0, 0, 0, 1])
    # conf / prediction / correct: .9/0/yes, .8/1/no, .6/0/yes, .7/1/yes
    # bin 4 (.8, 1]: {.9 correct}       -> 1/4 * |1 - .9|    = 0.025
    # bin 3 (.6, .8]: {.8 wrong, .7 ok}  -> 2/4 * |.5 - .75|  = 0.125  (.8 is on the edge: lower bin)
    # bin 2 (.4, .6]: {.6 correct}       -> 1/4 * |1 - .6|    = 0.1
    # ECE = 0.25 (putting .8 in the upper bin would give 0.35 instead)
    assert expected_calibration_error(probs, labels, n_bins=5) == pytest.approx(0.25, abs=1e-12)


def test_ece_is_zero_when_confident_and_right_and_one_when_confident_and_wrong():
    probs = torch.eye(3, dtype=torch.float64)
    assert expected_calibration_error(probs, torch.tensor([0, 1, 2])) == 0.0
    assert expected_calibration_error(probs, torch.tensor([1, 2, 0])) == 1.0


def test_overconfidence_hand_worked():
    probs = t([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    # mean confidence (.9 + .8 + .6 + .7) / 4 = .75; accuracy 3/4 with labels 0, 0, 0, 1
    assert overconfidence(probs, torch.tensor([0, 0, 0, 1])) == pytest.approx(0.0, abs=1e-12)
    # accuracy 1/4: the model is 0.5 surer than it is right
    assert overconfidence(probs, torch.tensor([1, 0, 1, 1])) == pytest.approx(0.5, abs=1e-12)
    # under-confident (mean confidence .75 < accuracy 1) counts as 0, not negative
    assert overconfidence(probs, torch.tensor([0, 1, 0, 1])) == 0.0
    assert overconfidence(torch.eye(3), torch.tensor([1, 2, 0])) == 1.0
    logits = torch.log(probs)
    assert overconfidence(logits, torch.tensor([1, 0, 1, 1]), from_logits=True) == pytest.approx(
        0.5
    )


def test_calibration_gap_is_signed_and_overconfidence_is_its_positive_part():
    probs = t([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])  # mean confidence .75
    for labels, gap in (([0, 0, 0, 1], 0.0), ([1, 0, 1, 1], 0.5), ([0, 1, 0, 1], -0.25)):
        y = torch.tensor(labels)
        assert calibration_gap(probs, y) == pytest.approx(gap, abs=1e-12)
        assert overconfidence(probs, y) == max(calibration_gap(probs, y), 0.0)
    uniform = torch.full((3, 3), 1 / 3)  # sure of nothing, argmax 0 always right
    assert calibration_gap(uniform, torch.tensor([0, 0, 0])) == pytest.approx(-2 / 3)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 1\], got values in \[0, 2\]"):
        calibration_gap(probs[:2], torch.tensor([0, 2]))


def test_overconfidence_refuses_bad_labels_as_ece_does():
    probs = t([[0.9, 0.1], [0.2, 0.8]])
    with pytest.raises(ValueError, match=r"labels must be in \[0, 1\], got values in \[0, 2\]"):
        overconfidence(probs, torch.tensor([0, 2]))
    with pytest.raises(ValueError, match=r"labels must have shape \(2,\) to match probs"):
        overconfidence(probs, torch.tensor([0, 1, 1]))


def reference_ece(probs: torch.Tensor, labels: torch.Tensor, n_bins: int) -> float:
    """Slow twin: loop over bins with the (b/n, (b+1)/n] convention."""
    conf = probs.max(dim=-1).values.tolist()
    pred = probs.argmax(dim=-1).tolist()
    total = 0.0
    for b in range(n_bins):
        low, high = b / n_bins, (b + 1) / n_bins
        members = [i for i, c in enumerate(conf) if low < c <= high or (b == n_bins - 1 and c > 1)]
        if members:
            acc = sum(pred[i] == labels[i].item() for i in members) / len(members)
            mean_conf = sum(conf[i] for i in members) / len(members)
            total += len(members) / len(conf) * abs(acc - mean_conf)
    return total


@FAST
@given(prob_matrices(), st.integers(1, 20), st.randoms(use_true_random=False))
def test_ece_equals_the_slow_reference(probs, n_bins, rng):
    labels = torch.tensor([rng.randrange(probs.shape[1]) for _ in range(probs.shape[0])])
    fast = expected_calibration_error(probs, labels, n_bins=n_bins)
    assert fast == pytest.approx(reference_ece(probs, labels, n_bins), abs=1e-12)
    assert 0.0 <= fast <= 1.0


# ---------------------------------------------------------------- bad inputs


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (torch.tensor([0.5, 0.5]), r"2-D \(N, C\) tensor, got shape \(2,\)"),
        (torch.ones(3, 1), "C >= 2 classes, got C=1"),
        (torch.ones(0, 3), r"at least one example, got shape \(0, 3\)"),
        (t([[1.2, -0.2]]), "must be >= 0, got -0.2"),
        (t([[0.5, 0.7]]), "rows must sum to 1, got a row off by 0.2"),
        (t([[float("nan"), 0.5]]), "must be finite"),
    ],
)
@pytest.mark.parametrize("function", SINGLE_PASS)
def test_bad_probs_raise(function, bad, message):
    with pytest.raises(ValueError, match=message):
        function(bad)


def test_bad_mc_probs_and_logits_raise():
    for function in MONTE_CARLO:
        with pytest.raises(ValueError, match=r"3-D \(T, N, C\) tensor, got shape \(2, 2\)"):
            function(t([[0.5, 0.5], [0.5, 0.5]]))
        with pytest.raises(ValueError, match="C >= 2 classes, got C=1"):
            function(torch.ones(2, 2, 1))
    with pytest.raises(ValueError, match="logits must be finite"):
        entropy(torch.tensor([[float("inf"), 0.0]]), from_logits=True)
    with pytest.raises(ValueError, match="probs must be a tensor, got str"):
        entropy("not a tensor")


def test_bad_ece_arguments_raise():
    probs = t([[0.9, 0.1], [0.4, 0.6]])
    with pytest.raises(ValueError, match="n_bins must be a positive integer, got 0"):
        expected_calibration_error(probs, torch.tensor([0, 1]), n_bins=0)
    with pytest.raises(ValueError, match=r"labels must have shape \(2,\) .* got \(3,\)"):
        expected_calibration_error(probs, torch.tensor([0, 1, 1]))
    with pytest.raises(ValueError, match=r"labels must be in \[0, 1\], got values in \[0, 2\]"):
        expected_calibration_error(probs, torch.tensor([0, 2]))
    with pytest.raises(ValueError, match="labels must be integer class indices"):
        expected_calibration_error(probs, torch.tensor([0.0, 1.0]))


def test_row_sum_tolerance_admits_float32_round_off_only():
    assert F._ROW_SUM_TOLERANCE < 0.01
    big = torch.softmax(torch.randn(8, 1000, generator=torch.Generator().manual_seed(2)), dim=-1)
    assert 0.0 <= entropy(big) <= 1.0  # float32 softmax over 1000 classes is accepted

"""WeightAverage: the running average it keeps, swapping it in and out exactly, its state."""

from __future__ import annotations

import pytest
import torch

from uncertainty_lr import WeightAverage


def sgd(*values: float) -> tuple[torch.nn.Parameter, torch.optim.SGD]:
    p = torch.nn.Parameter(torch.tensor(values, dtype=torch.float64))
    return p, torch.optim.SGD([p], lr=1.0)


def set_to(p: torch.nn.Parameter, *values: float) -> None:
    with torch.no_grad():
        p.copy_(torch.tensor(values, dtype=torch.float64))


def test_the_average_weights_step_t_by_one_over_horizon_times_t():
    p, opt = sgd(0.0)
    average = WeightAverage(opt, horizon=0.5)
    expected = None
    for t, value in enumerate([4.0, 2.0, 8.0, 6.0, 10.0], start=1):
        set_to(p, value)
        average.update()
        w = 1.0 / max(1.0, 0.5 * t)
        expected = value if expected is None else expected + w * (value - expected)
        assert average.average[0].item() == pytest.approx(expected, rel=1e-12)
    assert average.steps == 5


def test_averaged_swaps_the_average_in_and_the_trained_weights_back_exactly():
    p, opt = sgd(1.0, 2.0)
    average = WeightAverage(opt, horizon=1.0)
    average.update()
    set_to(p, 3.0, 6.0)
    average.update()  # weight 1/2: the average is (2, 4)
    with average.averaged():
        assert p.tolist() == [2.0, 4.0]
        with pytest.raises(RuntimeError, match="use_live"):
            average.update()
    assert p.tolist() == [3.0, 6.0] and average.live is None


def test_before_any_update_averaged_leaves_the_weights_alone():
    p, opt = sgd(1.5)
    with WeightAverage(opt).averaged():
        assert p.tolist() == [1.5]


def test_state_dict_round_trip_resumes_the_same_average():
    p, opt = sgd(0.0)
    first = WeightAverage(opt, horizon=0.2)
    for value in [1.0, 5.0, 2.0]:
        set_to(p, value)
        first.update()
    second = WeightAverage(opt, horizon=0.2)
    second.load_state_dict(first.state_dict())
    for avg in (first, second):
        set_to(p, 7.0)
        avg.update()
    assert second.steps == first.steps == 4
    assert torch.equal(second.average[0], first.average[0])


@pytest.mark.parametrize("horizon", [0.0, -0.1, 1.5, float("nan"), "0.2"])
def test_a_horizon_outside_0_1_is_refused_naming_it(horizon):
    _, opt = sgd(0.0)
    with pytest.raises(ValueError, match="horizon"):
        WeightAverage(opt, horizon=horizon)

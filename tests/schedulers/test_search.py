import math

import pytest

from uncertainty_lr.schedulers.modes.search import LevelSearch


def run(search, losses):
    return [search.observe_loss(loss) for loss in losses]


def test_ramps_geometrically_to_the_top_in_its_steps():
    search = LevelSearch(steps=3, max_multiple=8.0)
    assert run(search, [1.0, 0.9, 0.8, 0.7]) == pytest.approx([2.0, 4.0, 8.0, 8.0])
    assert search.searching and search.taken == 4


def test_a_rise_past_the_margin_settles_at_safety_times_the_best_multiple():
    search = LevelSearch(steps=4, margin=0.1, safety=0.5, beta=0.0, max_multiple=16.0)
    # best smoothed loss 0.8 at multiple 4; 0.85 is within 10 %, 0.9 is not
    got = run(search, [1.0, 0.9, 0.8, 0.85, 0.9, 0.1])
    assert got == pytest.approx([2.0, 4.0, 8.0, 16.0, 2.0, 2.0])
    assert search.ended == "unstable" and search.taken == 5


def test_the_smoothed_loss_is_an_ema_started_at_the_first_loss():
    search = LevelSearch(steps=1, margin=0.1, beta=0.5, safety=0.5, max_multiple=2.0)
    run(search, [1.0, 0.6, 1.4])  # ema 1.0, 0.8, 1.1 > 0.88
    assert search.ema == pytest.approx(1.1) and search.ended == "unstable"
    assert search.multiple == 0.5 * 2.0  # best (0.8) was seen at multiple 2


def test_a_non_finite_loss_ends_the_search_below_the_base_when_nothing_was_better():
    search = LevelSearch(steps=2, max_multiple=4.0)
    run(search, [1.0, math.nan])
    assert search.ended == "unstable" and search.multiple == pytest.approx(1 / 3)


def test_an_over_confident_signal_backs_off_from_the_level_reached():
    search = LevelSearch(steps=4, max_multiple=16.0, safety=0.25)
    run(search, [1.0, 0.9])
    assert search.observe_signal(over_confident=False) == pytest.approx(4.0)  # mid-ramp: go on
    assert search.searching
    assert search.observe_signal(over_confident=True) == pytest.approx(1.0)
    assert search.ended == "over-confident"
    assert run(search, [5.0, math.inf]) == pytest.approx([1.0, 1.0])


def test_a_calm_signal_at_the_top_holds_the_level():
    search = LevelSearch(steps=2, max_multiple=4.0)
    run(search, [1.0, 0.9, 0.8])
    assert search.observe_signal(over_confident=False) == 4.0 and search.ended == "held"


def test_state_round_trip():
    a = LevelSearch(steps=5)
    run(a, [1.0, 0.9, 0.95])
    b = LevelSearch()
    b.load_state_dict(a.state_dict())
    assert b == a and run(b, [0.7, 0.6]) == run(a, [0.7, 0.6])

import math

import pytest

from uncertainty_lr.schedulers.modes.search import LevelSearch


def run(search, losses):
    return [search.observe_loss(loss) for loss in losses]


def test_grows_geometrically_while_the_loss_falls():
    search = LevelSearch(growth=2.0, max_multiple=100.0)
    assert run(search, [1.0, 0.9, 0.8]) == [2.0, 4.0, 8.0]
    assert search.searching and search.best_multiple == 4.0


def test_a_rise_past_the_margin_settles_at_safety_times_the_best_multiple():
    search = LevelSearch(growth=2.0, margin=0.1, safety=0.5, beta=0.0, max_multiple=100.0)
    # best smoothed loss 0.8 at multiple 4; 0.85 is within 10 %, 0.9 is not
    assert run(search, [1.0, 0.9, 0.8, 0.85, 0.9, 0.1]) == [2.0, 4.0, 8.0, 16.0, 2.0, 2.0]
    assert search.ended == "unstable" and search.steps == 5


def test_the_smoothed_loss_is_an_ema_started_at_the_first_loss():
    search = LevelSearch(growth=2.0, margin=0.1, beta=0.5, max_multiple=100.0)
    run(search, [1.0, 0.6, 1.4])  # ema 1.0, 0.8, 1.1 > 0.88
    assert search.ema == pytest.approx(1.1) and search.ended == "unstable"
    assert search.multiple == 0.5 * 2.0  # best (0.8) was seen at multiple 2


def test_a_non_finite_loss_ends_the_search_unstable():
    search = LevelSearch(growth=2.0, max_multiple=100.0)
    run(search, [1.0, math.nan])
    assert search.ended == "unstable" and search.multiple == 0.5


def test_capped_at_max_multiple():
    search = LevelSearch(growth=3.0, max_multiple=10.0)
    assert run(search, [1.0, 0.9, 0.8, 0.7, 0.6]) == [3.0, 9.0, 10.0, 10.0, 10.0]
    assert search.ended == "capped"


def test_sure_keeps_the_current_level_and_later_losses_change_nothing():
    search = LevelSearch(growth=2.0, max_multiple=100.0)
    run(search, [1.0, 0.9])
    assert search.observe_sure() == 4.0 and search.ended == "sure"
    assert run(search, [5.0, math.inf]) == [4.0, 4.0]


def test_state_round_trip():
    a = LevelSearch(growth=1.5)
    run(a, [1.0, 0.9, 0.95])
    b = LevelSearch()
    b.load_state_dict(a.state_dict())
    assert b == a and run(b, [0.7, 0.6]) == run(a, [0.7, 0.6])

"""Seed bands stay inside what the metric can take: accuracy in [0, 1], loss at or above 0,
in the numbers (bands.mean_band) and in the study report's curves as drawn."""

from __future__ import annotations

import numpy as np
import pytest

from uncertainty_lr.experiments.store import Store
from uncertainty_lr.report import load_study, summarise
from uncertainty_lr.report import plots as plots_module
from uncertainty_lr.report.bands import mean_band, value_range
from uncertainty_lr.report.plots import arm_styles, plot_curves

from .test_report import add_run


def test_value_range_knows_fractions_and_losses():
    for key in ("val_accuracy", "test_accuracy", "val_f1", "val_ece", "val_entropy", "val_margin"):
        assert value_range(key) == (0.0, 1.0), key
    assert value_range("val_loss") == value_range("train_loss") == (0.0, None)
    assert value_range("lr") == value_range("wall_time") == (None, None)


def test_two_seeds_give_a_wide_band_that_is_clipped_not_moved():
    accuracy = np.array([[0.95, 0.5], [0.90, np.nan]])
    mean, low, high = mean_band(accuracy, value_range("val_accuracy"))
    raw_mean, raw_low, raw_high = mean_band(accuracy)
    assert raw_high[0] > 1.2  # t(0.975, 1) = 12.7 over two seeds: far above 1
    assert high[0] == 1.0 and low[0] == pytest.approx(raw_low[0]) and low[0] > 0.5
    np.testing.assert_array_equal(mean, raw_mean)  # the mean is never changed
    assert np.isnan(low[1]) and np.isnan(high[1])  # one seed: no band, not a band at a limit
    loss = np.array([[0.10], [0.41]])
    _, loss_low, loss_high = mean_band(loss, value_range("val_loss"))
    _, raw_low, raw_high = mean_band(loss)
    assert raw_low[0] < -1 and loss_low[0] == 0.0
    assert loss_high[0] == pytest.approx(raw_high[0]) and raw_high[0] > 2  # a loss has no top


def test_the_curves_figure_draws_no_band_outside_the_range(tmp_path, monkeypatch):
    with Store(tmp_path) as store:
        for seed, final in enumerate((0.95, 0.80)):  # two seeds far apart: a wide t band
            add_run(store, "p", "uncertainty", seed, final=final)
            add_run(store, "p", "constant", seed, final=final - 0.02)
    study = load_study(tmp_path)
    ps = summarise(study).problems["p"]
    drawn = {}
    monkeypatch.setattr(plots_module, "save_figure", lambda fig, path: drawn.setdefault("fig", fig))
    plot_curves(study, ps, arm_styles(study.arms()), tmp_path / "curves.png")
    loss, accuracy, _, entropy = drawn["fig"].axes[:4]
    assert loss.get_yscale() == "linear"  # so the loss band is drawn in loss units

    def band_ys(ax):
        return np.concatenate(
            [path.vertices[:, 1] for c in ax.collections for path in c.get_paths()]
        )

    assert band_ys(accuracy).max() <= 1.0 and band_ys(accuracy).min() >= 0.0
    assert band_ys(entropy).max() <= 1.0 and band_ys(entropy).min() >= 0.0
    assert band_ys(loss).min() >= 0.0

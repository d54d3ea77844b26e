"""The anytime figure's drawing: a budget-free arm tested at its last epoch only still shows
its interval (an error bar, since a band needs two neighbouring points)."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.container import ErrorbarContainer

from uncertainty_lr.report import budget_plots
from uncertainty_lr.report.budget_plots import isolated, plot_accuracy_vs_budget
from uncertainty_lr.report.budget_series import BudgetSeries
from uncertainty_lr.report.budgets import BUDGET_AWARE, BUDGET_FREE

NAN = np.nan


def test_isolated_points_are_those_without_a_finite_neighbour():
    mean = np.array([NAN, 0.5, NAN, 0.6, 0.7, NAN, 0.8])
    assert isolated(mean).tolist() == [False, True, False, False, False, False, True]
    assert isolated(np.array([0.4])).tolist() == [True]
    assert not isolated(np.array([0.4, 0.5])).any()


def free_series(mean: list[float]) -> BudgetSeries:
    mean = np.array(mean)
    values = np.vstack([mean - 0.01, mean + 0.01])
    return BudgetSeries("p", "uncertainty", BUDGET_FREE, np.arange(1, mean.size + 1), values,
                        mean, mean - 0.02, mean + 0.02)  # fmt: skip


def drawn(tmp_path, monkeypatch, *figures_of):
    """The matplotlib figures plot_accuracy_vs_budget draws, one per (series, budgets)."""
    figures = []
    monkeypatch.setattr(budget_plots, "save_figure", lambda fig, path: figures.append(fig) or path)
    for i, (series, budgets) in enumerate(figures_of):
        plot_accuracy_vs_budget([series], {"uncertainty": ("C0", "o")}, tmp_path / f"{i}.png",
                                budgets, "t")  # fmt: skip
    return figures


def drawn_error_bars(series, tmp_path, monkeypatch):
    (fig,) = drawn(tmp_path, monkeypatch, (series, [3]))
    (ax,) = fig.axes
    return [c for c in ax.containers if isinstance(c, ErrorbarContainer)]


def test_a_free_arm_tested_at_its_last_epoch_only_gets_an_error_bar(tmp_path, monkeypatch):
    (bar,) = drawn_error_bars(free_series([NAN, NAN, 0.7]), tmp_path, monkeypatch)
    (segment,) = bar.lines[2][0].get_segments()
    np.testing.assert_allclose(segment, [[3, 0.68], [3, 0.72]])


def test_a_free_arm_tested_every_epoch_is_a_band_without_error_bars(tmp_path, monkeypatch):
    assert drawn_error_bars(free_series([0.5, 0.6, 0.7]), tmp_path, monkeypatch) == []


def test_a_figure_of_budget_free_arms_only_draws(tmp_path):
    path = plot_accuracy_vs_budget([free_series([0.5, 0.6, 0.7])], {"uncertainty": ("C0", "o")},
                                   tmp_path / "f.png", [3], "t")  # fmt: skip
    assert path.stat().st_size > 0


def test_the_x_axis_starts_at_the_first_epoch_with_a_value(tmp_path, monkeypatch):
    ends, curve = drawn(tmp_path, monkeypatch, (free_series([NAN] * 11 + [0.7]), [12]),
                        (free_series([0.5] * 12), [12]))  # fmt: skip
    assert ends.axes[0].get_xlim() == (10.5, 12.8)
    assert ends.axes[0].get_xticks().tolist() == [12]
    assert curve.axes[0].get_xlim() == (0.5, 12.8)
    assert curve.axes[0].get_xticks().tolist() == [1, 12]


def aware_series(arm: str) -> BudgetSeries:
    mean = np.array([0.6, 0.7])
    return BudgetSeries("p", arm, BUDGET_AWARE, np.array([6, 12]), np.vstack([mean, mean]),
                        mean, mean - 0.01, mean + 0.01)  # fmt: skip


def test_budget_aware_markers_leave_the_budget_to_a_budget_free_arm():
    aware = [aware_series(a) for a in ("a", "b", "c")]
    alone = budget_plots._offsets(aware)
    assert [alone[a] for a in "abc"] == pytest.approx([-0.3, 0.0, 0.3])
    beside = budget_plots._offsets([free_series([0.5] * 12), *aware])
    assert [beside[a] for a in "abc"] == pytest.approx([-0.3, -0.15, 0.15])
    assert 0.0 not in budget_plots._offsets([free_series([0.5] * 12), *aware[:2]]).values()

"""The numbers of the anytime figure: a budget-free arm read at every epoch of its one run, a
budget-aware arm at each budget it ran, diverged runs at chance, and at each budget the same
number the report's tables give."""

from __future__ import annotations

import csv
import dataclasses

import numpy as np
import pytest

from uncertainty_lr.report import load_study
from uncertainty_lr.report.budget_series import budget_series
from uncertainty_lr.report.budgets import BUDGET_AWARE, BUDGET_FREE, at_budget

from .conftest import BUDGETS
from .test_budgets import run, study


def classes(r, n=10):
    return dataclasses.replace(r, config={**r.config, "num_classes": n})


def test_free_arm_is_a_curve_and_aware_arm_a_point_per_budget():
    s = study(*(classes(run("constant", 6, seed)) for seed in (0, 1)),
              classes(run("cosine", 2)), classes(run("cosine", 4)), classes(run("cosine", 4, 1)))  # fmt: skip
    constant, cosine = budget_series(s, "p")
    assert (constant.kind, cosine.kind) == (BUDGET_FREE, BUDGET_AWARE)
    assert constant.budgets.tolist() == [1, 2, 3, 4, 5, 6]
    # test accuracy logged at epoch e is 0.5 + e / 100 (test_budgets.run)
    np.testing.assert_allclose(constant.values, [[0.51, 0.52, 0.53, 0.54, 0.55, 0.56]] * 2)
    assert cosine.budgets.tolist() == [2, 4]
    assert cosine.values[:, 0].tolist()[0] == pytest.approx(0.52) and np.isnan(cosine.values[1, 0])
    assert cosine.values[:, 1].tolist() == pytest.approx([0.54, 0.54])
    assert cosine.at(2) == pytest.approx(0.52) and cosine.at(3) is None
    assert np.isnan(cosine.low[0])  # one seed at budget 2: no interval


def test_a_diverged_run_counts_at_chance_from_the_budget_it_diverged_by():
    s = study(classes(run("plateau", 6, diverged_at=3)), classes(run("plateau", 6, seed=1)))
    (plateau,) = budget_series(s, "p")
    np.testing.assert_allclose(plateau.values[0], [0.51, 0.52, 0.1, 0.1, 0.1, 0.1])  # 1/10
    np.testing.assert_allclose(plateau.values[1], [0.51, 0.52, 0.53, 0.54, 0.55, 0.56])
    assert (plateau.low >= 0).all() and (plateau.high <= 1).all()  # band clipped to [0, 1]


def test_at_each_budget_the_figure_shows_the_tables_number(digits_anytime, tmp_path):
    from uncertainty_lr.report import write_report

    out = write_report(digits_anytime, tmp_path / "anytime", budgets=list(BUDGETS))
    with (out / "anytime_summary.csv").open(encoding="utf-8") as handle:
        table = {row["schedule"]: row for row in csv.DictReader(handle)}
    series = budget_series(load_study(digits_anytime, by_budget=True), "digits_mlp")
    assert {s.arm for s in series} == set(table)
    for s in series:
        for budget in BUDGETS:
            assert s.at(budget) == pytest.approx(float(table[s.arm][f"mean_{budget}"]), abs=1e-12)
        if s.kind == BUDGET_FREE:
            assert s.budgets.tolist() == [1, 2, 3, 4]  # every epoch of the one 4-epoch run
    view = at_budget(load_study(digits_anytime, by_budget=True), 2)
    assert len(view.runs) == 3 * len(series)

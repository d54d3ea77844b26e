"""The anytime report in the order a reader meets it: verdict sentences, the accuracy-against-
budget figure per problem, the goal matrix, the AlgoPerf bars, then tables (long ones
folded, every one also a CSV); and the figure of one problem drawn on its own."""

from __future__ import annotations

import csv
import re

import matplotlib.image
import pytest

from uncertainty_lr.report import write_budget_figure, write_report
from uncertainty_lr.report.anytime import LONG_TABLE

from .conftest import BUDGETS


@pytest.fixture(scope="module")
def report(digits_anytime, tmp_path_factory):
    out = tmp_path_factory.mktemp("anytime_layout") / "report"
    return write_report(digits_anytime, out, budgets=list(BUDGETS), command="uncertainty-lr report")


def test_first_screen_order(report):
    md = (report / "report.md").read_text(encoding="utf-8")
    order = ["## Verdict", "digits_mlp: uncertainty, never told the budget",
             "digits_mlp: uncertainty:mode=anneal,signal=overconfidence,trigger=threshold, never told the budget",
             "## Accuracy against the budget", "figures/accuracy_vs_budget_digits_mlp.png",
             "<details><summary>digits_mlp: the other 3 arms against the budget",
             "figures/accuracy_vs_budget_rest_digits_mlp.png", "## Goal check",
             "**Goal check: the uncertainty arm vs the best budget-aware arm", "## AlgoPerf score",
             "figures/algoperf_by_budget.png", "**AlgoPerf score vs the other budget-free arms**",
             "## Tables", "## How budgets are scored", "## Budget: 2 epochs", "## Budget: 4 epochs",
             "## Setup"]  # fmt: skip
    positions = [md.index(item) for item in order]
    assert positions == sorted(positions)
    for name in ("accuracy_vs_budget_digits_mlp", "accuracy_vs_budget_rest_digits_mlp",
                 "algoperf_by_budget"):  # fmt: skip
        assert matplotlib.image.imread(report / "figures" / f"{name}.png").shape[2] in (3, 4)


def test_every_table_is_a_csv_and_every_long_one_is_folded(report):
    md = (report / "report.md").read_text(encoding="utf-8")
    named = set(re.findall(r"\(CSV: `([^`]+\.csv)`\)", md))
    assert named == {p.name for p in report.glob("*.csv")}
    assert {"anytime_goal.csv", "anytime_summary.csv", "setup.csv", "ab_tests_2ep.csv"} <= named
    depth, rows, long_open = 0, 0, []
    for line in [*md.splitlines(), ""]:
        depth += line.count("<details>") - line.count("</details>")
        if line.startswith("| "):
            rows += 1
        elif rows:
            if rows - 1 > LONG_TABLE and depth == 0:  # rows - 1: the header row
                long_open.append(rows - 1)
            rows = 0
    assert long_open == []


def test_goal_matrix_cells_are_the_csv_outcomes(report):
    with (report / "anytime_goal.csv").open(encoding="utf-8") as handle:
        outcomes = [row["outcome"] for row in csv.DictReader(handle)]
    page = (report / "report.html").read_text(encoding="utf-8")
    matrix = page.split('id="goal-check"')[1].split("</table>")[0]
    kinds = re.findall(r'<td class="cell ([a-z-]+)" style=', matrix)  # spaces as '-'
    assert sorted(kinds) == sorted(o.replace(" ", "-") for o in outcomes)
    assert len(kinds) == 2 * len(BUDGETS)


def test_the_budget_figure_of_one_problem_on_its_own(digits_anytime, tmp_path):
    path = write_budget_figure(digits_anytime, "digits_mlp", tmp_path / "figure.png")
    height, width = matplotlib.image.imread(path).shape[:2]
    assert path == tmp_path / "figure.png" and width > 800 and height > 400
    with pytest.raises(
        ValueError, match="no runs of problem 'mnist_cnn'; the store has: digits_mlp"
    ):
        write_budget_figure(digits_anytime, "mnist_cnn", tmp_path / "other.png")
    with pytest.raises(ValueError, match="budgets must be positive integers"):
        write_budget_figure(digits_anytime, "digits_mlp", tmp_path / "other.png", budgets=[0])
    assert not (tmp_path / "other.png").exists()


def test_a_figure_that_fails_is_a_note_not_a_lost_report(digits_anytime, tmp_path, monkeypatch):
    from uncertainty_lr.report import anytime

    def broken(*args, **kwargs):
        raise ValueError("no luck")

    monkeypatch.setattr(anytime, "budget_figures", broken)
    out = write_report(digits_anytime, tmp_path / "report", budgets=list(BUDGETS))
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "digits_mlp: the figure could not be drawn: ValueError: no luck" in md
    assert "## Goal check" in md and (out / "anytime_goal.csv").is_file()

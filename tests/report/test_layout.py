"""The order a reader meets the report in: verdict, figures per problem, A/B matrix, then
the details folded away; the verdict table and matrix agree with the full A/B table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from testkit import read_csv

from uncertainty_lr.experiments.store import Store
from uncertainty_lr.report import write_report
from uncertainty_lr.report.html import Heading, Paragraph

from .test_report import add_run

# p: uncertainty beats both baselines by a consistent margin; q: it loses to constant.
FINALS = {
    "p": {"uncertainty": (0.950, 0.960, 0.955, 0.965), "constant": (0.900, 0.905, 0.903, 0.912),
          "cosine": (0.850, 0.862, 0.851, 0.858)},
    "q": {"uncertainty": (0.800, 0.812, 0.806, 0.801), "constant": (0.900, 0.905, 0.903, 0.912),
          "cosine": (0.790, 0.800, 0.795, 0.805)},
}  # fmt: skip


def lr_sensitivity(study, summary, ps, fig_dir):
    """A stand-in for a section another part of the harness adds per problem."""
    return [Heading(f"LR sensitivity: {ps.problem}", 3), Paragraph(f"extra for {ps.problem}")]


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("layout")
    with Store(path) as store:
        for problem, arms in FINALS.items():
            for schedule, finals in arms.items():
                for seed, final in enumerate(finals):
                    add_run(store, problem, schedule, seed, final=final)
    return write_report(path, command="uncertainty-lr sweep", extra_sections=[lr_sensitivity])


def test_markdown_order_is_verdict_figures_matrix_then_details(report):
    md = (report / "report.md").read_text()
    order = ["## Verdict", "## Problem: p", "figures/curves_p.png", "figures/epochs_to_target_p.png",
             "figures/test_accuracy_p.png", "### LR sensitivity: p", "## Problem: q",
             "### LR sensitivity: q", "## Across problems", "figures/performance_profile.png",
             "**AlgoPerf score**", "## A/B matrix", "<details><summary>Full A/B table",
             "**A/B: uncertainty schedule vs baselines**", "## Aggregates and divergence",
             "## Details", "<details><summary>Written analysis", "## Setup",
             "<details><summary>Data sizes, optimiser", "**Setup**"]  # fmt: skip
    positions = [md.index(item) for item in order]
    assert positions == sorted(positions), [o for o, p in zip(order, positions) if p < 0]
    toc = md.split("## Verdict")[0]
    for link in ("[Verdict](#verdict)", "[Problem: p](#problem-p)", "[A/B matrix](#ab-matrix)",
                 "[Setup](#setup)"):  # fmt: skip
        assert link in toc
    page = (report / "report.html").read_text()
    assert '<h2 id="problem-p">' in page and 'href="#problem-p"' in page
    assert "http://" not in page and "https://" not in page  # works offline


def test_verdict_rows_follow_the_ab_table(report):
    verdict = {row["problem"]: row for row in read_csv(report / "verdict.csv")}
    assert set(verdict) == {"p", "q", "all problems"}
    ab = {(r["problem"], r["baseline"], r["metric"]): r for r in read_csv(report / "ab_tests.csv")}
    p, q = verdict["p"], verdict["q"]
    assert p["best schedule (mean test acc)"].startswith("uncertainty (")
    assert p["its rank"] == "1 of 3" and p["verdict"] == "better"
    assert p["best baseline (mean test acc)"].startswith("constant (")
    row = ab[("p", "constant", "test accuracy")]
    # the interval beside a Holm verdict is at the level that agrees with the Holm p
    level = float(row["holm_level"])
    assert level == pytest.approx(1 - 0.05 * float(row["t-test p"]) / float(row["Holm p (t-test)"]))
    low, high = float(row["holm_ci_low"]), float(row["holm_ci_high"])
    interval = (
        f"{float(row['mean_diff']):+.4f} [{low:+.4f}, {high:+.4f}] ({100 * level:.2f}% t-interval)"
    )
    column = "difference to best baseline [t-interval at the Holm level]"
    assert p[column] == interval and low > 0
    assert float(row["ci_low"]) > low  # wider than the unadjusted 95% interval
    assert row["significant (Holm p < 0.05)"] == "yes"
    assert q["its rank"] == "2 of 3" and q["verdict"] == "worse"
    across = verdict["all problems"]
    assert across[column].startswith("P(X > Y) = ") and "permutation p" in across[column]
    md = (report / "report.md").read_text()
    assert "p: uncertainty has the highest mean test accuracy; uncertainty ranks 1 of 3, " in md
    assert re.search(r"q: constant has the highest mean test accuracy; uncertainty ranks 2 of 3, "
                     r"0\.\d{4} behind the best baseline constant \(worse, Holm p [<=] ", md)  # fmt: skip


def test_matrix_colours_direction_and_significance(report):
    page = (report / "report.html").read_text()
    matrix = page.split('<table class="matrix">')[1].split("</table>")[0]
    rows = re.findall(r"<tr>(.*?)</tr>", matrix)[1:]
    assert len(rows) == 4  # 2 problems x 2 baselines, one row each instead of 5
    p_constant = next(r for r in rows if "<td>p</td>" in r and "<td>constant</td>" in r)
    first = re.findall(r'<td class="cell ([a-z-]+)[^"]*" style="background:(#\w+)', p_constant)
    assert first[0] == ("better-sig", "#0072B2")  # test accuracy: A significantly better
    q_constant = next(r for r in rows if "<td>q</td>" in r and "<td>constant</td>" in r)
    assert 'class="cell worse-sig sig" style="background:#D55E00' in q_constant
    assert "A better, significant" in page  # the legend
    md = (report / "report.md").read_text()
    assert re.search(r"\| p \| uncertainty \| constant \| \*\*\+0\.\d{4} \u25b2\*\* \|", md)

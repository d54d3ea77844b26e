"""Unit tests of the report's small helpers: number formatting, escaping, bands, rendering."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from uncertainty_lr.report.bands import mean_band
from uncertainty_lr.report.html import (
    Code,
    Heading,
    Paragraph,
    md_cell,
    md_text,
    render_html,
    render_markdown,
    write_page,
)
from uncertainty_lr.report.plots import arm_styles, wrap
from uncertainty_lr.report.tables import Table, fmt, fmt_p, raw


def test_number_formatting():
    assert fmt(0.93124) == "0.9312"
    assert fmt(None) == "n/a" and fmt(math.nan) == "n/a" and fmt(math.inf) == "inf"
    assert fmt(1.2e-6) == "1.2e-06"  # 4 fixed decimals would print 0.0000
    assert fmt(123456.0) == "1.2e+05"
    assert fmt_p(3e-7) == "<0.0001" and fmt_p(0.04567) == "0.0457" and fmt_p(None) == "n/a"
    assert raw(None) == "" and raw(math.inf) == "inf" and float(raw(1 / 3)) == 1 / 3


def test_markdown_escaping_keeps_comparisons_readable():
    assert md_text("<script>x</script> & &amp;") == "&lt;script>x&lt;/script> & &amp;amp;"
    assert md_text("p < 0.05") == "p < 0.05"
    assert md_cell("a|b\nc") == "a\\|b c"


def test_code_fence_outlasts_backticks_inside(tmp_path):
    text = render_markdown([Code(["a ``` b", "c"])], tmp_path)
    assert text.splitlines()[0] == "````text" and text.splitlines()[3] == "````"


def test_html_page_escapes_every_block(tmp_path: Path):
    table = Table("t", "<x1>", ["<x2>"], [["<x3>"]], ["<x4>"])
    blocks = [Heading("<x5>"), Paragraph("<x6>"), Code(["<x7>"]), table]
    page = render_html(blocks, "<x8>")
    for i in range(1, 9):
        assert f"<x{i}>" not in page and f"&lt;x{i}&gt;" in page
    assert "<table>" in page
    table.write_csv(tmp_path / "t.csv")
    assert (tmp_path / "t.csv").read_text().splitlines() == ["<x2>", "<x3>"]


def test_mean_band_is_the_t_interval():
    values = np.array([[1.0, 2.0, np.nan], [3.0, 4.0, np.nan], [np.nan, np.nan, 5.0]])
    mean, low, high = mean_band(values)
    assert mean[:2] == pytest.approx([2.0, 3.0]) and mean[2] == 5.0
    half = 12.706204736 * math.sqrt(2) / math.sqrt(2)  # t(0.975, 1) * sd / sqrt(n)
    assert high[:2] - mean[:2] == pytest.approx([half, half])
    assert np.isnan(low[2]) and np.isnan(high[2])  # one value: no band


def test_styles_are_stable_and_distinct():
    arms = [f"s{i}" for i in range(12)]
    styles = arm_styles(arms)
    assert styles == arm_styles(arms)
    assert len({colour for colour, _ in styles.values()}) == 12
    assert styles["s0"][0] == "#0072B2"  # Okabe-Ito first
    assert wrap("warmup_cosine_with_long_name", 10).count("\n") == 2


def test_anchors_follow_github_and_details_fold_markdown(tmp_path: Path):
    from uncertainty_lr.report.html import Contents, Details, anchor

    assert anchor("Problem: mnist_cnn") == "problem-mnist_cnn"
    assert anchor("A/B matrix") == "ab-matrix"
    heading = Heading("Problem: p<b>")
    md = render_markdown([Contents([heading]), Details("Setup", [Paragraph("inside")])], tmp_path)
    assert "- [Problem: p&lt;b>](#problem-pb)" in md
    assert "<details><summary>Setup</summary>\n\ninside" in md and md.rstrip().endswith(
        "</details>"
    )
    page = render_html([heading, Details("<s>", [Paragraph("<x>")])], "t")
    assert '<h2 id="problem-pb">Problem: p&lt;b&gt;</h2>' in page
    assert "<details><summary>&lt;s&gt;</summary>" in page and "<p>&lt;x&gt;</p>" in page


def test_matrix_cells_carry_colour_mark_and_escaping(tmp_path: Path):
    from uncertainty_lr.report.verdict import Matrix

    m = Matrix("m", ["arm"], ["acc", "loss"], [["<a>"]], [["+0.05", "-0.01"]],
               [["better-sig", "worse"]], "legend")  # fmt: skip
    page = render_html([m], "t")
    assert (
        '<td class="cell better-sig sig" style="background:#0072B2;color:#ffffff">+0.05 \u25b2'
        in page
    )
    assert 'class="cell worse" style="background:#f8d7c2' in page and "&lt;a&gt;" in page
    md = render_markdown([m], tmp_path)
    assert "| &lt;a> | **+0.05 \u25b2** | -0.01 \u25bd |" in md


def test_page_names_the_store_as_given_not_this_machines_path(tmp_path: Path, monkeypatch):
    # A report rendered into docs/ is read on other machines: an absolute path from the
    # machine that rendered it says nothing there.
    monkeypatch.chdir(tmp_path)
    write_page(Path("out"), "T", Path("runs/study"), [Paragraph("x")])
    text = (tmp_path / "out" / "report.md").read_text()
    assert "Store: runs/study. Generated" in text
    assert str(tmp_path) not in text

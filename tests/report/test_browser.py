"""The reports as a reader sees them: rendered by headless Chromium at 1280 px wide.

Study report: the verdict table and the first figure inside the first 1,000 pixels. Anytime
report: the verdict sentence, the accuracy-against-budget figure inside them, the goal
matrix coloured. Both: every image decodes, every folded section opens, and no
preformatted block (the evaluation summaries) runs off the right edge. Each test saves a
screenshot of the top of the page and prints its path (``REPORT_SCREENSHOT_DIR`` chooses
the folder, so CI can keep it as an artifact; default: the test's temporary folder).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from uncertainty_lr.report import write_report

from .conftest import BUDGETS
from .test_report import rich_store

WIDTH, FOLD = 1280, 1000

#: Measures the page once loaded and writes the numbers as JSON into <div id="probe">.
#: ``SELECTORS`` (name -> CSS selector) is filled in per report.
PROBE = """<script>
window.addEventListener("load", function () {
  var box = function (el) {
    if (!el) { return null; }
    var r = el.getBoundingClientRect();
    return {top: Math.round(r.top + window.scrollY), bottom: Math.round(r.bottom + window.scrollY),
            text: (el.textContent || "").slice(0, 600), alt: el.getAttribute("alt") || ""};
  };
  var found = {};
  Object.entries(SELECTORS).forEach(function (kv) { found[kv[0]] = box(document.querySelector(kv[1])); });
  var imgs = Array.from(document.images);
  var details = Array.from(document.querySelectorAll("details"));
  var closed = details.map(function (d) { return d.getBoundingClientRect().height; });
  details.forEach(function (d) { d.open = true; });
  var opened = details.filter(function (d, i) {
    return d.getBoundingClientRect().height > closed[i] + 20; }).length;
  var pres = Array.from(document.querySelectorAll("pre"));
  var overflowing = pres.filter(function (p) { return p.scrollWidth > p.clientWidth + 1; }).length;
  details.forEach(function (d) { d.open = false; });
  var cells = Array.from(document.querySelectorAll(MATRIX + " td.cell")).map(function (td) {
    return getComputedStyle(td).backgroundColor; });
  var div = document.createElement("div");
  div.id = "probe";
  div.textContent = JSON.stringify({
    width: window.innerWidth, images: imgs.length,
    decoded: imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length,
    details: details.length, opened: opened, pres: pres.length, overflowing: overflowing,
    cells: cells, found: found});
  document.body.appendChild(div);
});
</script>"""


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None


def _run(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--hide-scrollbars", f"--user-data-dir={profile}",
         f"--window-size={WIDTH},{FOLD}", "--virtual-time-budget=5000", *args],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def check_in_browser(report_dir: Path, work: Path, name: str, selectors: dict[str, str],
                     matrix: str = "table.matrix") -> tuple[dict, Path]:  # fmt: skip
    """Probe numbers of ``report_dir/report.html`` and the path of its screenshot."""
    browser = chromium()
    if browser is None:
        pytest.skip("chromium not installed: apt-get install chromium (the CI script installs it)")
    page = work / f"{name}_probe.html"
    probe = PROBE.replace("SELECTORS", json.dumps(selectors)).replace("MATRIX", json.dumps(matrix))
    page.write_text((report_dir / "report.html").read_text() + probe, encoding="utf-8")
    result = _run(browser, work / "profile", "--dump-dom", page.as_uri())
    marker = result.stdout.split('<div id="probe">')[-1].split("</div>")[0]
    counts = json.loads(marker.replace("&quot;", '"').replace("&amp;", "&"))
    shots = Path(os.environ.get("REPORT_SCREENSHOT_DIR") or work)
    shots.mkdir(parents=True, exist_ok=True)
    shot = shots / f"{name}.png"
    _run(browser, work / "profile", f"--screenshot={shot}", (report_dir / "report.html").as_uri())
    return counts, shot


def assert_whole_page(counts: dict, n_images: int, n_details: int) -> None:
    """Every image decodes, every folded section opens, nothing preformatted runs off."""
    assert counts["width"] == WIDTH
    assert counts["images"] == n_images and counts["decoded"] == n_images
    assert counts["details"] == n_details and counts["opened"] == n_details
    assert counts["overflowing"] == 0, f"{counts['overflowing']} of {counts['pres']} <pre> overflow"


STUDY_SELECTORS = {"verdict": "#verdict ~ div.scroll table", "figure": "figure img"}


def assert_reader_first(counts: dict, n_images: int, n_details: int = 6) -> None:
    # Folded by default: full A/B table, final metrics, convergence, analysis, eval
    # summaries, setup (and with many arms the other baselines' curves).
    assert_whole_page(counts, n_images, n_details)
    verdict, figure = counts["found"]["verdict"], counts["found"]["figure"]
    assert 0 < verdict["top"] < verdict["bottom"] <= FOLD
    assert 0 < figure["top"] < FOLD


def test_verdict_and_first_figure_above_the_fold(tmp_path, capsys):
    report = write_report(rich_store(tmp_path / "store"), command="uncertainty-lr sweep")
    counts, shot = check_in_browser(report, tmp_path, "report_top", STUDY_SELECTORS)
    assert_reader_first(counts, n_images=7)
    assert counts["pres"] == 1  # the evaluation summaries, long lines wrapped
    assert shot.stat().st_size > 10_000
    with capsys.disabled():
        print(f"\nreport screenshot: {shot}")


def test_anytime_first_screen_is_verdict_figure_then_goal_matrix(digits_anytime, tmp_path, capsys):
    out = write_report(digits_anytime, tmp_path / "anytime", budgets=list(BUDGETS))
    selectors = {
        "verdict": "#verdict + p",
        "figure": "#accuracy-against-the-budget ~ figure img",
        "matrix": "#goal-check ~ div.scroll table.matrix",
        "bars": "#algoperf-score ~ figure img",
    }
    counts, shot = check_in_browser(out, tmp_path, "anytime_report_top", selectors,
                                    matrix="#goal-check ~ div.scroll table.matrix")  # fmt: skip
    found = counts["found"]
    verdict, figure, matrix = found["verdict"], found["figure"], found["matrix"]
    assert verdict["text"].startswith("digits_mlp: uncertainty, never told the budget, against "
                                      "the best budget-aware arm at each budget")  # fmt: skip
    assert " at 2 epochs (" in verdict["text"] and " at 4 epochs (" in verdict["text"]
    assert "Its LR never moved" not in verdict["text"]  # the default's level search moves it
    assert 0 < verdict["top"] < figure["top"] < FOLD
    assert figure["alt"] == "digits_mlp: test accuracy against the budget"
    assert figure["top"] < matrix["top"] < found["bars"]["top"]
    # 2 budgets x 2 uncertainty arms, each cell coloured by its outcome (none left white)
    assert len(counts["cells"]) == 4
    assert "rgb(255, 255, 255)" not in counts["cells"]
    # the budget figure and the one of the arms it leaves out, the AlgoPerf bars; folded:
    # that second figure, 3 tables, per budget the divergence table, A/B matrix and A/B
    # table, setup
    assert_whole_page(counts, n_images=3, n_details=1 + 3 + 3 * len(BUDGETS) + 1)
    with capsys.disabled():
        print(f"\nanytime report screenshot: {shot}")


@pytest.mark.slow
def test_demo_report_in_browser(tmp_path, capsys):
    """The report of ``uncertainty-lr demo`` (about two minutes of training on 2 cores)."""
    from uncertainty_lr.cli import main

    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--quiet"]) == 0
    md = (out / "report" / "report.md").read_text(encoding="utf-8")
    # the demo shows the schedule acting: both uncertainty arms' LRs move on digits
    assert "uncertainty:budget=known" in md and "Its LR never moved" not in md
    counts, shot = check_in_browser(out / "report", tmp_path, "demo_report_top", STUDY_SELECTORS)
    # 10 arms: the curves of the uncertainty arms and the 3 best baselines, the others folded
    assert_reader_first(counts, n_images=4, n_details=7)
    with capsys.disabled():
        print(f"\ndemo report screenshot: {shot}")

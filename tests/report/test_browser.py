"""The report as a reader sees it: rendered by headless Chromium at 1280 px wide.

Checks that the verdict table and the first figure are inside the first 1,000 pixels,
that every image decodes and that every folded section opens; saves a screenshot of the
top of the page and prints its path (``REPORT_SCREENSHOT_DIR`` chooses the folder, so CI
can keep it as an artifact; default: the test's temporary folder).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from uncertainty_lr.report import write_report

from .test_report import rich_store

WIDTH, FOLD = 1280, 1000

PROBE = """<script>
window.addEventListener("load", function () {
  var imgs = Array.from(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  var top = function (el) { return el ? Math.round(el.getBoundingClientRect().top + window.scrollY) : -1; };
  var verdict = document.querySelector("#verdict ~ div.scroll table");
  var figure = document.querySelector("figure img");
  var details = Array.from(document.querySelectorAll("details"));
  var closedHeights = details.map(function (d) { return d.getBoundingClientRect().height; });
  details.forEach(function (d) { d.open = true; });
  var opened = details.filter(function (d, i) {
    return d.open && d.getBoundingClientRect().height > closedHeights[i] + 20;
  }).length;
  details.forEach(function (d) { d.open = false; });
  var div = document.createElement("div");
  div.id = "probe";
  div.textContent = "images=" + imgs.length + " decoded=" + ok + " verdict_top=" + top(verdict) +
    " verdict_bottom=" + (verdict ? top(verdict) + Math.round(verdict.getBoundingClientRect().height) : -1) +
    " figure_top=" + top(figure) + " details=" + details.length + " opened=" + opened +
    " width=" + window.innerWidth;
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


def check_in_browser(report_dir: Path, work: Path, name: str) -> tuple[dict[str, int], Path]:
    """Probe numbers of ``report_dir/report.html`` and the path of its screenshot."""
    browser = chromium()
    if browser is None:
        pytest.skip("chromium not installed: apt-get install chromium (the CI script installs it)")
    page = work / "probe.html"
    page.write_text((report_dir / "report.html").read_text() + PROBE, encoding="utf-8")
    result = _run(browser, work / "profile", "--dump-dom", page.as_uri())
    marker = result.stdout.split('<div id="probe">')[-1].split("</div>")[0]
    counts = {key: int(value) for key, value in (item.split("=") for item in marker.split())}
    shots = Path(os.environ.get("REPORT_SCREENSHOT_DIR") or work)
    shots.mkdir(parents=True, exist_ok=True)
    shot = shots / f"{name}.png"
    _run(browser, work / "profile", f"--screenshot={shot}", (report_dir / "report.html").as_uri())
    return counts, shot


def assert_reader_first(counts: dict[str, int], n_images: int) -> None:
    assert counts["width"] == WIDTH
    assert counts["images"] == n_images and counts["decoded"] == n_images
    assert 0 < counts["verdict_top"] < counts["verdict_bottom"] <= FOLD
    assert 0 < counts["figure_top"] < FOLD
    # Full A/B table, final metrics, convergence, analysis, eval summaries, setup.
    assert counts["details"] == 6 and counts["opened"] == counts["details"]


def test_verdict_and_first_figure_above_the_fold(tmp_path, capsys):
    report = write_report(rich_store(tmp_path / "store"), command="uncertainty-lr sweep")
    counts, shot = check_in_browser(report, tmp_path, "report_top")
    assert_reader_first(counts, n_images=7)
    assert shot.stat().st_size > 10_000
    with capsys.disabled():
        print(f"\nreport screenshot: {shot}")


@pytest.mark.slow
def test_demo_report_in_browser(tmp_path, capsys):
    """The report of ``uncertainty-lr demo`` (about two minutes of training on 2 cores)."""
    from uncertainty_lr.cli import main

    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--quiet"]) == 0
    counts, shot = check_in_browser(out / "report", tmp_path, "demo_report_top")
    assert_reader_first(counts, n_images=3)
    with capsys.disabled():
        print(f"\ndemo report screenshot: {shot}")

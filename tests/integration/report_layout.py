"""How a run's report lays out in headless Chromium at 1280 x 900, measured in the page.

A copy of report.html gets a script that measures, after layout, what a reader
at that size sees: does anything overflow sideways, are all lifeline heads
inside the window, how wide is each phase bar of the page's first request, and
the journey map's numbers with their frames. Chromium's --dump-dom hands the
result back.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from itertools import pairwise
from pathlib import Path
from typing import Any

WIDTH, HEIGHT = 1280, 900
MEASURE = """<script>(function () {
  const vw = window.innerWidth, out = {vw: vw};
  out.page_overflow = document.documentElement.scrollWidth - vw;
  out.boxes = [...document.querySelectorAll('.scroll')].map(e => e.scrollWidth - e.clientWidth);
  out.heads = [...document.querySelectorAll('svg.heads .lifeline')]
    .map(g => g.getBoundingClientRect().right);
  const req = document.querySelector('svg.waterfall g.req');
  out.bars = req ? [...req.querySelectorAll('rect')]
    .map(r => [r.getBoundingClientRect().width, r.getAttribute('fill')]) : [];
  out.hops = [...document.querySelectorAll('g.jhop')]
    .map(g => [parseInt(g.querySelector('text').textContent), parseInt(g.dataset.frame)]);
  const pre = document.createElement('pre');
  pre.id = 'layout-check';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();</script>"""


def measure(report: Path) -> tuple[dict[str, Any], str]:
    """The page's measurements and Chromium's console output."""
    chromium = shutil.which("chromium")
    assert chromium, "chromium is missing: `lab tools` installs it"
    with tempfile.TemporaryDirectory() as d:
        copy = Path(d) / "report.html"
        copy.write_text(report.read_text().replace("</body>", MEASURE + "</body>"))
        r = subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--window-size={WIDTH},{HEIGHT}", f"--user-data-dir={d}/profile",
             "--enable-logging=stderr", "--v=0", "--dump-dom", copy.as_uri()],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    m = re.search(r'<pre id="layout-check">(.*?)</pre>', r.stdout, re.S)
    assert m, f"the measuring script did not run: {r.stderr[-800:]}"
    return json.loads(m.group(1)), r.stderr


def assert_fits(report: Path) -> None:
    """The report reads at 1280 px: no sideways scroll, heads in view, bars wide, map in order."""
    got, console = measure(report)
    assert got["vw"] == WIDTH
    assert got["page_overflow"] <= 0, got
    assert all(extra <= 1 for extra in got["boxes"]), got["boxes"]
    assert got["heads"], "no lifeline heads"
    assert all(right <= WIDTH for right in got["heads"]), got["heads"]
    assert got["bars"], "no waterfall bar"
    assert all(width >= 40 - 0.5 for width, _ in got["bars"]), got["bars"]
    colours = [fill for _, fill in got["bars"]]
    assert all(a != b for a, b in pairwise(colours)), colours
    numbers = [n for n, _ in got["hops"]]
    frames = [f for _, f in got["hops"]]
    assert numbers == list(range(1, len(numbers) + 1)), numbers
    assert frames == sorted(frames), frames
    errors = [ln for ln in console.splitlines() if "CONSOLE" in ln and "rror" in ln]
    assert not errors, errors

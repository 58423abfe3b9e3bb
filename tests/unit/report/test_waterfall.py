"""The waterfall's axis: scaled to the requests, readable phases, no run overhead."""

import json
from pathlib import Path
from typing import Any

from lab.report.waterfall import (
    BAR_W,
    MIN_PX,
    page_loads,
    page_request,
    phase_spans,
    scale,
    step_scale,
    waterfall_svg,
)

from .conftest import DATA, SAMPLE

BROWSE = json.loads((DATA / "browse-cold" / "timeline.json").read_text())


def _widths(timeline: dict) -> list[float]:
    rows = timeline["fetches"]
    target = (timeline.get("steps") or [{}])[0].get("target", "")
    axis = scale(rows, target)
    page = page_request(rows, target)
    return [
        axis.at(page["started"], b) - axis.at(page["started"], a) for _k, a, b in phase_spans(page)
    ]


def test_first_request_phases_are_40px_on_the_real_browse() -> None:
    """Each bar of the page's first request is at least 40 px wide at the default width."""
    widths = _widths(BROWSE)
    assert len(widths) == 6
    assert all(w >= MIN_PX - 1e-9 for w in widths), widths


def test_first_request_phases_are_40px_on_the_sample() -> None:
    """The same holds on the older sample run (no step or visit fields)."""
    assert all(
        w >= MIN_PX - 1e-9 for w in _widths(json.loads((SAMPLE / "timeline.json").read_text()))
    )


def test_axis_runs_from_first_start_to_last_byte() -> None:
    """The axis starts at the first request and ends at the last byte: no capture or prep time."""
    rows = BROWSE["fetches"]
    axis = scale(rows)
    assert axis.start == min(f["started"] for f in rows)
    last = max((f["started"] - axis.start) * 1000 + f["total_ms"] for f in rows)
    assert abs(axis.end_ms - last) < 1e-6
    assert axis.end_ms < (BROWSE["finished"] - BROWSE["started"]) * 1000 / 4
    assert abs(axis.x(axis.end_ms) - BAR_W) < 1e-6
    assert axis.x(0) == 0


def test_axis_is_monotone() -> None:
    """Later times are never to the left of earlier ones."""
    axis = scale(BROWSE["fetches"])
    xs = [axis.x(ms) for ms in range(0, int(axis.end_ms) + 1, 5)]
    assert xs == sorted(xs)


def test_subresources_get_a_share() -> None:
    """What came after the page gets at least a quarter of the width, however quick."""
    rows = BROWSE["fetches"]
    axis = scale(rows, "https://www.example.com/")
    page = rows[0]
    assert BAR_W - axis.at(page["started"], page["total_ms"]) >= BAR_W * 0.25 - 1e-6


def test_one_block_per_step_and_visit() -> None:
    """A warm browse with visits: 2 gives two page loads, each its own block."""
    warm = json.loads((DATA / "warm-run" / "timeline.json").read_text())
    loads = page_loads(warm)
    assert len(loads) == max(int(f.get("visit") or 1) for f in warm["fetches"])
    assert waterfall_svg(warm).count('<svg class="waterfall"') == len(loads)


def test_failed_and_reused_requests_are_marked() -> None:
    """A failed request is a dashed red bar with its error; a reused connection a marker."""
    rows = [
        {"url": "https://a.test/", "started": 10.0, "dns_ms": 5, "connect_ms": 1, "tls_ms": 2,
         "send_ms": 0.1, "ttfb_ms": 3, "download_ms": 0.1, "total_ms": 11.2, "status": 200},
        {"url": "https://a.test/x", "started": 10.02, "send_ms": 0.1, "ttfb_ms": 3,
         "download_ms": 0.1, "total_ms": 3.2, "status": 200, "reused_connection": True},
        {"url": "https://b.test/", "started": 10.03, "total_ms": 4, "status": 0,
         "error": "ERR_NAME_NOT_RESOLVED"},
    ]  # fmt: skip
    svg = waterfall_svg({"fetches": rows})
    assert "failed: ERR_NAME_NOT_RESOLVED" in svg
    assert 'stroke-dasharray="3 2"' in svg
    assert "<circle" in svg
    assert 'fill-opacity="0.5"' in svg


def test_steps_without_requests() -> None:
    """A run of API steps (no page loads) gets one bar per step, each at least 40 px."""
    steps: list[dict[str, Any]] = [
        {
            "index": i,
            "kind": "fetch",
            "target": "t",
            "started": s,
            "finished": e,
            "ms": (e - s) * 1000,
        }
        for i, (s, e) in enumerate([(0.0, 0.5), (0.5, 14.5), (14.5, 15.0)], 1)
    ]
    axis = step_scale(steps)
    for s in steps:
        assert axis.at(s["finished"]) - axis.at(s["started"]) >= MIN_PX - 1e-9
    assert waterfall_svg({"fetches": [], "steps": steps}).count("<rect") >= 3


def test_sample_dir_exists() -> None:
    """The real browse timeline the tests use is in the repository."""
    assert Path(DATA / "browse-cold" / "timeline.json").exists()

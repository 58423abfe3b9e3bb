"""A request waterfall, like a browser's network panel, from timeline.json."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

PHASES = (  # timeline field, legend, colour (devtools' conventions)
    ("dns_ms", "DNS", "#2a9d8f"),
    ("connect_ms", "TCP connect", "#e9a23b"),
    ("tls_ms", "TLS", "#9b5de5"),
    ("send_ms", "send", "#8d99ae"),
    ("ttfb_ms", "wait (TTFB)", "#43aa8b"),
    ("download_ms", "download", "#277da1"),
)
LABEL_W = 300
BAR_W = 560
ROW = 22


def _nice_step(total_ms: float) -> float:
    for step in (0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000):
        if total_ms / step <= 10:
            return step
    return 10000.0


def waterfall_svg(timeline: Mapping[str, Any]) -> str:
    """One row per request; bars start when the request started, phases end to end."""
    fetches: Sequence[Mapping[str, Any]] = timeline.get("fetches") or []
    if not fetches:
        return '<p class="muted">The timeline has no requests.</p>'
    t0 = float(timeline.get("started") or fetches[0]["started"])
    end = max(float(f["started"]) - t0 + float(f["total_ms"]) / 1000 for f in fetches)
    end_ms = max(end * 1000, float(timeline.get("finished", t0) or t0) * 1000 - t0 * 1000, 1.0)
    scale = BAR_W / end_ms
    height = ROW * (len(fetches) + 2)
    width = LABEL_W + BAR_W + 160
    out = [
        f'<svg class="waterfall" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}">'
    ]
    step = _nice_step(end_ms)
    tick = 0.0
    while tick <= end_ms + 1e-9:
        x = LABEL_W + tick * scale
        out.append(
            f'<line class="tick" x1="{x:.1f}" y1="{ROW - 6}" x2="{x:.1f}" '
            f'y2="{height - ROW}"/><text class="tick" x="{x:.1f}" y="{ROW - 9}" '
            f'text-anchor="middle">{tick:g} ms</text>'
        )
        tick += step
    for i, f in enumerate(fetches):
        y = ROW * (i + 1)
        url = str(f["url"]).replace("https://", "")
        short = url if len(url) <= 42 else url[:39] + "…"
        x = LABEL_W + (float(f["started"]) - t0) * 1000 * scale
        out.append(
            f'<g class="req" data-url="{escape(str(f["url"]))}">'
            f'<text x="4" y="{y + 15}">{escape(short)}</text>'
        )
        for key, name, color in PHASES:
            ms = float(f.get(key) or 0)
            if ms <= 0:
                continue
            w = max(ms * scale, 1.0)
            out.append(
                f'<rect x="{x:.2f}" y="{y + 4}" width="{w:.2f}" height="{ROW - 8}" '
                f'fill="{color}"><title>{escape(name)}: {ms:.3f} ms</title></rect>'
            )
            x += ms * scale
        reuse = (
            " · reused connection"
            if f.get("reused_connection")
            else " · TLS resumed"
            if f.get("tls_resumed")
            else ""
        )
        visit = int(f.get("visit") or 1)
        reuse += f" · visit {visit}" if visit > 1 else ""
        status = f.get("status") or "ERR"
        cache = f" · {f['cache']}" if f.get("cache") else ""
        out.append(
            f'<text x="{x + 6:.1f}" y="{y + 15}" class="muted">'
            f"{status}{escape(cache)} · {float(f['total_ms']):.1f} ms{reuse}</text></g>"
        )
    y = height - ROW + 6
    x = 4.0
    for _key, name, color in PHASES:
        out.append(
            f'<rect x="{x}" y="{y}" width="12" height="10" fill="{color}"/>'
            f'<text x="{x + 16}" y="{y + 9}">{name}</text>'
        )
        x += 24 + 7 * len(name)
    out.append("</svg>")
    return "".join(out)

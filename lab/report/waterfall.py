"""A request waterfall, like a browser's network panel, from timeline.json.

One block per page load (a step, or a visit of a step), each with its own axis
from its first request's start (its DNS lookup) to the last byte of its last
request: the run's own overhead (capture start and stop, the client starting,
the report) is not a request and is left out.

A linear axis would squeeze a 0.3 ms send next to a 500 ms wait into nothing,
so the axis is piecewise linear (``scale``): each phase of the page's own
request gets at least ``MIN_PX``, the rest of the width is shared in
proportion to time. The ticks sit on the joints and give the real times.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from itertools import pairwise
from typing import Any

Fetch = Mapping[str, Any]

PHASES = (  # timeline field, legend, colour (devtools' conventions)
    ("dns_ms", "DNS", "#2a9d8f"),
    ("connect_ms", "TCP connect", "#e9a23b"),
    ("tls_ms", "TLS", "#9b5de5"),
    ("send_ms", "send", "#8d99ae"),
    ("ttfb_ms", "wait (TTFB)", "#43aa8b"),
    ("download_ms", "download", "#277da1"),
)
FAILED = "#c0392b"
LABEL_W = 210
BAR_W = 600
INFO_W = 300
ROW = 22
MIN_PX = 40.0
TAIL_SHARE = 0.25  # of the width, at least, for what came after the page itself
REUSE = "kept-alive connection reused (lighter bar)"


@dataclass(frozen=True)
class Axis:
    """A piecewise-linear map from ms after ``start`` to px; ``joints`` are (ms, px)."""

    start: float  # epoch seconds at x = 0
    joints: tuple[tuple[float, float], ...]

    @property
    def end_ms(self) -> float:
        return self.joints[-1][0]

    def x(self, ms: float) -> float:
        """The px of a time in ms after ``start`` (clamped to the axis)."""
        (m0, p0), *rest = self.joints
        if ms <= m0:
            return p0
        for m1, p1 in rest:
            if ms <= m1:
                return p0 + (p1 - p0) * (ms - m0) / (m1 - m0) if m1 > m0 else p1
            m0, p0 = m1, p1
        return p0

    def at(self, epoch: float, ms: float = 0.0) -> float:
        """The px of ``ms`` after an epoch time."""
        return self.x((epoch - self.start) * 1000 + ms)


def failed(f: Fetch) -> bool:
    return bool(f.get("error")) or not f.get("status")


def phase_spans(f: Fetch) -> list[tuple[str, float, float]]:
    """(field, start ms, end ms) of each non-empty phase, from the request's own start."""
    out, t = [], 0.0
    for key, _name, _color in PHASES:
        ms = float(f.get(key) or 0)
        if ms > 0:
            out.append((key, t, t + ms))
        t += ms
    return out


def page_request(fetches: Sequence[Fetch], target: str = "") -> Fetch:
    """The page's own request: the one for the step's target, else the first to start."""
    for f in fetches:
        if target and f.get("url") == target and not failed(f):
            return f
    return min(fetches, key=lambda f: float(f["started"]))


def _axis(
    start: float, end_ms: float, floored: Sequence[tuple[float, float, float]], width: float
) -> Axis:
    """Joints where each FLOORED (start ms, end ms, px) gets its px and the rest is proportional."""
    cuts = sorted({0.0, end_ms, *(m for a, b, _ in floored for m in (a, b) if 0 <= m <= end_ms)})
    segs = list(pairwise(cuts))
    floors = [max((px for a, b, px in floored if a <= s and e <= b), default=0.0) for s, e in segs]
    shrink = min(1.0, width / max(sum(floors), 1e-9))  # too many floors: share the width
    floors = [f * shrink for f in floors]
    per_ms = (width - sum(floors)) / end_ms if end_ms > 0 else 0.0
    joints, px = [(0.0, 0.0)], 0.0
    for (s, e), fl in zip(segs, floors, strict=True):
        px += fl + (e - s) * per_ms
        joints.append((e, px))
    return Axis(start, tuple(joints))


def scale(
    fetches: Sequence[Fetch], target: str = "", width: float = BAR_W, min_px: float = MIN_PX
) -> Axis:
    """The axis of one page load: first request's start to the last byte of the last one."""
    start = min(float(f["started"]) for f in fetches)
    end_ms = max(
        (float(f["started"]) - start) * 1000 + float(f.get("total_ms") or 0) for f in fetches
    )
    page = page_request(fetches, target)
    offset = (float(page["started"]) - start) * 1000
    spans = phase_spans(page)
    floored = [(offset + a, offset + b, min_px) for _k, a, b in spans]
    page_end = offset + (spans[-1][2] if spans else 0.0)
    if len(fetches) > 1 and end_ms > page_end:  # the subresources, however quick, get a share
        floored.append((page_end, end_ms, width * TAIL_SHARE))
    return _axis(start, max(end_ms, 1e-3), floored, width)


def step_scale(steps: Sequence[Mapping[str, Any]], width: float = BAR_W) -> Axis:
    """For runs with no page loads: one interval per step, each at least MIN_PX."""
    start = float(steps[0]["started"])
    spans = [
        ((float(s["started"]) - start) * 1000, (float(s["finished"]) - start) * 1000, MIN_PX)
        for s in steps
    ]
    return _axis(start, max(max(e for _s, e, _p in spans), 1e-3), spans, width)


def _ms(ms: float) -> str:
    return f"{ms:.0f}" if ms >= 10 else f"{ms:.1f}" if ms >= 1 else f"{ms:.2f}"


def _ticks(axis: Axis, y0: float, y1: float) -> str:
    out, last = [], -1e9
    for i, (ms, px) in enumerate(axis.joints):
        x = LABEL_W + px
        band = "" if i % 2 else f'<rect class="band" x="{x:.1f}" y="{y0}" '
        if band and i + 1 < len(axis.joints):
            w = axis.joints[i + 1][1] - px
            out.append(f'{band}width="{w:.1f}" height="{y1 - y0}" fill="#f6f8fb"/>')
        out.append(f'<line class="tick" x1="{x:.1f}" y1="{y0}" x2="{x:.1f}" y2="{y1}"/>')
        if x - last >= 44 or i == len(axis.joints) - 1:
            out.append(
                f'<text x="{x:.1f}" y="{y0 - 3}" fill="#666" text-anchor="middle">'
                f"{_ms(ms) if i else '0 ms'}</text>"
            )
            last = x
    return "".join(out)


def _info(f: Fetch) -> str:
    if failed(f):
        return f"failed: {f.get('error') or 'no answer'}"
    http = f.get("http_version") or {"http/1.1": "1.1", "h2": "2", "h3": "3"}.get(
        str(f.get("alpn") or ""), ""
    )
    parts = [str(f.get("status")), str(f.get("cache") or ""), f"{float(f['total_ms']):.1f} ms"]
    parts.append(f"h{http}" if http else "")
    parts.append(f"conn {f['connection']}" if f.get("connection") else "")
    parts.append("resumed" if f.get("tls_resumed") and not f.get("reused_connection") else "")
    return " · ".join(p for p in parts if p)


def _row(f: Fetch, axis: Axis, y: float, page: bool) -> str:
    url = str(f["url"]).replace("https://", "")
    short = url if len(url) <= 30 else url[:29] + "…"
    x0 = axis.at(float(f["started"]))
    bold = ' font-weight="bold"' if page else ""
    out = [
        f'<g class="req{" failed" if failed(f) else ""}" data-url="{escape(str(f["url"]))}">'
        f'<text x="4" y="{y + 15}"{bold}>{escape(short)}'
        f"<title>{escape(str(f['url']))}</title></text>"
    ]
    if failed(f):
        w = max(axis.at(float(f["started"]), float(f.get("total_ms") or 0)) - x0, 2.0)
        out.append(
            f'<rect x="{LABEL_W + x0:.2f}" y="{y + 5}" width="{w:.2f}" height="{ROW - 10}" '
            f'fill="#fbe3e1" stroke="{FAILED}" stroke-dasharray="3 2"><title>failed after '
            f"{float(f.get('total_ms') or 0):.1f} ms: {escape(str(f.get('error')))}</title></rect>"
        )
    reused = bool(f.get("reused_connection"))
    light = ' fill-opacity="0.5"' if reused else ""
    if f.get("step_ms"):
        w = max(axis.at(float(f["started"]), float(f["step_ms"])) - x0, 2.0)
        out.append(
            f'<rect x="{LABEL_W + x0:.2f}" y="{y + 4}" width="{w:.2f}" height="{ROW - 8}" '
            f'fill="#8d99ae"><title>step: {float(f["step_ms"]):.1f} ms</title></rect>'
        )
    for key, a, b in phase_spans(f) if not failed(f) else []:
        name, color = next((n, c) for k, n, c in PHASES if k == key)
        xa = axis.at(float(f["started"]), a)
        w = max(axis.at(float(f["started"]), b) - xa, 1.0)
        out.append(
            f'<rect x="{LABEL_W + xa:.2f}" y="{y + 4}" width="{w:.2f}" height="{ROW - 8}" '
            f'fill="{color}"{light}>'
            f"<title>{escape(name)}: {b - a:.3f} ms</title></rect>"
        )
        if w >= 6.6 * len(_ms(b - a)) + 4:
            out.append(
                f'<text class="in" x="{LABEL_W + xa + w / 2:.1f}" y="{y + 15}" '
                f'text-anchor="middle" fill="#fff">{_ms(b - a)}</text>'
            )
    if reused:
        out.append(
            f'<circle cx="{LABEL_W + x0:.1f}" cy="{y + ROW / 2}" r="4" fill="#fff" '
            f'stroke="#555"><title>kept-alive connection {f.get("connection") or ""} '
            "reused: no DNS, TCP or TLS</title></circle>"
        )
    colour = f' fill="{FAILED}"' if failed(f) else ' class="muted"'
    out.append(
        f'<text x="{LABEL_W + BAR_W + 12}" y="{y + 15}"{colour}>{escape(_info(f))}</text></g>'
    )
    return "".join(out)


def _block(title: str, rows: Sequence[Fetch], axis: Axis, page: Fetch) -> str:
    top = 40
    height = top + ROW * len(rows) + 6
    width = LABEL_W + BAR_W + INFO_W
    out = [
        f'<svg class="waterfall" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}">'
        f'<text x="4" y="14" font-weight="bold">{escape(title)}</text>',
        _ticks(axis, top - 6, height - 2),
    ]
    out += [_row(f, axis, top + ROW * i, f is page) for i, f in enumerate(rows)]
    out.append("</svg>")
    return "".join(out)


def legend_svg() -> str:
    """The phases' colours, the reused-connection marker and the failed-request bar."""
    out, x = [], 4.0
    for _key, name, color in PHASES:
        out.append(
            f'<rect x="{x}" y="4" width="12" height="10" fill="{color}"/>'
            f'<text x="{x + 16}" y="13">{name}</text>'
        )
        x += 26 + 6.6 * len(name)
    out.append(
        f'<circle cx="{x + 5}" cy="9" r="4" fill="#fff" stroke="#555"/>'
        f'<text x="{x + 14}" y="13">{REUSE}</text>'
    )
    x += 26 + 6.6 * len(REUSE)
    out.append(
        f'<rect x="{x}" y="4" width="18" height="10" fill="#fbe3e1" stroke="{FAILED}" '
        f'stroke-dasharray="3 2"/><text x="{x + 22}" y="13">failed</text>'
    )
    w = int(x + 70)
    return f'<svg class="legend" xmlns="http://www.w3.org/2000/svg" width="{w}" height="18">' + (
        "".join(out) + "</svg>"
    )


def page_loads(timeline: Mapping[str, Any]) -> list[tuple[str, str, list[Fetch]]]:
    """(title, target, requests) per step and visit, in the order they ran."""
    steps = {int(s.get("index") or 0): s for s in timeline.get("steps") or []}
    groups: dict[tuple[int, int], list[Fetch]] = {}
    for f in timeline.get("fetches") or []:
        groups.setdefault((int(f.get("step") or 0), int(f.get("visit") or 1)), []).append(f)
    out = []
    for (step, visit), rows in sorted(groups.items(), key=lambda g: float(g[1][0]["started"])):
        s = steps.get(step, {})
        target = str(s.get("target") or "")
        head = f"step {step} · " if step else ""
        head += f"visit {visit} · " if max(v for st, v in groups if st == step) > 1 else ""
        out.append((f"{head}{s.get('kind') or 'page load'} {target}".strip(), target, rows))
    return out


def _steps_block(steps: Sequence[Mapping[str, Any]]) -> str:
    axis = step_scale(steps)
    rows = [
        {
            "url": f"step {s.get('index')} {s.get('kind')} {s.get('target')}",
            "started": s["started"],
            "total_ms": float(s.get("ms") or (float(s["finished"]) - float(s["started"])) * 1000),
            "step_ms": float(s.get("ms") or 0) or 1e-3,
            "status": s.get("status") or s.get("rcode") or ("ok" if s.get("ok") else "-"),
            "error": s.get("error") or "",
            "cache": ",".join(s.get("cache") or []),
        }
        for s in steps
    ]
    return _block("steps (no per-request phases recorded)", rows, axis, rows[0])


def waterfall_svg(timeline: Mapping[str, Any]) -> str:
    """A legend, then one block per page load with its own axis."""
    loads = page_loads(timeline)
    if not loads:
        steps = [s for s in timeline.get("steps") or [] if s.get("started") and s.get("finished")]
        if not steps:
            return '<p class="muted">The timeline has no requests.</p>'
        return (
            '<p class="muted">This run made no page loads, so the client recorded no phases; '
            "one bar per step, from its start to its end (the client's start-up included). "
            "Each step gets at least 40 px; ticks give ms since the first step began.</p>"
            + _steps_block(steps)
        )
    note = (
        '<p class="muted">Each block runs from its first request\'s start (its DNS lookup) to '
        "the last byte of its last request; the run's own overhead is left out. The axis is "
        f"stretched so that each phase of the page's own request (bold) gets at least "
        f"{MIN_PX:.0f} px: ticks give real ms, numbers in the bars are each phase's ms.</p>"
    )
    blocks = []
    for title, target, rows in loads:
        rows = sorted(rows, key=lambda f: float(f["started"]))
        axis = scale(rows, target)
        total = axis.end_ms
        blocks.append(
            _block(
                f"{title} · first request to last byte {total:.1f} ms",
                rows,
                axis,
                page_request(rows, target),
            )
        )
    return note + legend_svg() + "".join(blocks)

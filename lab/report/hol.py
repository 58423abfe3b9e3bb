"""One lost packet, drawn: each response's last byte on the wire beside when the browser had it.

From the loss analysis the runner stores in timeline.json (``hol``, one entry
per browse step after a drop fault; lab/scenario/hol.py). One figure per
step, one row per response on the connection that lost the packet, in the
order their last bytes crossed the wire; the axis is milliseconds from the
lost packet. A dot is the last byte on the wire, the bar runs to the moment
the browser had the whole response: a long bar that ends at the repair line
is a response that waited for a packet that was not its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

LABEL_W = 250
PLOT_W = 700
ROW = 18
TOP = 34
VERDICTS = {  # verdict -> (colour, legend)
    "before": ("#8d99ae", "done before the loss"),
    "lost": ("#e76f51", "its own bytes were in the lost packet"),
    "stalled": ("#c0392b", "had arrived, waited for the repair"),
    "unblocked": ("#2a9d8f", "arrived after the loss, handed over at once"),
    "qpack": ("#9b5de5", "waited for the QPACK encoder stream, not for the loss"),
    "close": ("#e9c46a", "arrived just before the repair (cannot tell)"),
    "after": ("#577590", "arrived after the repair"),
}
PROTOCOL = {"2": "HTTP/2 over TCP", "3": "HTTP/3 over QUIC"}


def _figure(h: Mapping[str, Any]) -> str:
    rows: Sequence[Mapping[str, Any]] = h["responses"]
    t0 = float(h["lost_at"])
    times = [0.0, float(h["repair_ms"])]
    for r in rows:
        times += [(float(r["wire"]) - t0) * 1000, (float(r["app"]) - t0) * 1000]
    lo, hi = min(min(times), 0.0), max(times)
    span = max(hi - lo, 1.0)

    def x(ms: float) -> float:
        return LABEL_W + (ms - lo) / span * PLOT_W

    height = TOP + ROW * len(rows) + 24
    out = [
        f'<svg class="hol" width="{LABEL_W + PLOT_W + 40}" height="{height}" '
        f'viewBox="0 0 {LABEL_W + PLOT_W + 40} {height}" role="img" '
        f'aria-label="responses around one lost packet, step {h["step"]}">'
    ]
    for ms, label, colour in ((0.0, "lost", "#e76f51"), (float(h["repair_ms"]), "repair", "#333")):
        out.append(
            f'<line x1="{x(ms):.1f}" y1="{TOP - 14}" x2="{x(ms):.1f}" y2="{height - 20}" '
            f'stroke="{colour}" stroke-dasharray="4 3"/>'
            f'<text x="{x(ms):.1f}" y="{TOP - 18}" text-anchor="middle">{label} '
            f"{ms:+.0f} ms</text>"
        )
    for i, r in enumerate(rows):
        y = TOP + ROW * i + ROW / 2
        colour, legend = VERDICTS.get(str(r["verdict"]), ("#999", str(r["verdict"])))
        wire, app = (float(r["wire"]) - t0) * 1000, (float(r["app"]) - t0) * 1000
        name = str(r["url"]).rsplit("/", 1)[-1]
        out.append(
            f'<text x="{LABEL_W - 8}" y="{y + 4:.1f}" text-anchor="end">'
            f"stream {r['stream_id']} {escape(name[:24])}</text>"
            f"<g><title>{escape(str(r['url']))}: last byte on the wire {wire:+.1f} ms, "
            f"browser had it {app:+.1f} ms ({escape(legend)})</title>"
            f'<line x1="{x(wire):.1f}" y1="{y:.1f}" x2="{x(max(app, wire)):.1f}" y2="{y:.1f}" '
            f'stroke="{colour}" stroke-width="6" stroke-linecap="round" opacity="0.55"/>'
            f'<circle cx="{x(wire):.1f}" cy="{y:.1f}" r="4" fill="{colour}"/></g>'
        )
    out.append(
        f'<text x="{LABEL_W}" y="{height - 4}">{lo:+.0f} ms</text>'
        f'<text x="{LABEL_W + PLOT_W}" y="{height - 4}" text-anchor="end">{hi:+.0f} ms '
        "from the lost packet</text></svg>"
    )
    return "".join(out)


def _sentence(h: Mapping[str, Any]) -> str:
    n = {v: sum(r["verdict"] == v for r in h["responses"]) for v in VERDICTS}
    total = len(h["responses"])
    head = (
        f"<b>Step {h['step']}, {PROTOCOL.get(str(h['protocol']), h['protocol'])}</b> to "
        f"{escape(str(h['host']))}: frame {h['lost_frame']} ({h['lost_bytes']} bytes) was lost "
        f"on the way to the client; the edge sent its bytes again {h['repair_ms']:.0f} ms "
        f"later (frame {h['repaired_frame']}). "
    )
    if str(h["protocol"]) == "2":
        tail = (
            f"{n['stalled']} of {total} responses had crossed the wire after it and still "
            "waited for it: TCP hands the browser its bytes in order only, so every "
            "segment behind the hole sat in the client's kernel until the repair came."
        )
    else:
        lost = ", ".join(str(s) for s in h["lost_streams"]) or "none"
        tail = (
            f"{n['unblocked']} of {total} responses crossed the wire after it and were "
            f"handed over at once; only stream(s) {lost}, whose frames rode in the lost "
            f"packet, waited ({n['stalled']} other stalled). Each QUIC stream is put "
            "together on its own."
        )
        if n["qpack"]:
            tail += (
                f" {n['qpack']} waited for something else: their header blocks referred to "
                "QPACK dynamic table entries whose insert instructions, on the server's "
                "encoder stream, crossed the wire after them (RFC 9204 section 2.1.2: the "
                "one place where HTTP/3 streams still wait for each other; aioquic sends "
                "that stream in turn with the responses, not ahead of them)."
            )
    return head + tail


def hol_section(timeline: Mapping[str, Any]) -> str:
    """The "one lost packet" figures of a run, or "" when no step lost a chosen packet."""
    found: Sequence[Mapping[str, Any]] = timeline.get("hol") or []
    if not found:
        return ""
    legend = " ".join(
        f'<span style="color:{c}">&#9679;</span> {escape(text)}' for c, text in VERDICTS.values()
    )
    parts = [
        "<h2>One lost packet</h2>",
        '<p class="muted">Each row is one response on the connection that lost the packet: '
        "the dot is its last byte crossing the wire (the capture), the bar runs to the moment "
        "the browser had the whole response (its timeline). Head-of-line blocking is a long "
        f'bar for a response that had already arrived.</p><p class="muted">{legend}</p>',
    ]
    for h in found:
        parts.append(f'<p>{_sentence(h)}</p><div class="scroll">{_figure(h)}</div>')
    return "".join(parts)

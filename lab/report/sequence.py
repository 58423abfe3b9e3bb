"""Lay out the sequence diagram: lifelines, phases, one arrow per message.

Pure layout: messages in, SVG text out. Each phase (a DNS lookup, a
handshake, the requests on one connection, the teardown) is its own SVG
inside a <details> element, so a long run folds phase by phase with no
script; the lifeline heads are drawn once, above them all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

from lab.report.hosts import host_name, host_role, lifeline_order
from lab.report.packets import Message

COL = 170  # distance between lifelines
LEFT = 60  # room for the frame numbers
ROW = 24
HEAD = 40
COLORS = {
    "dns": "#1f6fb2",
    "tcp": "#6b6b6b",
    "tls": "#8a3ab9",
    "http": "#1b8a3a",
    "alert": "#c0392b",
    "quic": "#b06a00",
}


@dataclass
class Phase:
    key: str
    title: str
    messages: list[Message] = field(default_factory=list)

    @property
    def frames(self) -> tuple[int, int]:
        return self.messages[0].frame, self.messages[-1].frame


def _phase_key(m: Message) -> str:
    if m.quic is not None:
        return f"quic:{m.quic.conn}"
    if m.proto == "dns":
        return "dns"
    if m.kind in ("fin", "rst"):
        return "close"
    if m.kind == "retransmission":
        return ""  # belongs to whatever phase it interrupts
    if m.kind == "new-session-ticket":
        # Sent once the server has the client's Finished: it may land before or after
        # the first request, so it joins whatever phase is open rather than split one.
        return ""
    if m.proto == "http":
        return f"http:{m.stream}"
    return f"connect:{m.stream}"


def _phase_title(key: str, first: Message) -> str:
    if key == "dns":
        name = first.dns.qname if first.dns else ""
        return f"DNS: {host_name(first.src)} looks up {name}"
    if key == "close":
        return "Connections closed (FIN)"
    peer = host_name(first.dst if first.kind == "syn" else first.src)
    if key.startswith("quic:"):
        return (
            f"QUIC: {host_name(first.src)} ↔ {host_name(first.dst)}, handshake and HTTP/3"
            " streams in one UDP flow"
        )
    if key.startswith("connect:"):
        return f"TCP and TLS handshakes: {host_name(first.src)} → {host_name(first.dst)}"
    return f"HTTP on connection {key.split(':')[1]} ({peer} ↔ {host_name(first.dst)})"


def phases(messages: Sequence[Message]) -> list[Phase]:
    """Group consecutive messages into phases, keeping capture order."""
    out: list[Phase] = []
    for m in messages:
        key = _phase_key(m) or (out[-1].key if out else "connect")
        if not out or out[-1].key != key:
            out.append(Phase(key, _phase_title(key, m)))
        out[-1].messages.append(m)
    return out


def _x(col: int) -> int:
    return LEFT + COL // 2 + col * COL


def _color_key(m: Message) -> str:
    if m.kind in ("rst", "retransmission") or (m.dns is not None and m.dns.rcode != "NOERROR"):
        return "alert"
    return m.proto if m.proto in COLORS else "tcp"


def lifeline_heads(addresses: Sequence[str]) -> str:
    """The boxes naming each lifeline, as one SVG."""
    width = LEFT + COL * len(addresses)
    parts = [
        f'<svg class="heads" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{HEAD}" viewBox="0 0 {width} {HEAD}" role="img">'
    ]
    for i, addr in enumerate(addresses):
        x = _x(i)
        name = escape(host_name(addr))
        parts.append(
            f'<g class="lifeline" data-host="{name}" data-address="{escape(addr)}">'
            f"<title>{name} ({escape(addr)}): {escape(host_role(addr))}</title>"
            f'<rect x="{x - COL // 2 + 6}" y="4" width="{COL - 12}" height="30" rx="5"/>'
            f'<text x="{x}" y="23" text-anchor="middle">{name}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _arrow(m: Message, y: int, col: dict[str, int], marker: str) -> str:
    x1, x2 = _x(col[m.src]), _x(col[m.dst])
    key = _color_key(m)
    color = COLORS[key]
    tip = f"frame {m.frame} · {m.time:.6f} · {host_name(m.src)} → {host_name(m.dst)}: {m.label}"
    left = min(x1, x2)
    if x1 == x2:  # a host talking to itself: a small loop
        shape = (
            f'<path d="M{x1},{y} h30 v8 h-30" fill="none" stroke="{color}" '
            f'marker-end="url(#{marker}-{key})"/>'
        )
    else:
        end = x2 - 4 if x2 > x1 else x2 + 4
        shape = (
            f'<line x1="{x1}" y1="{y}" x2="{end}" y2="{y}" stroke="{color}" '
            f'marker-end="url(#{marker}-{key})"/>'
        )
    return (
        f'<g class="msg {m.proto} {m.kind}" data-frame="{m.frame}" '
        f'data-from="{escape(host_name(m.src))}" data-to="{escape(host_name(m.dst))}">'
        f"<title>{escape(tip)}</title>"
        f'<text class="fno" x="4" y="{y + 4}">#{m.frame}</text>'
        f"{shape}"
        f'<text class="lbl" x="{left + 8}" y="{y - 5}" fill="{color}">'
        f"{escape(m.label)}</text></g>"
    )


def phase_svg(phase: Phase, addresses: Sequence[str], index: int) -> str:
    """One phase: the lifelines' stretch and an arrow per message, in capture order."""
    col = {a: i for i, a in enumerate(addresses)}
    width = LEFT + COL * len(addresses)
    height = ROW * len(phase.messages) + ROW // 2
    marker = f"ah{index}"
    parts = [
        f'<svg class="seq" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}">',
        "<defs>"
        + "".join(
            f'<marker id="{marker}-{k}" viewBox="0 0 10 10" refX="9" refY="5" '
            f'markerWidth="7" markerHeight="7" orient="auto">'
            f'<path d="M0,0 L10,5 L0,10 z" fill="{c}"/></marker>'
            for k, c in COLORS.items()
        )
        + "</defs>",
    ]
    for i in range(len(addresses)):
        parts.append(f'<line class="life" x1="{_x(i)}" y1="0" x2="{_x(i)}" y2="{height}"/>')
    for n, m in enumerate(phase.messages):
        parts.append(_arrow(m, ROW * n + ROW - 4, col, marker))
    parts.append("</svg>")
    return "".join(parts)


def sequence_html(messages: Sequence[Message], fold_after: int = 40) -> str:
    """The whole diagram: heads, then one foldable SVG per phase.

    With more than FOLD_AFTER messages, phases after the first few start folded.
    """
    addresses = lifeline_order(a for m in messages for a in (m.src, m.dst))
    parts = ['<div class="sequence">', lifeline_heads(addresses)]
    shown = 0
    for i, ph in enumerate(phases(messages)):
        first, last = ph.frames
        span = f"frame {first}" if first == last else f"frames {first}–{last}"
        is_open = " open" if len(messages) <= fold_after or shown < fold_after else ""
        shown += len(ph.messages)
        parts.append(
            f'<details class="phase"{is_open}><summary>{escape(ph.title)} '
            f'<span class="muted">({span}, {len(ph.messages)} messages)</span>'
            f"</summary>{phase_svg(ph, addresses, i)}</details>"
        )
    parts.append("</div>")
    return "".join(parts)

"""Lay out the sequence diagram: lifelines, phases, one arrow per message.

Pure layout: messages in, SVG text out. Each phase (a DNS lookup, a
handshake, the requests on one connection, the teardown) is its own SVG
inside a <details> element, so a long run folds phase by phase with no
script; the lifeline heads are drawn once, above them all (the page keeps
them in view with position: sticky). Runs of like HTTP exchanges fold into
one row of their own <details> (``repeats``).

Everything fits a 1280 px window: columns narrow with the number of
lifelines, heads carry the service name ("tld-a") and arrow labels are cut to
the room they have; the full name, address and label are in each <title>.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

from lab.report import hosts as plan_hosts
from lab.report.hosts import host_name, host_role, lifeline_order, short_name
from lab.report.packets import Message
from lab.report.repeats import Fold, fold_repeats

# The diagram's width budget: the page's 1200 px column at 1280 px, less the
# scroll box's border and padding and some slack for a scrollbar.
FIT = 1160
MAX_COL = 170  # distance between lifelines when few take part
MIN_COL = 56  # below this even "resolver" no longer fits its head
LEFT = 48  # room for the frame numbers ("#1234")
CHAR = 6.7  # width of one character of the 11 px monospace labels
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


def column_width(lifelines: int, fit: int = FIT) -> int:
    """The distance between lifelines that puts LIFELINES of them within FIT pixels."""
    return max(MIN_COL, min(MAX_COL, (fit - LEFT) // max(lifelines, 1)))


def fit_text(text: str, pixels: float) -> str:
    """TEXT cut with an ellipsis to what PIXELS of label can hold."""
    room = max(int(pixels // CHAR), 2)
    return text if len(text) <= room else text[: room - 1] + "…"


@dataclass(frozen=True)
class _Grid:
    """Where each lifeline stands."""

    addresses: tuple[str, ...]
    col: int

    @property
    def width(self) -> int:
        return LEFT + self.col * len(self.addresses)

    def x(self, address: str) -> int:
        return LEFT + self.col // 2 + self.addresses.index(address) * self.col

    def lifelines(self, height: int) -> str:
        return "".join(
            f'<line class="life" x1="{self.x(a)}" y1="0" x2="{self.x(a)}" y2="{height}"/>'
            for a in self.addresses
        )


def _color_key(m: Message) -> str:
    if m.kind in ("rst", "retransmission") or (m.dns is not None and m.dns.rcode != "NOERROR"):
        return "alert"
    return m.proto if m.proto in COLORS else "tcp"


def lifeline_heads(addresses: Sequence[str], col: int | None = None) -> str:
    """The boxes naming each lifeline, as one SVG: short name shown, the rest on hover."""
    grid = _Grid(tuple(addresses), col or column_width(len(addresses)))
    width = grid.width
    parts = [
        f'<svg class="heads" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{HEAD}" viewBox="0 0 {width} {HEAD}" role="img">'
    ]
    for addr in addresses:
        x = grid.x(addr)
        name = escape(host_name(addr))
        label = escape(fit_text(short_name(addr), grid.col - 10))
        parts.append(
            f'<g class="lifeline" data-host="{name}" data-address="{escape(addr)}">'
            f"<title>{name} ({escape(addr)}): {escape(host_role(addr))}</title>"
            f'<rect x="{x - grid.col // 2 + 3}" y="4" width="{grid.col - 6}" height="30" rx="5"/>'
            f'<text x="{x}" y="23" text-anchor="middle">{label}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _arrow(m: Message, y: int, grid: _Grid, marker: str) -> str:
    x1, x2 = grid.x(m.src), grid.x(m.dst)
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
        f"{escape(fit_text(m.label, grid.width - left - 12))}</text></g>"
    )


def _defs(marker: str) -> str:
    return (
        "<defs>"
        + "".join(
            f'<marker id="{marker}-{k}" viewBox="0 0 10 10" refX="9" refY="5" '
            f'markerWidth="7" markerHeight="7" orient="auto">'
            f'<path d="M0,0 L10,5 L0,10 z" fill="{c}"/></marker>'
            for k, c in COLORS.items()
        )
        + "</defs>"
    )


def _rows_svg(messages: Sequence[Message], grid: _Grid, marker: str) -> str:
    """The lifelines' stretch and an arrow per message, in capture order."""
    width = grid.width
    height = ROW * len(messages) + ROW // 2
    parts = [
        f'<svg class="seq" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}">',
        _defs(marker),
        grid.lifelines(height),
    ]
    for n, m in enumerate(messages):
        parts.append(_arrow(m, ROW * n + ROW - 4, grid, marker))
    parts.append("</svg>")
    return "".join(parts)


def _fold_html(fold: Fold, grid: _Grid, marker: str) -> str:
    """A folded run: one row with a two-way arrow and the summary, the arrows inside."""
    first = fold.messages[0]
    x1, x2 = sorted((grid.x(first.src), grid.x(first.dst)))
    frames = fold.frames
    span = f"#{frames[0]}" if len(frames) == 1 else f"#{frames[0]}–{frames[-1]}"
    height = ROW + ROW // 4
    y = ROW - 4
    label = f"{fold.summary} ({len(fold.messages)} messages)"
    row = (
        f'<svg class="seq foldrow" xmlns="http://www.w3.org/2000/svg" width="{grid.width}" '
        f'height="{height}" viewBox="0 0 {grid.width} {height}">'
        f"<title>{escape(label)}; click to show each message</title>"
        f"{grid.lifelines(height)}"
        f'<text class="fno" x="4" y="{y + 4}">{span}</text>'
        f'<rect x="{x1}" y="{y - 3}" width="{max(x2 - x1, 30)}" height="6" rx="3" '
        f'fill="{COLORS["http"]}" fill-opacity=".35"/>'
        f'<text class="lbl" x="{x1 + 8}" y="{y - 6}" fill="{COLORS["http"]}">'
        f'<tspan class="shut">▸ </tspan><tspan class="shown">▾ </tspan>'
        f"{escape(fit_text(label, grid.width - x1 - 28))}</text></svg>"
    )
    body = _rows_svg(fold.messages, grid, marker)
    return f'<details class="fold"><summary>{row}</summary>{body}</details>'


def phase_svg(
    phase: Phase,
    addresses: Sequence[str],
    index: int,
    col: int | None = None,
    context: Sequence[Message] = (),
) -> str:
    """One phase: its arrows in capture order, runs of like HTTP exchanges folded."""
    grid = _Grid(tuple(addresses), col or column_width(len(addresses)))
    parts: list[str] = []
    drawn: list[Message] = []
    for item in fold_repeats(phase.messages, context=context):
        if isinstance(item, Message):
            drawn.append(item)
            continue
        if drawn:
            parts.append(_rows_svg(drawn, grid, f"ah{index}-{len(parts)}"))
            drawn = []
        parts.append(_fold_html(item, grid, f"ah{index}-{len(parts)}"))
    if drawn or not parts:
        parts.append(_rows_svg(drawn, grid, f"ah{index}-{len(parts)}"))
    return "".join(parts)


def opening_phases(groups: Sequence[Phase], count: int) -> list[int]:
    """The phases to show open: the first COUNT the client takes part in.

    A capture starts with whatever the servers were doing already (the edge's
    health checks, the tail of an older connection); the reader came for the
    client's page load, so that is what the diagram opens on.
    """
    client = plan_hosts.address("client")
    mine = [i for i, p in enumerate(groups) if any(client in (m.src, m.dst) for m in p.messages)]
    return (mine or list(range(len(groups))))[:count]


def sequence_html(messages: Sequence[Message], fold_after: int = 40, open_phases: int = 3) -> str:
    """The whole diagram: heads, then one foldable SVG per phase.

    A run of more than FOLD_AFTER messages opens only OPEN_PHASES phases
    (``opening_phases``); the others show their summary line and open on a click.
    """
    addresses = lifeline_order(a for m in messages for a in (m.src, m.dst))
    col = column_width(len(addresses))
    parts = ['<div class="sequence">', lifeline_heads(addresses, col)]
    groups = phases(messages)
    opened = set(opening_phases(groups, open_phases)) if len(messages) > fold_after else None
    for i, ph in enumerate(groups):
        first, last = ph.frames
        span = f"frame {first}" if first == last else f"frames {first}–{last}"
        is_open = " open" if opened is None or i in opened else ""
        parts.append(
            f'<details class="phase"{is_open}><summary>{escape(ph.title)} '
            f'<span class="muted">({span}, {len(ph.messages)} messages)</span>'
            f"</summary>{phase_svg(ph, addresses, i, col, messages)}</details>"
        )
    parts.append("</div>")
    return "".join(parts)

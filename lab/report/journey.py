"""The journey map: which hosts the run went through, in what order, on the lab's plan.

``journey`` is pure: messages in, hops out. A hop is the first contact between
two hosts (client -> resolver, resolver -> a root server, ..., client -> edge,
edge -> origin); later messages between the same two are counted on that hop,
not numbered again. The path starts at the client's first message: what comes
before it is the lab's own traffic (the edge's health checks, a restarted
resolver priming its root hints, RFC 8109), not the journey of this run.

``journey_svg`` draws every host of lab/topology.py HOSTS in columns by role,
so a new host appears by itself, greys the ones the path never touched, and
puts a numbered badge on each hop that leads to the hop's place in the page.
The routers get a column of their own beside the client; the drawing scales
down to the page's width when the columns would not fit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from lab.report import hosts as plan_hosts
from lab.report.hosts import host_name, host_role
from lab.report.packets import Message
from lab.report.sequence import COLORS
from lab.topology import Host

PROTO = {"dns": "DNS", "tcp": "TCP", "tls": "TLS", "quic": "QUIC", "http": "HTTP", "http2": "HTTP"}
# The routers stand between the client and the rest: its DNS server is the home router.
COLUMNS = ("client", "router", "resolver", "dns", "edge", "origin", "other")

NODE_W, NODE_H = 150, 38
COL_W = 206  # node plus the gap the arrows and badges live in
ROW_H = NODE_H + 12
PAD = 12
LEVEL = 24  # vertical room per curved arrow below the hosts
BADGE_R = 9


@dataclass(frozen=True)
class Hop:
    """The first contact between two hosts, and how much they said to each other."""

    number: int  # 1, 2, ... in capture order
    frame: int  # the first frame between the two
    src: str  # address of the host that spoke first
    dst: str
    proto: str  # DNS, TCP, TLS, QUIC or HTTP: that of the first message
    label: str  # short: the name looked up, or the TLS name and first request
    messages: int  # every message between the two (both ways) from the first on
    protos: tuple[str, ...]  # every protocol the two used, in order of first use
    answered: bool  # did DST ever speak back?


def path_start(messages: Sequence[Message]) -> int:
    """Index of the client's first message (0 when the client never speaks)."""
    client = plan_hosts.address("client")
    return next((i for i, m in enumerate(messages) if m.src == client), 0)


def _proto(m: Message) -> str:
    return "QUIC" if m.quic is not None else PROTO.get(m.proto, m.proto.upper())


def _label(first: Message, pair: Sequence[Message]) -> str:
    if first.dns is not None:
        return f"{first.dns.qname.rstrip('.') or '.'} {first.dns.qtype}".strip()
    parts = []
    sni = next((m.tls.sni for m in pair if m.tls is not None and m.tls.sni), "")
    if sni:
        parts.append(f"TLS {sni}")
    req = next((m.http for m in pair if m.http is not None and m.http.request), None)
    if req is not None:
        parts.append(f"{req.method} {req.uri}")
    if parts:
        return " · ".join(parts)
    if first.kind == "encrypted":
        return "sealed TLS data (a connection older than the capture)"
    return first.label


def opens(m: Message) -> bool:
    """Does M start an exchange (a question, a connection, a request), rather than answer one?"""
    if m.quic is not None:
        return "Initial" in m.quic.packets
    # Sealed data belongs to a connection opened before the capture: its first burst
    # is the best sign left of who speaks first on it.
    return m.kind in ("query", "syn", "client-hello", "request", "encrypted")


def journey(messages: Sequence[Message]) -> list[Hop]:
    """The path of the run: one hop per first contact between two hosts, in capture order.

    A contact is a message that opens an exchange; replies and closings left over
    from before the client's first message (a health check's answer, a FIN) are
    not one, so they neither number a hop nor turn its arrow round.
    """
    # A router is one host on the map whichever interface it spoke from (the home
    # router's own DNS lookups leave from its WAN address, the home's public one).
    primary = {a: h.ipv4 for h in plan_hosts.plan().hosts for a in h.addresses.values()}
    pairs: dict[frozenset[str], list[Message]] = {}
    for m in list(messages)[path_start(messages) :]:
        src, dst = primary.get(m.src, m.src), primary.get(m.dst, m.dst)
        key = frozenset((src, dst))
        if src != dst and (key in pairs or opens(m)):
            pairs.setdefault(key, []).append(m)
    hops = []
    for n, pair in enumerate(sorted(pairs.values(), key=lambda p: p[0].frame), start=1):
        first = pair[0]
        src, dst = primary.get(first.src, first.src), primary.get(first.dst, first.dst)
        hops.append(
            Hop(
                number=n,
                frame=first.frame,
                src=src,
                dst=dst,
                proto=_proto(first),
                label=_label(first, pair),
                messages=len(pair),
                protos=tuple(dict.fromkeys(_proto(m) for m in pair)),
                answered=any(primary.get(m.src, m.src) == dst for m in pair),
            )
        )
    return hops


def column(host: Host) -> str:
    """The map column of a host, from its role and what it serves."""
    role = host.role.lower()
    if host.router:  # by what it is, not by what it also runs ("NAT, DHCP, DNS forwarder")
        return "router"
    if host.service == "client" or "client" in role:
        return "client"
    if "resolver" in role:
        return "resolver"
    if "dns" in role:
        return "dns"
    if "edge" in role or "cdn" in role:
        return "edge"
    if "origin" in role or "api" in role:
        return "origin"
    return "other"


@dataclass(frozen=True)
class _Node:
    address: str
    title: str  # first line: the Compose service, or the bare address
    subtitle: str  # second line: the name on the lab "Internet"
    x: float  # left edge
    y: float  # top edge
    col: int
    last: bool  # the lowest host of its column


def _layout(hops: Sequence[Hop]) -> tuple[dict[str, _Node], float]:
    """Nodes for every planned host (and any stranger the path met); the columns' height."""
    cols: dict[str, list[tuple[str, str, str]]] = {c: [] for c in COLUMNS}
    for h in plan_hosts.plan().hosts:
        cols[column(h)].append((h.ipv4, h.service, h.dns_name))
    planned = {h.ipv4 for h in plan_hosts.plan().hosts}
    for a in dict.fromkeys(a for hop in hops for a in (hop.src, hop.dst)):
        if a not in planned:
            cols["other"].append((a, a, "not in the address plan"))
    used = [c for c in COLUMNS if cols[c]]
    height = max(len(cols[c]) for c in used) * ROW_H - (ROW_H - NODE_H)
    nodes = {}
    for i, c in enumerate(used):
        top = PAD + (height - (len(cols[c]) * ROW_H - (ROW_H - NODE_H))) / 2
        for j, (addr, title, sub) in enumerate(cols[c]):
            last = j == len(cols[c]) - 1
            nodes[addr] = _Node(addr, title, sub, PAD + i * COL_W, top + j * ROW_H, i, last)
    return nodes, height


def _straight(a: _Node, b: _Node) -> tuple[str, float, float]:
    """A line between neighbouring columns, edge to edge; the badge a little past halfway."""
    right = b.x > a.x
    x1, y1 = (a.x + NODE_W if right else a.x), a.y + NODE_H / 2
    x2, y2 = (b.x if right else b.x + NODE_W), b.y + NODE_H / 2
    t = 0.6  # fanned-out lines are farther apart nearer their targets
    return f"M{x1:g},{y1:g} L{x2:g},{y2:g}", x1 + (x2 - x1) * t, y1 + (y2 - y1) * t


def _curve(a: _Node, b: _Node, depth: float, rank: int) -> tuple[str, float, float]:
    """An arc under the columns it skips, its lowest point (and badge) at DEPTH.

    The RANK-th arc (shallowest first) meets a host farther from its partner than
    the arcs before it, so arcs that share a host nest instead of crossing.
    """
    if a.col == b.col:  # same column: a bow out to the right
        x, y1, y2 = a.x + NODE_W, a.y + NODE_H / 2, b.y + NODE_H / 2
        cx = x + 40
        return f"M{x:g},{y1:g} C{cx:g},{y1:g} {cx:g},{y2:g} {x:g},{y2:g}", x + 30, (y1 + y2) / 2
    toward = 1 if b.x > a.x else -1
    shift = toward * max(-60, 20 - 16 * rank)
    (x1, y1), c1 = _end(a, shift, toward)
    (x2, y2), c2 = _end(b, -shift, -toward)
    # A cubic with both control points at cy has its midpoint at (y1 + y2)/8 + 3cy/4.
    cy = (depth - (y1 + y2) / 8) / 0.75
    path = f"M{x1:g},{y1:g} C{c1:g},{cy:g} {c2:g},{cy:g} {x2:g},{y2:g}"
    return path, (x1 + 3 * c1 + 3 * c2 + x2) / 8, depth


def _end(n: _Node, shift: float, toward: int) -> tuple[tuple[float, float], float]:
    """Where an arc meets node N, and the x of its control point there.

    The lowest host of a column is met from below; a host with others beneath it
    on its side facing the arc's partner, the arc rising through the gap between
    columns, so it never crosses the hosts below.
    """
    if n.last:
        x = n.x + NODE_W / 2 + shift
        return (x, n.y + NODE_H), x
    x = n.x + NODE_W if toward > 0 else n.x
    return (x, n.y + NODE_H / 2 + shift / 4), x + toward * (COL_W - NODE_W) / 2


def _color(hop: Hop) -> str:
    return COLORS["alert"] if not hop.answered else COLORS.get(hop.proto.lower(), COLORS["tcp"])


def _tip(hop: Hop) -> str:
    reply = "" if hop.answered else "; no reply"
    return (
        f"{hop.number}. {host_name(hop.src)} → {host_name(hop.dst)}: {hop.proto} {hop.label} "
        f"(frame {hop.frame}, {hop.messages} messages: {', '.join(hop.protos)}{reply})"
    )


def journey_svg(messages: Sequence[Message]) -> str:
    """The lab's hosts by role, the hops as numbered arrows; untouched hosts greyed."""
    hops = journey(messages)
    nodes, height = _layout(hops)
    ncols = 1 + max(n.col for n in nodes.values())
    bottom = PAD + height
    curved = sorted(
        (h for h in hops if abs(nodes[h.src].col - nodes[h.dst].col) != 1),
        key=lambda h: (abs(nodes[h.src].col - nodes[h.dst].col), h.number),
    )
    rank = {h.number: i for i, h in enumerate(curved)}
    width = 2 * PAD + (ncols - 1) * COL_W + NODE_W
    total = bottom + 8 + LEVEL * len(curved) + (LEVEL if curved else 0) + PAD
    parts = [
        f'<svg class="journey" xmlns="http://www.w3.org/2000/svg" width="{width:g}" '
        f'height="{total:g}" viewBox="0 0 {width:g} {total:g}" role="img" '
        f'aria-label="The hosts of the lab and the path this run took through them">'
        "<defs>"
        + "".join(
            f'<marker id="jh-{k}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
            f'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
            f'fill="{c}"/></marker>'
            for k, c in COLORS.items()
        )
        + "</defs>"
    ]
    touched = {a for h in hops for a in (h.src, h.dst)}
    for n in nodes.values():
        state = "seen" if n.address in touched else "idle"
        what = "" if state == "seen" else " (not on this run's path)"
        parts.append(
            f'<g class="jhost {state}" data-address="{escape(n.address)}">'
            f"<title>{escape(host_name(n.address))} ({escape(n.address)}): "
            f"{escape(host_role(n.address))}{what}</title>"
            f'<rect x="{n.x:g}" y="{n.y:g}" width="{NODE_W}" height="{NODE_H}" rx="5"/>'
            f'<text x="{n.x + NODE_W / 2:g}" y="{n.y + 15:g}" text-anchor="middle" '
            f'class="jname">{escape(n.title)}</text>'
            f'<text x="{n.x + NODE_W / 2:g}" y="{n.y + 30:g}" text-anchor="middle" '
            f'class="jdns">{escape(n.subtitle)}</text></g>'
        )
    arrows, badges = [], []
    for h in hops:
        a, b = nodes[h.src], nodes[h.dst]
        if h.number in rank:
            i = rank[h.number]
            d, bx, by = _curve(a, b, bottom + 8 + LEVEL * (i + 1), i)
        else:
            d, bx, by = _straight(a, b)
        color, key = _color(h), ("alert" if not h.answered else h.proto.lower())
        key = key if key in COLORS else "tcp"
        dash = "" if h.answered else ' stroke-dasharray="5 4"'
        arrows.append(
            f'<path class="jarrow" d="{d}" fill="none" stroke="{color}"{dash} '
            f'marker-end="url(#jh-{key})"/>'
        )
        badges.append(
            f'<g class="jhop" data-frame="{h.frame}" tabindex="0" role="link">'
            f"<title>{escape(_tip(h))}</title>"
            f'<circle cx="{bx:g}" cy="{by:g}" r="{BADGE_R}" fill="{color}"/>'
            f'<text x="{bx:g}" y="{by + 4:g}" text-anchor="middle">{h.number}</text></g>'
        )
    parts += arrows + badges  # badges last, so no arrow is drawn over a number
    parts.append("</svg>")
    return "".join(parts)


# A click (or Enter) on a hop's number goes to the narration step that cites its
# first frame, or else to its sequence-diagram arrow, opening a folded phase on
# the way, and flashes the frame's arrows. No href and no ids: the page stays free
# of links (tests/unit/report/test_report.py) and html.py's hover script, which
# toggles "hl" on the same arrows, keeps working as before.
JS = """
document.addEventListener('DOMContentLoaded', function () {
  function target(f) {
    var steps = document.querySelectorAll('section.step');
    for (var i = 0; i < steps.length; i++) {
      if ((' ' + (steps[i].dataset.frames || '') + ' ').indexOf(' ' + f + ' ') >= 0) {
        return steps[i];
      }
    }
    return document.querySelector('.msg[data-frame="' + f + '"]');
  }
  function go(f) {
    var t = target(f);
    if (!t) { return; }
    for (var p = t.parentElement; p; p = p.parentElement) {
      if (p.tagName.toLowerCase() === 'details') { p.open = true; }
    }
    t.scrollIntoView({block: 'center'});
    var marks = Array.prototype.slice.call(
      document.querySelectorAll('.msg[data-frame="' + f + '"]'));
    if (t.tagName.toLowerCase() === 'section') { marks.push(t); }
    marks.forEach(function (m) { m.classList.add('hl', 'jflash'); });
    setTimeout(function () {
      marks.forEach(function (m) { m.classList.remove('hl', 'jflash'); });
    }, 2500);
  }
  document.querySelectorAll('.journey-map [data-frame]').forEach(function (a) {
    var f = a.getAttribute('data-frame');
    a.addEventListener('click', function () { go(f); });
    a.addEventListener('keydown', function (e) { if (e.key === 'Enter') { go(f); } });
  });
});
"""


def _item(h: Hop) -> str:
    reply = "" if h.answered else ' · <b class="jnoreply">no reply</b>'
    return (
        f'<li><a class="jlink" data-frame="{h.frame}" tabindex="0" role="link">'
        f"frame {h.frame}</a> "
        f"{escape(host_name(h.src))} → {escape(host_name(h.dst))} "
        f'<b style="color:{_color(h)}">{escape(h.proto)}</b> {escape(h.label)} '
        f'<span class="muted">· {h.messages} messages ({escape(", ".join(h.protos))})</span>'
        f"{reply}</li>"
    )


def journey_section(messages: Sequence[Message]) -> str:
    """The report's "Journey" section: the map, the numbered hops as a list, the link hook."""
    hops = journey(messages)
    if not hops:
        return ""
    skipped = path_start(messages)
    before = (
        f" The {skipped} messages before the client's first one (the lab's own traffic) "
        "are left out."
        if skipped
        else ""
    )
    return (
        '<div class="journey-map"><h2>Journey</h2><p class="muted">The hosts of the lab by '
        "role; the numbers are the order in which this run first reached each one (a dashed red "
        "arrow was never answered), greyed hosts were not on its path. Click a number for its "
        f"step.{escape(before)}</p>"
        f'<div class="scroll">{journey_svg(messages)}</div>'
        f'<ol class="jlist">{"".join(_item(h) for h in hops)}</ol></div>'
        f"<script>{JS}</script>"
    )

"""One request, hop by hop: the layers around it and what each router changed.

The articles the lab teaches from say the layers wrap each other on the way
down and are unwrapped on the way up, and that at every hop a frame gets new
MAC addresses while the IP header survives, its TTL one less (RFC 791 §3.2,
so its checksum is recomputed), and that a NAT rewrites the source address and
port (RFC 3022 §2). hops.pcapng (lab/capture/hops.py) holds every copy of every
packet, one per network it crossed, so that can be shown for a real packet.

``encapsulation`` is pure: tshark's rows of hops.pcapng in (each read by
lab/report/encapsulation_fields.py), the view out. It picks the run's first
HTTP request from the client to the edge (else the first TLS ClientHello, else
the first SYN), finds its copies on the other networks by what no router
touches (IP identification and total length, TCP sequence and acknowledgement
numbers; within lab/capture/hops.py's WINDOW), and does the same for the
answer. lab/report/encapsulation_html.py draws it.

tshark follows a TCP connection by its addresses and ports, so the copies past
the NAT (isp, transit, internet) are one connection to it: it reads the first
copy and takes the others for retransmissions, decrypting nothing in them.
Their TCP payload is the same bytes (no router here looks inside TLS), so the
TLS and HTTP fields are carried over from the copy tshark did read, and said so.
"""

from __future__ import annotations

import ipaddress
import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from lab.capture.hops import WINDOW
from lab.report.encapsulation_fields import Copy, Row, copy_of, one
from lab.topology import Plan


@dataclass(frozen=True)
class Mac:
    """A MAC address and whose it is."""

    address: str
    owner: str  # a Compose service, or "" when the capture and the plan do not tell
    how: str  # how the owner was found


@dataclass(frozen=True)
class Hop:
    """The packet on one network: its copy and the owners of its two MACs."""

    copy: Copy
    src: Mac
    dst: Mac


@dataclass(frozen=True)
class Router:
    """What one router did to the packet between two networks."""

    service: str
    before: Hop
    after: Hop


@dataclass(frozen=True)
class Cell:
    """One field of one copy; CHANGED when it differs from the copy on the network before."""

    value: str
    owner: str = ""  # whose MAC it is
    changed: bool = False
    note: str = ""  # "changed: NAT", "TTL −1", "new MACs", "read from frame 217"


@dataclass(frozen=True)
class Field:
    name: str
    cells: tuple[Cell, ...]  # one per hop, in path order


@dataclass(frozen=True)
class Layer:
    """One protocol layer: its size, its header's size, what wraps what, and its fields."""

    name: str
    size: int | None  # bytes, header included; None when the capture does not tell
    header: int  # bytes of this layer's own header(s)
    head: str  # the header in words: "14-byte header", "5-byte header per record"
    detail: str
    fields: tuple[Field, ...]


@dataclass(frozen=True)
class Encapsulation:
    """The view: the packet on every network it crossed, the answer, and the routers between."""

    kind: str  # "request", "client-hello" or "syn"
    hops: tuple[Hop, ...]  # in path order (by time)
    routers: tuple[Router, ...]
    reply: tuple[Hop, ...]  # the answer's copies, in its own path order (may be empty)
    reply_routers: tuple[Router, ...]
    layers: tuple[Layer, ...]  # outermost first: Ethernet, IP, TCP, then TLS and HTTP if any


def _learned(copies: Sequence[Copy], rows: Sequence[Row], plan: Plan) -> dict[tuple[str, str], str]:
    """(network, MAC) -> IPv4 from the capture: ARP senders, and IP senders and receivers on
    their own network (a frame to or from an address in the network's subnet)."""
    nets = {n: ipaddress.ip_network(s) for n, s in plan.networks.items()}
    out: dict[tuple[str, str], str] = {}
    for row in rows:
        net = one(row, "frame.interface_name")
        if one(row, "arp.src.hw_mac"):
            out.setdefault((net, one(row, "arp.src.hw_mac")), one(row, "arp.src.proto_ipv4"))
    for c in copies:
        subnet = nets.get(c.network)
        for mac, ip in ((c.eth_src, c.ip_src), (c.eth_dst, c.ip_dst)):
            if subnet is not None and ipaddress.ip_address(ip) in subnet:
                out.setdefault((c.network, mac), ip)
    return out


def _router_between(plan: Plan, a: str, b: str) -> str:
    return next((h.service for h in plan.hosts if h.router and {a, b} <= set(h.addresses)), "")


def _hops(path: Sequence[Copy], learned: Mapping[tuple[str, str], str], plan: Plan) -> list[Hop]:
    """Each copy with its MACs named: from the capture when it tells, else from the path (the
    sender on a network the packet did not start on is the router it came through)."""
    hops = []
    order = [c.network for c in path]
    for i, c in enumerate(path):
        macs = []
        for mac, ip, neighbour in ((c.eth_src, c.ip_src, i - 1), (c.eth_dst, c.ip_dst, i + 1)):
            seen = learned.get((c.network, mac))
            if seen and seen in plan.by_address:
                macs.append(Mac(mac, plan.by_address[seen].service, f"{seen} on {c.network}"))
            elif 0 <= neighbour < len(path):
                a, b = sorted((c.network, path[neighbour].network), key=order.index)
                macs.append(
                    Mac(mac, _router_between(plan, a, b), f"the router joining {a} and {b}")
                )
            elif ip in plan.by_address:
                macs.append(Mac(mac, plan.by_address[ip].service, f"{ip}'s own network"))
            else:
                macs.append(Mac(mac, "", "not in the capture or the plan"))
        hops.append(Hop(c, macs[0], macs[1]))
    return hops


def _copies_of(first: Copy, copies: Sequence[Copy]) -> list[Copy]:
    """FIRST and its copies on the other networks, one per network, in the order crossed."""
    found: dict[str, Copy] = {}
    for c in copies:
        if c.key == first.key and abs(c.time - first.time) <= WINDOW:
            near = found.get(c.network)
            if near is None or abs(c.time - first.time) < abs(near.time - first.time):
                found[c.network] = c
    path = sorted(found.values(), key=lambda c: (c.time, c.frame))
    read = next((c for c in path if c.tls), None)
    if read is None:
        return path
    return [c if c.tls or not c.tcp_len else _carried(c, read) for c in path]


def _carried(c: Copy, read: Copy) -> Copy:
    return replace(
        c,
        tls=read.tls,
        h2=read.h2,
        http=read.http,
        status=read.status,
        hello=read.hello,
        read_from=read.frame,
    )


def _pick(copies: Sequence[Copy], plan: Plan) -> tuple[str, Copy] | None:
    client = plan.address("client")
    edge = plan.by_service.get("edge")
    mine = [c for c in copies if c.ip_src == client]
    to_edge = [c for c in mine if edge and c.ip_dst in edge.addresses.values()]
    tests = (
        ("request", lambda c: c.http is not None),
        ("client-hello", lambda c: c.hello),
        ("syn", lambda c: c.flags == "SYN"),
    )
    for candidates in (to_edge, mine):
        for kind, test in tests:
            hit = next((c for c in candidates if test(c)), None)
            if hit is not None:
                return kind, hit
    return None


def _reply(first: Copy, kind: str, copies: Sequence[Copy]) -> Copy | None:
    """The answer as it left the server: on the request's last network, ports swapped, after
    it; for a request the response's first HEADERS, else the first segment back."""
    back = [
        c
        for c in copies
        if c.time > first.time
        and c.network == first.network
        and (c.ip_src, c.sport, c.dport) == (first.ip_dst, first.dport, first.sport)
    ]
    if kind == "request":
        return next((c for c in back if c.status), None)
    return next(iter(back), None)


def _routers(hops: Sequence[Hop], plan: Plan) -> list[Router]:
    return [
        Router(_router_between(plan, a.copy.network, b.copy.network) or "a router", a, b)
        for a, b in itertools.pairwise(hops)
    ]


def encapsulation(rows: Sequence[Row], plan: Plan) -> Encapsulation | None:
    """The view of the run's first request from the client (see the module's docstring); None
    when hops.pcapng has none."""
    copies = [c for c in (copy_of(r) for r in rows) if c is not None]
    picked = _pick(copies, plan)
    if picked is None:
        return None
    kind, first = picked
    learned = _learned(copies, rows, plan)
    hops = _hops(_copies_of(first, copies), learned, plan)
    reply: list[Hop] = []
    answer = _reply(hops[-1].copy, kind, copies)
    if answer is not None:
        reply = _hops(_copies_of(answer, copies), learned, plan)
    return Encapsulation(
        kind,
        tuple(hops),
        tuple(_routers(hops, plan)),
        tuple(reply),
        tuple(_routers(reply, plan)),
        tuple(layers(hops)),
    )


def _field(
    name: str,
    hops: Sequence[Hop],
    value: Callable[[Hop], str],
    note: str,
    owner: Callable[[Hop], str] | None = None,
) -> Field:
    """A row of cells, each marked with NOTE where it differs from the hop before."""
    cells = []
    for i, h in enumerate(hops):
        changed = i > 0 and value(h) != value(hops[i - 1])
        cells.append(Cell(value(h), owner(h) if owner else "", changed, note if changed else ""))
    return Field(name, tuple(cells))


def _ttl(hops: Sequence[Hop]) -> Field:
    cells = []
    for i, h in enumerate(hops):
        drop = hops[i - 1].copy.ttl - h.copy.ttl if i else 0
        cells.append(Cell(str(h.copy.ttl), "", bool(drop), f"TTL −{drop}" if drop else ""))
    return Field("TTL", tuple(cells))


def _read(name: str, hops: Sequence[Hop], value: Callable[[Copy], str]) -> Field:
    """A field tshark read from one copy only (see the module's docstring), so said."""
    return Field(
        name,
        tuple(
            Cell(
                value(h.copy),
                note=f"read from frame {h.copy.read_from}, same bytes" if h.copy.read_from else "",
            )
            for h in hops
        ),
    )


def _tls_detail(c: Copy) -> str:
    plain = sum(n for _, n in c.h2)
    head = f"{len(c.tls)} record{'s' if len(c.tls) > 1 else ''}, each a 5-byte header in the clear"
    if c.hello or not plain or sum(5 + n for _, n in c.tls) != c.tcp_len:
        return head + (" before a handshake message, not encrypted" if c.hello else "")
    # TLS 1.3 seals each record's plaintext with its real content type and an AEAD tag
    # (RFC 8446 §5.2): the difference is the price of encryption.
    return (
        f"{head} before its encrypted body: {c.tcp_len - plain} bytes of record headers, "
        f"content types and authentication tags around {plain} bytes of HTTP/2"
    )


def _mac(name: str, hops: Sequence[Hop], which: Callable[[Hop], Mac]) -> Field:
    return _field(name, hops, lambda h: which(h).address, "new MACs", lambda h: which(h).owner)


def _copy(name: str, hops: Sequence[Hop], value: Callable[[Copy], object], note: str) -> Field:
    return _field(name, hops, lambda h: str(value(h.copy)), note)


def layers(hops: Sequence[Hop]) -> list[Layer]:
    """The layers of the packet, outermost first, each with its fields at every hop."""
    c = hops[0].copy
    pad = c.frame_len - 14 - c.ip_len
    eth = (
        _mac("source MAC", hops, lambda h: h.src),
        _mac("destination MAC", hops, lambda h: h.dst),
    )
    ip = (
        _copy("source", hops, lambda x: x.ip_src, "changed: NAT"),
        _copy("destination", hops, lambda x: x.ip_dst, "changed: NAT"),
        _ttl(hops),
        _copy("identification", hops, lambda x: x.ip_id, "changed"),
        _copy("header checksum", hops, lambda x: x.ip_checksum, "recomputed"),
    )
    tcp = (
        _copy("source port", hops, lambda x: x.sport, "changed: NAT"),
        _copy("destination port", hops, lambda x: x.dport, "changed: NAT"),
        _copy("sequence number", hops, lambda x: x.seq, "changed"),
        _copy("flags", hops, lambda x: x.flags, "changed"),
        _copy("checksum", hops, lambda x: x.tcp_checksum, "recomputed: the NAT changed its input"),
    )
    out = [
        Layer("Ethernet", c.frame_len, 14, "14-byte header",
              "a 14-byte header (destination MAC, source MAC, type IPv4) before the IP packet"
              + (f", {pad} bytes of padding after it" if pad > 0 else ""), eth),
        Layer("IP", c.ip_len, c.ip_hdr, f"{c.ip_hdr}-byte header",
              f"a {c.ip_hdr}-byte header (TTL, protocol, checksum, source, destination) before "
              "the TCP segment", ip),
        Layer("TCP", c.ip_len - c.ip_hdr, c.tcp_hdr, f"{c.tcp_hdr}-byte header",
              f"a {c.tcp_hdr}-byte header (ports, sequence and acknowledgement numbers, flags; "
              f"{c.tcp_hdr - 20} bytes of options) before {c.tcp_len} bytes of data", tcp),
    ]  # fmt: skip
    if c.tls:
        records = _read("records", hops, lambda x: ", ".join(f"{t} {n}" for t, n in x.tls))
        out.append(Layer("TLS", c.tcp_len, 5 * len(c.tls), "5-byte header per record",
                         _tls_detail(c), (records,)))  # fmt: skip
    if c.http is not None:
        plain = sum(n for _, n in c.h2)
        frames = " + ".join(f"{name} {n}" for name, n in c.h2)
        request = (
            _read("method", hops, lambda x: x.http[0] if x.http else ""),
            _read(":authority", hops, lambda x: x.http[1] if x.http else ""),
            _read(":path", hops, lambda x: x.http[2] if x.http else ""),
        )
        detail = f"decrypted: {frames}" if c.h2 else "decrypted from the TLS records"
        out.append(Layer("HTTP/2" if c.h2 else "HTTP", plain or None, 0, "", detail, request))
    return out

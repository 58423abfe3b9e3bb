"""What each lookup and handshake of a run cost on the wire, read from its capture.

The browser times its handshakes itself (``connect_ms``, ``tls_ms``), but on
this 2-core machine a Python client's own time adds scheduling noise: a
thread waiting for the GIL, a wake-up that comes late. Round trips are a fact
of the wire, so an ``rtts:`` expectation judges them there where it can:

- TCP: from the client's first SYN to the server's SYN-ACK;
- TLS: from the ClientHello to the packet that brings the server's Finished,
  the moment the client can finish its side. TLS 1.3 brings it in the first
  flight (one round trip); a full TLS 1.2 handshake in its second (two).
- DNS: from the first question for the name that the home sent the resolver
  (the home router's forwarder, asking for the client's box behind it) to the
  answer for it; the time a LAN hop and the forwarders in the home add is not
  a round trip to the resolver. A lookup the stub answered sends nothing: no
  question left the client's box, 0 ms.

The capture the runner judges (capture.pcapng) keeps the copy of each packet
nearest the client, and the lab's link delay holds what a server receives
(services/linkdelay), so these spans are the round trips as the client sees
them, plus the server's own work. tshark decrypts the handshake from the
secrets embedded in the capture; without them a TLS span is not found and the
check falls back to the client's own figure.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from lab.errors import LabError
from lab.scenario import tshark

# One tshark pass reads both: these fields, for the frames of handshakes and
# of the client box's DNS.
FIELDS = (
    "frame.time_epoch",
    "ip.src",
    "tcp.srcport",
    "ip.dst",
    "tcp.dstport",
    "tcp.flags.syn",
    "tcp.flags.ack",
    "tls.handshake.type",
    "dns.flags.response",
    "dns.qry.name",
)
HANDSHAKES = "tcp.flags.syn == 1 || tls.handshake.type == 1 || tls.handshake.type == 20"

# (client address, client port, server address, server port)
Conn = tuple[str, int, str, int]


@dataclass
class Handshake:
    """One TCP connection's handshakes as the wire saw them (epoch seconds)."""

    syn: float | None = None
    syn_ack: float | None = None
    client_hello: float | None = None
    server_finished: float | None = None

    def ms(self, phase: str) -> float | None:
        """What PHASE ("connect" or "tls") cost on the wire, or None if not seen whole."""
        start, end = (
            (self.syn, self.syn_ack)
            if phase == "connect"
            else (self.client_hello, self.server_finished)
        )
        if start is None or end is None or end < start:
            return None
        return (end - start) * 1000


def parse(rows: Iterable[Sequence[str]]) -> dict[Conn, list[Handshake]]:
    """Each connection's handshake times from tshark's FIELDS rows.

    A list per four-tuple, oldest first: a long run may use a client port
    again for a later connection to the same server.
    """
    out: dict[Conn, list[Handshake]] = {}

    def last(key: Conn) -> Handshake | None:
        return out[key][-1] if out.get(key) else None

    for when, src, sport, dst, dport, syn, ack, types, _response, qname in rows:
        if not sport or not dport or qname:  # not TCP, or DNS over TCP
            continue
        t, sp, dp = float(when), int(sport), int(dport)
        kinds = {k for k in types.split(",") if k}
        mine, theirs = (src, sp, dst, dp), (dst, dp, src, sp)
        if syn in ("1", "True") and ack not in ("1", "True"):
            h = last(mine)
            if h is None or h.syn_ack is not None or h.syn is None:
                out.setdefault(mine, []).append(Handshake(syn=t))
            # else: the SYN sent again, which does not restart the handshake
            continue
        if syn in ("1", "True"):  # SYN-ACK: the server answers the client's SYN
            h = last(theirs)
            if h is not None and h.syn_ack is None:
                h.syn_ack = t
            continue
        if "1" in kinds:
            h = last(mine)
            if h is None:  # the capture began after this connection's SYN
                h = Handshake()
                out.setdefault(mine, []).append(h)
            if h.client_hello is None:
                h.client_hello = t
        if "20" in kinds:
            h = last(theirs)  # the server's Finished, coming to the client
            if h is not None and h.client_hello is not None and h.server_finished is None:
                h.server_finished = t
    return out


def find(
    handshakes: dict[Conn, list[Handshake]],
    server: str,
    port: int,
    local_port: int,
    since: float = 0.0,
) -> Handshake | None:
    """The connection a fetch opened: its server, the client's own port, begun after SINCE."""
    for (_client, cport, saddr, sport), seen in handshakes.items():
        if cport != local_port or saddr != server or sport != port:
            continue
        for h in seen:
            begun = h.syn if h.syn is not None else h.client_hello
            if begun is not None and begun >= since:
                return h
    return None


@dataclass(frozen=True)
class Message:
    """One DNS message to or from the host: when, which way, for which name."""

    at: float
    question: bool  # True: the host asked; False: an answer came to it
    name: str


def parse_dns(rows: Iterable[Sequence[str]], host: str) -> list[Message]:
    """HOST's DNS questions and the answers that came to it, in capture order."""
    out: list[Message] = []
    for when, src, _sp, dst, _dp, _syn, _ack, _types, response, qname in rows:
        if not qname:
            continue
        name = qname.split(",")[0].rstrip(".").lower()
        if response in ("0", "False") and src == host:
            out.append(Message(float(when), True, name))
        elif response in ("1", "True") and dst == host:
            out.append(Message(float(when), False, name))
    return out


def lookup_ms(messages: Sequence[Message], name: str, since: float, until: float) -> float | None:
    """From the first question for NAME sent between SINCE and UNTIL to the first answer for it.

    0.0 when no question for NAME left the host then (a cache in the box
    answered); None when one left and no answer came back.
    """
    want = name.rstrip(".").lower()
    asked = next(
        (m.at for m in messages if m.question and m.name == want and since <= m.at <= until), None
    )
    if asked is None:
        return 0.0
    answered = next(
        (m.at for m in messages if not m.question and m.name == want and m.at >= asked), None
    )
    return None if answered is None else (answered - asked) * 1000


@dataclass
class Wire:
    """What a run's capture says of the client's round trips: handshakes and lookups."""

    handshakes: dict[Conn, list[Handshake]]
    dns: list[Message] | None  # the client box's DNS; None: the capture could not be read
    # The home's DNS with the resolver (its public address's: the router's
    # forwarder asks for the box), the round trip the profile gives; the
    # box's own in the flat plan, where the client asks the resolver itself.
    upstream: list[Message] | None = None


def read(capture: Path, client: str, home: str | None = None) -> Wire:
    """The handshakes in CAPTURE and the DNS of the CLIENT's box and of its HOME, in one pass.

    Nothing found (no handshakes, ``dns`` None) when tshark is missing or cannot
    read the capture: the checks then judge by the client's own figures.
    """
    home = home or client
    if shutil.which("tshark") is None or not capture.exists():
        return Wire({}, None)
    dns = f"dns && (ip.addr == {client} || ip.addr == {home})"
    try:
        found = list(tshark.rows(capture, f"{HANDSHAKES} || ({dns})", FIELDS))
    except LabError:
        return Wire({}, None)
    return Wire(parse(found), parse_dns(found, client), parse_dns(found, home))

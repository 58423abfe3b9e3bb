"""Which upstream datagrams count as the reply: RFC 5452 matching, and what was ignored.

A reply is accepted only if it comes from the address and port asked, carries
the query's ID with QR=1, and repeats the question (RFC 5452 §3, §9.1).
The ID and QR bit are read from the first three bytes before any parsing, so
a flood of forged datagrams with guessed IDs costs a byte comparison each,
not a dnslib parse; only a datagram with the right ID is parsed. Every
datagram turned away is counted by reason, so a scenario can say how many
forged answers the resolver ignored.
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import asdict, dataclass
from enum import Enum

from dnslib import DNSRecord

from services.dnscore.names import norm

HEADER = 12  # bytes of a DNS header (RFC 1035 §4.1.1)
QR = 0x80  # in the third byte: this is a response


class Ignored(Enum):
    """Why a datagram on an upstream socket was not taken as the reply."""

    SOURCE = "wrong_source"  # not from the address and port of a query in flight
    ID = "wrong_id"  # wrong ID, QR=0, or shorter than a header
    QUESTION = "wrong_question"  # right ID, but another question (or none)
    GARBAGE = "garbage"  # right ID, not parseable as DNS


@dataclass
class ReplyCounters:
    """Upstream UDP datagrams, as seen by every query's socket together."""

    queries: int = 0  # UDP queries sent
    accepted: int = 0
    wrong_source: int = 0
    wrong_id: int = 0
    wrong_question: int = 0
    garbage: int = 0

    @property
    def ignored(self) -> int:
        """All datagrams turned away, whatever the reason."""
        return self.wrong_source + self.wrong_id + self.wrong_question + self.garbage

    def count(self, reason: Ignored) -> None:
        """One more datagram ignored for ``reason``."""
        name = reason.value
        setattr(self, name, getattr(self, name) + 1)

    def settle(self, request: DNSRecord, data: bytes, done: asyncio.Future[DNSRecord]) -> None:
        """Screen a datagram that passed the source and ID checks: the reply for REQUEST
        ends DONE, anything else is counted by its reason."""
        result = screen(request, data)
        if isinstance(result, Ignored):
            self.count(result)
        else:
            self.accepted += 1
            done.set_result(result)

    def as_dict(self) -> dict[str, int]:
        """The counters and their total, for the control socket."""
        return {**asdict(self), "ignored": self.ignored}


def id_bytes(request: DNSRecord) -> bytes:
    """The query's ID as it appears in the first two bytes of a reply."""
    return int(request.header.id).to_bytes(2, "big")


def header_ok(data: bytes, wanted_id: bytes) -> bool:
    """The cheap pre-check: long enough, the query's ID, and QR=1; no parsing."""
    return len(data) >= HEADER and data[:2] == wanted_id and bool(data[2] & QR)


def matches(request: DNSRecord, reply: DNSRecord) -> bool:
    """RFC 5452 §9.1: same ID, a response, and the same question."""
    if reply.header.id != request.header.id or not reply.header.qr:
        return False
    if len(reply.questions) != 1:
        return False
    asked, got = request.q, reply.q
    return bool(
        norm(asked.qname) == norm(got.qname)
        and asked.qtype == got.qtype
        and asked.qclass == got.qclass
    )


def screen(request: DNSRecord, data: bytes) -> DNSRecord | Ignored:
    """Parse a datagram that passed ``header_ok`` and check its question."""
    try:
        reply = DNSRecord.parse(data)
    except Exception:  # dnslib raises many types on garbage; all mean "not the reply"
        return Ignored.GARBAGE
    return reply if matches(request, reply) else Ignored.QUESTION


class UpstreamError(Exception):
    """A server gave no usable reply (unreachable, garbage, connection reset)."""


class UpstreamTimeout(UpstreamError):
    """A server did not reply in time."""


class OneReply(asyncio.DatagramProtocol):
    """One query's own connected socket (a kernel-chosen random port), waiting for the one
    datagram that is the reply: from the server asked, with the query's ID (two bytes
    compared, no parse), for the question asked."""

    def __init__(self, request: DNSRecord, peer: tuple[str, int], counters: ReplyCounters) -> None:
        self.request = request
        self.peer = peer
        self.counters = counters
        self.wanted_id = id_bytes(request)
        self.done: asyncio.Future[DNSRecord] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.done.done():
            return
        if (addr[0], addr[1]) != self.peer:
            self.counters.count(Ignored.SOURCE)
        elif not header_ok(data, self.wanted_id):
            self.counters.count(Ignored.ID)
        else:
            self.counters.settle(self.request, data, self.done)

    def error_received(self, exc: Exception) -> None:
        # ICMP port or host unreachable on the connected socket: nobody there.
        if not self.done.done():
            self.done.set_exception(UpstreamError(f"unreachable: {exc}"))


async def ask_over_tcp(peer: tuple[str, int], request: DNSRecord, timeout: float) -> DNSRecord:
    """REQUEST on a TCP connection of its own, 2-byte length framing (RFC 1035 §4.2.2); the
    reply if it matches, else UpstreamTimeout or UpstreamError saying why."""
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(*peer)
            try:
                wire = request.pack()
                writer.write(struct.pack("!H", len(wire)) + wire)
                await writer.drain()
                (length,) = struct.unpack("!H", await reader.readexactly(2))
                data = await reader.readexactly(length)
            finally:
                writer.close()
    except TimeoutError as e:
        raise UpstreamTimeout(f"no reply in {timeout:g}s over TCP") from e
    except (OSError, asyncio.IncompleteReadError) as e:
        raise UpstreamError(f"TCP to {peer[0]}:{peer[1]} failed: {e}") from e
    try:
        reply = DNSRecord.parse(data)
    except Exception as e:  # dnslib raises many types on garbage
        raise UpstreamError(f"unparseable TCP reply: {e}") from e
    if not matches(request, reply):
        raise UpstreamError("TCP reply does not match the question")
    return reply

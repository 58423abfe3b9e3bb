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

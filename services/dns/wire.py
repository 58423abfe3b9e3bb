"""Packet-level rules shared by the authoritative server and the resolver, no I/O.

Parsing untrusted bytes, the FORMERR/NOTIMP decisions, EDNS(0) payload size
and UDP truncation live here so both servers behave the same on the wire.
"""

from __future__ import annotations

from dataclasses import dataclass

from dnslib import EDNS0, OPCODE, QTYPE, RCODE, DNSBuffer, DNSError, DNSHeader, DNSRecord

CLASSIC_UDP_LIMIT = 512  # RFC 1035 §4.2.1
OUR_EDNS_PAYLOAD = 1232  # the DNS Flag Day 2020 value: fits an IPv6 minimum MTU


@dataclass
class Parsed:
    """A query that parsed, or the error reply (None: drop silently)."""

    query: DNSRecord | None
    error: bytes | None = None
    reason: str = ""


def parse_query(wire: bytes) -> Parsed:
    """Parse a query from the wire; never raises on hostile input.

    RFC 1035 §4.1.1: FORMERR when the server "was unable to interpret the
    query". Without a complete 12-byte header there is no ID to answer to,
    so the packet is dropped; a packet with QR=1 is a response and is dropped
    too (answering it could start a reflection loop).
    """
    if len(wire) < 12:
        return Parsed(None, None, "shorter than a DNS header")
    header = DNSHeader.parse(DNSBuffer(wire[:12]))
    if header.qr:
        return Parsed(None, None, "QR=1: a response, not a query")
    try:
        query = DNSRecord.parse(wire)
    except (DNSError, ValueError, IndexError, UnicodeDecodeError) as e:
        return Parsed(None, error_reply(header, RCODE.FORMERR), f"unparseable: {e}")
    if header.opcode != OPCODE.QUERY:
        return Parsed(None, error_reply(header, RCODE.NOTIMP), "opcode not QUERY")
    if len(query.questions) != 1:
        return Parsed(None, error_reply(header, RCODE.FORMERR), "QDCOUNT is not 1")
    return Parsed(query)


def error_reply(header: DNSHeader, rcode: int) -> bytes:
    """A header-only reply echoing the ID, opcode and RD bit of the query."""
    reply = DNSHeader(id=header.id, qr=1, opcode=header.opcode, rd=header.rd, rcode=rcode)
    wire: bytes = DNSRecord(reply).pack()
    return wire


def edns_payload(query: DNSRecord) -> int | None:
    """The requestor's UDP payload size from its OPT record (RFC 6891 §6.2.3)."""
    for rr in query.ar:
        if rr.rtype == QTYPE.OPT:
            return max(CLASSIC_UDP_LIMIT, int(rr.rclass))
    return None


def finish(query: DNSRecord, reply: DNSRecord, proto: str) -> bytes:
    """Pack a reply; over UDP, truncate it to what the requestor can take.

    RFC 6891 §7: a reply to an EDNS query carries an OPT record. RFC 2181 §9
    and RFC 1035 §4.2.1: if the reply does not fit, send what fits with TC=1
    and the client retries over TCP; here the sections are simply emptied,
    keeping the question, which every client handles.
    """
    payload = edns_payload(query)
    reply.ar = [rr for rr in reply.ar if rr.rtype != QTYPE.OPT]
    if payload is not None:
        reply.add_ar(EDNS0(udp_len=OUR_EDNS_PAYLOAD))
    wire: bytes = reply.pack()
    limit = min(payload, OUR_EDNS_PAYLOAD) if payload else CLASSIC_UDP_LIMIT
    if proto == "udp" and len(wire) > limit:
        short = DNSRecord(reply.header, questions=list(reply.questions))
        short.header.tc = 1
        if payload is not None:
            short.add_ar(EDNS0(udp_len=OUR_EDNS_PAYLOAD))
        wire = short.pack()
    return wire

"""Packet-level rules shared by the authoritative server and the resolver, no I/O.

Parsing untrusted bytes, the FORMERR/NOTIMP/BADVERS decisions, EDNS(0)
(RFC 6891) payload size and UDP truncation live here so both servers behave
the same on the wire.
"""

from __future__ import annotations

from dataclasses import dataclass

from dnslib import EDNS0, OPCODE, QTYPE, RCODE, DNSBuffer, DNSError, DNSHeader, DNSRecord

CLASSIC_UDP_LIMIT = 512  # RFC 1035 §4.2.1
OUR_EDNS_PAYLOAD = 1232  # the DNS Flag Day 2020 value: fits an IPv6 minimum MTU
MAX_EDNS_PAYLOAD = 4096  # the largest --edns-max a server may be configured with
BADVERS = 16  # RFC 6891 §6.1.3: extended RCODE, upper 8 bits go in the OPT TTL


@dataclass(frozen=True)
class Edns:
    """What the requestor's OPT record said (RFC 6891 §6.1.2)."""

    payload: int  # requestor's UDP payload size, already raised to at least 512
    version: int
    do: bool


@dataclass
class Parsed:
    """A query that parsed, or the error reply (None: drop silently)."""

    query: DNSRecord | None
    error: bytes | None = None
    reason: str = ""
    edns: Edns | None = None


def reply_to(query: DNSRecord, *, aa: bool, ra: bool) -> DNSRecord:
    """An empty reply to ``query``: its ID, opcode and question; of its flags only RD and CD.

    dnslib's ``DNSRecord.reply`` copies the query's whole flag word, so a
    query's AD, Z, TC or RCODE bits would come back set. RFC 1035 §4.1.1:
    RD is copied into the response, Z must be zero, TC means this message
    was truncated and RCODE is the responder's; RFC 4035 §3.1.6 (authoritative)
    and §3.2.3 (recursive): CD is copied, AD is set only for data the server
    has validated or is authoritative for with DNSSEC, which we never do.
    """
    h = query.header
    return DNSRecord(
        DNSHeader(id=h.id, qr=1, opcode=h.opcode, rd=h.rd, cd=h.cd, aa=int(aa), ra=int(ra)),
        q=query.q,
    )


def type_text(qtype: int) -> str:
    """A type's mnemonic (``A``, ``NS``), or RFC 3597's ``TYPEnnn`` for unknown ones."""
    name = QTYPE.get(qtype, None)
    return str(name) if isinstance(name, str) else f"TYPE{qtype}"


def _edns(query: DNSRecord) -> tuple[Edns | None, str]:
    """The OPT record's content, or a reason it makes the query malformed."""
    opts = [rr for rr in query.ar if rr.rtype == QTYPE.OPT]
    if not opts:
        return None, ""
    if len(opts) > 1:
        # RFC 6891 §6.1.1: more than one OPT RR means FORMERR.
        return None, "more than one OPT record"
    opt = opts[0]
    if str(opt.rname) not in (".", ""):
        return None, "OPT owner is not the root"  # RFC 6891 §6.1.2
    ttl = int(opt.ttl)
    # §6.2.5: a payload below 512 is treated as 512.
    return Edns(max(CLASSIC_UDP_LIMIT, int(opt.rclass)), (ttl >> 16) & 0xFF, bool(ttl & 0x8000)), ""


def parse_query(wire: bytes) -> Parsed:
    """Parse a query from the wire; never raises on hostile input.

    RFC 1035 §4.1.1: FORMERR when the server "was unable to interpret the
    query". Without a complete 12-byte header there is no ID to answer to,
    so the packet is dropped; a packet with QR=1 is a response and is dropped
    too (answering it could start a reflection loop). Opcodes other than
    QUERY get NOTIMP (RFC 1035 §4.1.1; see ``notimp_reply`` for what it
    echoes), EDNS versions above 0 get BADVERS (RFC 6891 §6.1.3); unknown
    EDNS options are ignored (§6.1.2).
    """
    if len(wire) < 12:
        return Parsed(None, None, "shorter than a DNS header")
    header = DNSHeader.parse(DNSBuffer(wire[:12]))
    if header.qr:
        return Parsed(None, None, "QR=1: a response, not a query")
    if header.opcode != OPCODE.QUERY:
        return Parsed(None, notimp_reply(header, wire), f"opcode {header.opcode} not implemented")
    try:
        query = DNSRecord.parse(wire)
    except (DNSError, ValueError, IndexError, UnicodeDecodeError, TypeError) as e:
        return Parsed(None, error_reply(header, RCODE.FORMERR), f"unparseable: {e}")
    if len(query.questions) != 1:
        return Parsed(None, error_reply(header, RCODE.FORMERR), "QDCOUNT is not 1")
    edns, problem = _edns(query)
    if problem:
        return Parsed(None, error_reply(header, RCODE.FORMERR, query), problem)
    if edns is not None and edns.version > 0:
        # RFC 6891 §6.1.3: answer with our version (0) and BADVERS, nothing else.
        reply = DNSRecord(
            DNSHeader(id=header.id, qr=1, opcode=header.opcode, rd=header.rd, cd=header.cd),
            questions=list(query.questions),
        )
        reply.add_ar(_opt(query, OUR_EDNS_PAYLOAD, BADVERS >> 4))
        reply.header.rcode = BADVERS & 0xF
        return Parsed(None, bytes(reply.pack()), f"EDNS version {edns.version}", edns)
    return Parsed(query, edns=edns)


def error_reply(header: DNSHeader, rcode: int, query: DNSRecord | None = None) -> bytes:
    """A reply echoing the ID, opcode, RD and CD bits of the query (and its question if parsed)."""
    reply = DNSHeader(
        id=header.id, qr=1, opcode=header.opcode, rd=header.rd, cd=header.cd, rcode=rcode
    )
    questions = list(query.questions) if query is not None else []
    wire: bytes = DNSRecord(reply, questions=questions).pack()
    return wire


def notimp_reply(header: DNSHeader, wire: bytes) -> bytes:
    """NOTIMP for an opcode we do not implement: ID and opcode echoed, no other bit, no section.

    RFC 1035 §4.1.1 copies the ID and the OPCODE of any request into its
    response. RFC 6895 §2 expects RD and CD to be copied too, but those are
    QUERY's bits (RD: RFC 1035 §4.1.1, CD: RFC 4035 §3.2.2), and an opcode
    defines its own header: RFC 2136 §2.2 makes the same positions of an
    UPDATE reserved bits that must be zero. For an opcode we do not know we
    cannot tell what they mean, so they stay zero and the question is not
    echoed (the section counts are the opcode's too), as BIND 9.18 answers;
    NSD 4.6 and Unbound 1.17 copy the whole flag word, AA, TC and Z included.
    RFC 6891 §6.1.1: a request with one OPT record gets one back, the DO bit
    copied (RFC 3225 §3), as BIND and Unbound do. If the rest does not parse
    there is no OPT to answer, and the body's format is the opcode's, so the
    reply is still NOTIMP, not FORMERR (as NSD and Unbound).
    """
    # dnslib's DNSHeader sets RD unless told otherwise.
    reply = DNSRecord(DNSHeader(id=header.id, qr=1, opcode=header.opcode, rd=0, rcode=RCODE.NOTIMP))
    try:
        message: DNSRecord | None = DNSRecord.parse(wire)
    except (DNSError, ValueError, IndexError, UnicodeDecodeError, TypeError):
        message = None
    if message is not None:
        edns, problem = _edns(message)
        if edns is not None and not problem:
            reply.add_ar(_opt(message, OUR_EDNS_PAYLOAD))
    return bytes(reply.pack())


def wants_dnssec(query: DNSRecord) -> bool:
    """The DO bit of the query's OPT record (RFC 3225 §3: the top bit of its flags)."""
    return any(rr.rtype == QTYPE.OPT and int(rr.ttl) & 0x8000 for rr in query.ar)


def _opt(query: DNSRecord, udp_len: int, ext_rcode: int = 0) -> EDNS0:
    # RFC 3225 §3: "the DO bit of the query MUST be copied in the response". The
    # lab's zones are unsigned, so the answer carries no signatures either way.
    return EDNS0(udp_len=udp_len, ext_rcode=ext_rcode, flags="do" if wants_dnssec(query) else "")


def edns_payload(query: DNSRecord) -> int | None:
    """The requestor's UDP payload size from its OPT record (RFC 6891 §6.2.3)."""
    for rr in query.ar:
        if rr.rtype == QTYPE.OPT:
            return max(CLASSIC_UDP_LIMIT, int(rr.rclass))
    return None


def udp_limit(payload: int | None, our_max: int = OUR_EDNS_PAYLOAD) -> int:
    """Largest UDP reply allowed: 512 without EDNS, else min(requestor's size, ours).

    RFC 6891 §6.2.5 and §6.2.3: the requestor's size is a ceiling, and a
    responder also keeps to its own configured maximum (1232 by default,
    at most 4096).
    """
    if payload is None:
        return CLASSIC_UDP_LIMIT
    return max(CLASSIC_UDP_LIMIT, min(payload, our_max, MAX_EDNS_PAYLOAD))


def finish(
    query: DNSRecord, reply: DNSRecord, proto: str, our_max: int = OUR_EDNS_PAYLOAD
) -> bytes:
    """Pack a reply; over UDP, truncate it to what the requestor can take.

    RFC 6891 §7: a reply to an EDNS query carries an OPT record (and only
    then). RFC 2181 §9 and RFC 7766 §5: if the reply does not fit, never send
    partial RRsets; here the header (TC=1), the question and the OPT are sent
    and the client retries over TCP.
    """
    payload = edns_payload(query)
    reply.ar = [rr for rr in reply.ar if rr.rtype != QTYPE.OPT]
    if payload is not None:
        reply.add_ar(_opt(query, our_max))
    wire = bytes(reply.pack())
    if proto == "udp" and len(wire) > udp_limit(payload, our_max):
        short = DNSRecord(reply.header, questions=list(reply.questions))
        short.header.tc = 1
        if payload is not None:
            short.add_ar(_opt(query, our_max))
        wire = bytes(short.pack())
    return wire

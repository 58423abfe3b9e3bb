"""EDNS(0), RCODEs and truncation decided by services.dnscore.wire and the server, no sockets."""

import struct
from pathlib import Path

from dnslib import EDNS0, OPCODE, QTYPE, RCODE, DNSRecord

from services.dns.server import AuthoritativeServer
from services.dns.zone import ZoneSet, load_zone
from services.dnscore.wire import BADVERS, parse_query, udp_limit

ZONES = Path(__file__).resolve().parents[3] / "services" / "zones"
CLIENT = ("192.0.2.1", 5353)


def server() -> AuthoritativeServer:
    return AuthoritativeServer(ZoneSet([load_zone(ZONES / "example.com.zone")]), "ns1.test")


def ask(query: DNSRecord, proto: str = "udp", srv: AuthoritativeServer | None = None) -> DNSRecord:
    data = (srv or server()).respond(query.pack(), CLIENT, proto)
    assert data is not None
    return DNSRecord.parse(data)


def opt(reply: DNSRecord) -> list[object]:
    return [rr for rr in reply.ar if rr.rtype == QTYPE.OPT]


def test_udp_limit_rules() -> None:
    """512 without EDNS; the requestor's size, raised to 512, capped by ours."""
    assert udp_limit(None) == 512
    assert udp_limit(100) == 512
    assert udp_limit(4096) == 1232
    assert udp_limit(4096, 4096) == 4096
    assert udp_limit(1400, 4096) == 1400


def test_opt_only_when_query_had_one() -> None:
    """RFC 6891 §7: OPT in the reply iff the query carried one."""
    plain = ask(DNSRecord.question("origin.example.com"))
    assert opt(plain) == []
    query = DNSRecord.question("origin.example.com")
    query.add_ar(EDNS0(udp_len=1232))
    assert len(opt(ask(query))) == 1


def test_badvers_for_edns_version_1() -> None:
    """RFC 6891 §6.1.3: version 1 gets extended RCODE BADVERS (16) and version 0."""
    query = DNSRecord.question("origin.example.com")
    query.add_ar(EDNS0(udp_len=1232, version=1))
    reply = ask(query)
    (record,) = opt(reply)
    ext = (int(record.ttl) >> 24) << 4 | reply.header.rcode  # type: ignore[attr-defined]
    assert ext == BADVERS
    assert reply.rr == []
    assert (int(record.ttl) >> 16) & 0xFF == 0  # type: ignore[attr-defined]


def test_two_opt_records_are_formerr() -> None:
    """RFC 6891 §6.1.1: more than one OPT RR is FORMERR."""
    query = DNSRecord.question("origin.example.com")
    query.add_ar(EDNS0(udp_len=1232))
    query.add_ar(EDNS0(udp_len=1232))
    assert ask(query).header.rcode == RCODE.FORMERR


def test_unknown_edns_option_is_ignored() -> None:
    """RFC 6891 §6.1.2: an unknown option does not change the answer."""
    query = DNSRecord.question("origin.example.com")
    query.add_ar(EDNS0(udp_len=1232, opts=[]))
    wire = bytearray(query.pack())
    # Append option code 65001, length 2, to the OPT RDATA (the last RR).
    wire[-2:] = struct.pack("!H", 6)
    wire += struct.pack("!HH", 65001, 2) + b"hi"
    data = server().respond(bytes(wire), CLIENT, "udp")
    assert data is not None
    reply = DNSRecord.parse(data)
    assert reply.header.rcode == RCODE.NOERROR
    assert str(reply.rr[0].rdata) == "198.51.100.90"


def test_unknown_opcode_is_notimp() -> None:
    """RFC 1035 §4.1.1: an opcode other than QUERY (here NOTIFY) gets NOTIMP."""
    query = DNSRecord.question("example.com", "SOA")
    query.header.opcode = OPCODE.NOTIFY
    assert ask(query).header.rcode == RCODE.NOTIMP


def test_unknown_qtype_is_nodata() -> None:
    """An unknown type (TYPE65280) at an existing name is NOERROR, empty, with the SOA."""
    query = DNSRecord.question("origin.example.com")
    query.questions[0].qtype = 65280
    reply = ask(query)
    assert reply.header.rcode == RCODE.NOERROR
    assert reply.rr == []
    assert reply.header.aa
    assert reply.auth[0].rtype == QTYPE.SOA


def test_classes_like_nsd() -> None:
    """CH id.server names the server, other CH and HS are REFUSED, ANY is served as IN."""
    ident = DNSRecord.question("id.server", "TXT", "CH")
    reply = ask(ident)
    assert reply.header.rcode == RCODE.NOERROR
    assert "ns1.test" in str(reply.rr[0].rdata)
    assert ask(DNSRecord.question("version.bind", "TXT", "CH")).header.rcode == RCODE.REFUSED
    hesiod = DNSRecord.question("example.com", "SOA")
    hesiod.questions[0].qclass = 4  # HS
    assert ask(hesiod).header.rcode == RCODE.REFUSED
    anyclass = DNSRecord.question("example.com", "SOA")
    anyclass.questions[0].qclass = 255
    assert ask(anyclass).header.rcode == RCODE.NOERROR


def test_outside_zones_is_refused() -> None:
    """A name in no zone the server holds is REFUSED, not NXDOMAIN."""
    assert ask(DNSRecord.question("example.org")).header.rcode == RCODE.REFUSED


def test_big_answer_truncated_with_question_and_opt() -> None:
    """big.example.com TXT (>1232 bytes) over UDP: TC=1, question and OPT, no records."""
    query = DNSRecord.question("big.example.com", "TXT")
    query.add_ar(EDNS0(udp_len=4096))
    reply = ask(query)
    assert reply.header.tc == 1
    assert reply.rr == []
    assert reply.auth == []
    assert str(reply.q.qname) == "big.example.com."
    assert len(opt(reply)) == 1
    full = ask(query, "tcp")
    assert full.header.tc == 0
    assert len(full.rr) == 24


def test_big_a_set_fits_only_with_larger_edns_max() -> None:
    """80 A records (~1.3 kB) are truncated at 1232 but fit when --edns-max is 4096."""
    query = DNSRecord.question("big.example.com", "A")
    query.add_ar(EDNS0(udp_len=4096))
    assert ask(query).header.tc == 1
    roomy = AuthoritativeServer(
        ZoneSet([load_zone(ZONES / "example.com.zone")]), "x", edns_max=4096
    )
    assert len(ask(query, srv=roomy).rr) == 80


def test_parse_never_raises_on_pointer_loop() -> None:
    """A compression pointer to itself is FORMERR, not a hang or an exception."""
    wire = struct.pack("!6H", 7, 0, 1, 0, 0, 0) + b"\xc0\x0c\x00\x01\x00\x01"
    parsed = parse_query(wire)
    assert parsed.query is None
    assert parsed.error is not None
    assert DNSRecord.parse(parsed.error).header.rcode == RCODE.FORMERR


def test_wire_cache_patches_id_and_keys_on_transport() -> None:
    """A repeated question is served from the wire cache with its own ID; UDP/TCP differ."""
    srv = server()
    first = DNSRecord.question("big.example.com", "TXT")
    second = DNSRecord.question("big.example.com", "TXT")
    second.header.id = (first.header.id + 1) % 65536
    a = ask(first, srv=srv)
    b = ask(second, srv=srv)
    assert b.header.id == second.header.id
    assert b.header.tc == a.header.tc == 1
    assert len(ask(second, "tcp", srv).rr) == 24


def test_reload_empties_wire_cache() -> None:
    """After replace_zones the server answers from the new data, not the cached reply."""
    srv = server()
    assert ask(DNSRecord.question("origin.example.com"), srv=srv).rr
    srv.replace_zones(ZoneSet([load_zone(ZONES / "com.zone")]))
    assert ask(DNSRecord.question("origin.example.com"), srv=srv).header.aa == 0


def test_reply_flags_only_rd_and_cd_come_from_the_query() -> None:
    """AD, Z, TC and RCODE bits of a query are not echoed; RD and CD are (RFC 1035 §4.1.1)."""
    for proto in ("udp", "tcp"):
        query = DNSRecord.question("example.com", "SOA")
        query.header.ad = query.header.z = query.header.tc = query.header.cd = 1
        query.header.rd = 1
        query.header.rcode = RCODE.SERVFAIL
        reply = ask(query, proto).header
        assert (reply.ad, reply.z, reply.tc, reply.rcode) == (0, 0, 0, RCODE.NOERROR)
        assert (reply.rd, reply.cd, reply.aa, reply.ra) == (1, 1, 1, 0)
        plain = DNSRecord.question("example.com", "SOA")
        plain.header.rd = 0
        assert (ask(plain, proto).header.rd, ask(plain, proto).header.cd) == (0, 0)


def test_error_replies_do_not_echo_stray_bits() -> None:
    """A FORMERR reply to a QUERY keeps RD and CD but not AD, Z or TC (RFC 1035 §4.1.1)."""
    query = DNSRecord.question("example.com")
    query.add_question(DNSRecord.question("example.net").q)  # QDCOUNT 2: FORMERR
    query.header.ad = query.header.z = query.header.tc = query.header.cd = 1
    reply = ask(query).header
    assert reply.rcode == RCODE.FORMERR
    assert (reply.ad, reply.z, reply.tc, reply.rd, reply.cd) == (0, 0, 0, 1, 1)


def test_qclass_any_is_answered_without_aa() -> None:
    """A QCLASS ANY answer does not claim authority: AA=0 (RFC 6895 §3.2), data as for IN."""
    anyclass = DNSRecord.question("example.com", "SOA")
    anyclass.questions[0].qclass = 255
    reply = ask(anyclass)
    assert reply.header.aa == 0
    assert reply.header.rcode == RCODE.NOERROR
    assert [QTYPE.get(rr.rtype) for rr in reply.rr] == ["SOA"]
    assert ask(DNSRecord.question("example.com", "SOA")).header.aa == 1

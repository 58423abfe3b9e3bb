"""NOTIMP for opcodes the authoritative server does not implement (services.dnscore.wire)."""

import struct

import pytest
from dnslib import EDNS0, QTYPE, RCODE, DNSRecord

from services.dns.server import AuthoritativeServer
from services.dns.zone import ZoneSet
from services.dnscore.wire import parse_query

CLIENT = ("192.0.2.1", 5353)
FLAGS = ("aa", "tc", "rd", "ra", "z", "ad", "cd")


def respond(wire: bytes) -> bytes:
    data = AuthoritativeServer(ZoneSet([]), "ns1.test").respond(wire, CLIENT, "udp")
    assert data is not None
    return data


def query(opcode: int, edns: bool = False, do: bool = False) -> DNSRecord:
    q = DNSRecord.question("example.com", "SOA")
    q.header.id = 0x4242
    q.header.opcode = opcode
    q.header.rd = q.header.cd = 1
    if edns:
        q.add_ar(EDNS0(udp_len=1232, flags="do" if do else ""))
    return q


def opts(reply: DNSRecord) -> list[int]:
    """The TTL field (extended RCODE, version, DO) of each OPT record."""
    return [int(rr.ttl) for rr in reply.ar if rr.rtype == QTYPE.OPT]


@pytest.mark.parametrize("opcode", [1, 2, 3, 4, 5, 6, 15])
def test_unknown_opcode_echoes_id_and_opcode_only(opcode: int) -> None:
    """Opcode 1-15 with every flag set: NOTIMP, same ID and opcode, no flag but QR, no sections."""
    q = query(opcode)
    q.header.aa = q.header.tc = q.header.z = q.header.ad = 1
    data = respond(bytes(q.pack()))
    assert len(data) == 12
    reply = DNSRecord.parse(data)
    assert (reply.header.id, reply.header.qr, reply.header.opcode) == (0x4242, 1, opcode)
    assert reply.header.rcode == RCODE.NOTIMP
    assert [f for f in FLAGS if getattr(reply.header, f)] == []


def test_opcode_15_with_rd_cd_is_answered_like_bind() -> None:
    """Opcode 15 with RD and CD: the flag word is QR, opcode 15 and NOTIMP, nothing else."""
    data = respond(bytes(query(15).pack()))
    flags = struct.unpack("!H", data[2:4])[0]
    assert flags == 0x8000 | 15 << 11 | RCODE.NOTIMP


def test_unknown_opcode_with_edns_gets_opt_with_do_copied() -> None:
    """RFC 6891 §6.1.1 and RFC 3225 §3: one OPT back, version 0, DO as the request had it."""
    with_do = DNSRecord.parse(respond(bytes(query(15, edns=True, do=True).pack())))
    assert with_do.header.rcode == RCODE.NOTIMP
    assert opts(with_do) == [0x8000]
    without = DNSRecord.parse(respond(bytes(query(15, edns=True).pack())))
    assert opts(without) == [0]
    assert opts(DNSRecord.parse(respond(bytes(query(15).pack())))) == []


def test_unknown_opcode_with_unparseable_body_is_still_notimp() -> None:
    """A body that is not a QUERY's format is the opcode's business: NOTIMP, header only."""
    wire = struct.pack("!6H", 7, 15 << 11 | 0x0110, 1, 0, 0, 1) + b"\xff\xfe\x00"
    parsed = parse_query(wire)
    assert parsed.query is None
    assert parsed.error == struct.pack("!6H", 7, 0x8000 | 15 << 11 | RCODE.NOTIMP, 0, 0, 0, 0)

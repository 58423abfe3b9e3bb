"""The resolver's NOTIMP for opcodes it does not implement: no RD, CD or RA echoed."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from dnslib import EDNS0, QTYPE, RCODE, DNSRecord

from services.resolver.server import RecursiveServer

if TYPE_CHECKING:
    from services.resolver.iterate import Resolver

    from .conftest import FakeClock, FakeNetwork

LOCAL = ("127.0.0.1", 5300)
FLAGS = ("aa", "tc", "rd", "ra", "z", "ad", "cd")


async def test_opcode_15_with_rd_cd_is_notimp_without_flags(
    resolver: Resolver, clock: FakeClock, net: FakeNetwork
) -> None:
    """Opcode 15, RD+CD, EDNS DO: NOTIMP, only QR set, OPT with DO, and nothing sent upstream."""
    server = RecursiveServer(resolver, [ipaddress.ip_network("127.0.0.0/8")], clock=clock)
    for _ in range(2):  # error replies must not enter the wire cache either
        query = DNSRecord.question("origin.example.com")
        query.header.opcode = 15
        query.header.rd = query.header.cd = 1
        query.add_ar(EDNS0(udp_len=1232, flags="do"))
        reply = DNSRecord.parse(await server.handle(query.pack(), LOCAL, "udp") or b"")
        assert (reply.header.opcode, reply.header.rcode) == (15, RCODE.NOTIMP)
        assert [f for f in FLAGS if getattr(reply.header, f)] == []
        assert reply.questions == []
        assert [int(rr.ttl) for rr in reply.ar if rr.rtype == QTYPE.OPT] == [0x8000]
    assert net.sent == []

"""The UDP/TCP upstream transport: RFC 5452 reply matching, timeouts, TC fallback."""

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from dnslib import QTYPE, RCODE, DNSRecord

from services.dns.server import AuthoritativeServer
from services.dns.zone import ZoneSet, build_zone
from services.dnscore.listen import Listener, listen
from services.dnscore.masterfile import parse_master
from services.resolver.transport import NetworkTransport, UpstreamError, UpstreamTimeout

Behaviour = Callable[[DNSRecord], list[bytes]]


class Scripted(asyncio.DatagramProtocol):
    """A UDP 'server' that answers each query with scripted datagrams."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.seen: list[tuple[int, int]] = []  # (query id, client port)
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        query = DNSRecord.parse(data)
        self.seen.append((query.header.id, addr[1]))
        for datagram in self.behaviour(query):
            assert self.transport is not None
            self.transport.sendto(datagram, addr)


async def scripted(behaviour: Behaviour) -> tuple[asyncio.DatagramTransport, Scripted]:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: Scripted(behaviour), local_addr=("127.0.0.1", 0)
    )
    return transport, protocol


def good(query: DNSRecord) -> bytes:
    reply = query.reply(ra=0, aa=1)
    reply.add_answer(*DNSRecord.question("x").replyZone("x.test. 60 A 192.0.2.1").rr)
    return reply.pack()


async def test_spoofed_replies_are_ignored() -> None:
    """Replies with a wrong ID or question are ignored; the real one is accepted."""

    def behaviour(query: DNSRecord) -> list[bytes]:
        wrong_id = query.reply()
        wrong_id.header.id = (query.header.id + 1) % 65536
        wrong_q = DNSRecord.question("other.test").reply()
        wrong_q.header.id = query.header.id
        return [wrong_id.pack(), wrong_q.pack(), b"junk", good(query)]

    udp, _ = await scripted(behaviour)
    port = udp.get_extra_info("sockname")[1]
    try:
        reply = await NetworkTransport(port=port, timeout=2).query("127.0.0.1", "x.test.", QTYPE.A)
        assert str(reply.rr[0].rdata) == "192.0.2.1"
    finally:
        udp.close()


async def test_random_id_and_source_port_per_query() -> None:
    """Each query uses a fresh ID and a fresh source port (RFC 5452 §9.2)."""
    udp, protocol = await scripted(lambda q: [good(q)])
    port = udp.get_extra_info("sockname")[1]
    transport = NetworkTransport(port=port, timeout=2)
    try:
        for _ in range(5):
            await transport.query("127.0.0.1", "x.test.", QTYPE.A)
    finally:
        udp.close()
    assert len({qid for qid, _ in protocol.seen}) > 1
    assert len({sport for _, sport in protocol.seen}) > 1


async def test_silent_server_times_out() -> None:
    """A server that never answers raises UpstreamTimeout after the timeout."""
    udp, _ = await scripted(lambda q: [])
    port = udp.get_extra_info("sockname")[1]
    try:
        with pytest.raises(UpstreamTimeout):
            await NetworkTransport(port=port, timeout=0.2).query("127.0.0.1", "x.", QTYPE.A)
    finally:
        udp.close()


async def test_nothing_listening_is_an_error() -> None:
    """ICMP port unreachable is reported at once as UpstreamError."""
    udp, _ = await scripted(lambda q: [])
    port = udp.get_extra_info("sockname")[1]
    udp.close()  # the port is now closed
    with pytest.raises(UpstreamError):
        await NetworkTransport(port=port, timeout=5).query("127.0.0.1", "x.", QTYPE.A)


@pytest.fixture
async def big_server() -> AsyncIterator[Listener]:
    zone = build_zone(
        parse_master(
            "$TTL 60\n$ORIGIN big.test.\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n"
            + "".join(f'txt TXT "{i:03d}{"x" * 200}"\n' for i in range(10))
        )
    )
    listener = await listen(AuthoritativeServer(ZoneSet([zone]), "big").handle, "127.0.0.1", 0)
    yield listener
    await listener.close()


async def test_truncated_reply_retried_over_tcp(big_server: Listener) -> None:
    """TC=1 over UDP makes the transport ask again over TCP and get everything."""
    transport = NetworkTransport(address_map={"192.0.2.53": ("127.0.0.1", big_server.port)})
    reply = await transport.query("192.0.2.53", "txt.big.test.", QTYPE.TXT)
    assert reply.header.tc == 0
    assert len(reply.rr) == 10
    assert reply.header.rcode == RCODE.NOERROR

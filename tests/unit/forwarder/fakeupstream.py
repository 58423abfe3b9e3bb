"""A fake upstream recursive server on loopback (UDP and TCP, dnslib) that counts what it is asked.

Each name answers as ``records`` says (a builder from the query to the
reply); unknown names get NXDOMAIN with an SOA. Switches make it misbehave
the ways the forwarder must survive: drop the next UDP queries (a
timeout), truncate UDP replies (TC=1), hold replies until released (for
questions in flight together), and send forged replies before the real one.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from dnslib import QTYPE, RCODE, RR, SOA, A, DNSRecord

from services.dnscore.names import norm

Build = Callable[[DNSRecord], DNSRecord]


def positive(*ttls_and_addresses: tuple[int, str]) -> Build:
    """NOERROR with one A record per (TTL, address)."""

    def build(query: DNSRecord) -> DNSRecord:
        reply = query.reply(ra=1, aa=0)
        for ttl, address in ttls_and_addresses:
            reply.add_answer(RR(query.q.qname, QTYPE.A, ttl=ttl, rdata=A(address)))
        return reply

    return build


def soa_record(zone: str, ttl: int, minimum: int) -> RR:
    """The zone's SOA as a denial carries it in the authority section."""
    times = (2024010101, 3600, 600, 86400, minimum)
    return RR(zone, QTYPE.SOA, ttl=ttl, rdata=SOA(f"ns1.{zone}", f"hostmaster.{zone}", times))


def negative(rcode: int, zone: str, ttl: int, minimum: int) -> Build:
    """NXDOMAIN or NODATA (rcode NOERROR, no answer) with the zone's SOA."""

    def build(query: DNSRecord) -> DNSRecord:
        reply = query.reply(ra=1, aa=0)
        reply.header.rcode = rcode
        reply.add_auth(soa_record(zone, ttl, minimum))
        return reply

    return build


def bare(rcode: int) -> Build:
    """A reply with that rcode and nothing else (a denial without SOA, SERVFAIL)."""

    def build(query: DNSRecord) -> DNSRecord:
        reply = query.reply(ra=1, aa=0)
        reply.header.rcode = rcode
        return reply

    return build


@dataclass
class FakeUpstream:
    """The fake server's behaviour and what it has seen."""

    records: dict[str, Build] = field(default_factory=dict)
    udp_seen: list[tuple[DNSRecord, tuple[str, int]]] = field(default_factory=list)
    tcp_seen: list[DNSRecord] = field(default_factory=list)
    drop: int = 0  # UDP queries still to drop without a reply
    truncate: bool = False  # UDP replies come back TC=1, header and question only
    forge: bool = False  # before the real reply: one with a wrong ID, one with a wrong question
    held: asyncio.Event | None = None  # set: replies wait until it is set
    udp: asyncio.DatagramTransport | None = None
    tcp: asyncio.Server | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def port(self) -> int:
        """The UDP and TCP port (the same number)."""
        assert self.udp is not None
        return int(self.udp.get_extra_info("sockname")[1])

    @property
    def queries(self) -> int:
        """Queries received, UDP and TCP."""
        return len(self.udp_seen) + len(self.tcp_seen)

    def answer(self, query: DNSRecord) -> DNSRecord:
        build = self.records.get(norm(query.q.qname))
        if build is None:
            build = negative(RCODE.NXDOMAIN, "test.", 60, 60)
        return build(query)

    async def _reply_udp(self, query: DNSRecord, to: tuple[str, int]) -> None:
        if self.held is not None:
            await self.held.wait()
        assert self.udp is not None
        if self.forge:
            wrong_id = DNSRecord.parse(positive((300, "203.0.113.66"))(query).pack())
            wrong_id.header.id = (query.header.id + 1) % 65536
            self.udp.sendto(wrong_id.pack(), to)
            other = DNSRecord.question("elsewhere.test.", "A")
            other.header.id = query.header.id
            self.udp.sendto(positive((300, "203.0.113.67"))(other).pack(), to)
        reply = self.answer(query)
        if self.truncate:
            reply = DNSRecord(reply.header, questions=list(reply.questions))
            reply.header.tc = 1
        self.udp.sendto(reply.pack(), to)

    def _udp_received(self, data: bytes, addr: tuple[str, int]) -> None:
        query = DNSRecord.parse(data)
        self.udp_seen.append((query, addr))
        if self.drop > 0:
            self.drop -= 1
            return
        task = asyncio.ensure_future(self._reply_udp(query, addr))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _tcp_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            (length,) = struct.unpack("!H", await reader.readexactly(2))
            query = DNSRecord.parse(await reader.readexactly(length))
            self.tcp_seen.append(query)
            wire = self.answer(query).pack()
            writer.write(struct.pack("!H", len(wire)) + wire)
            await writer.drain()
        finally:
            writer.close()

    async def close(self) -> None:
        """Stop both sockets and any reply still waiting."""
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.udp is not None:
            self.udp.close()
        if self.tcp is not None:
            self.tcp.close()
            await self.tcp.wait_closed()


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, fake: FakeUpstream) -> None:
        self.fake = fake

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.fake._udp_received(data, addr)


async def start_upstream() -> FakeUpstream:
    """A fake upstream on 127.0.0.1, UDP and TCP on one free port."""
    fake = FakeUpstream()
    loop = asyncio.get_running_loop()
    for _ in range(20):
        udp, _protocol = await loop.create_datagram_endpoint(
            lambda: _Protocol(fake), local_addr=("127.0.0.1", 0)
        )
        port = int(udp.get_extra_info("sockname")[1])
        try:
            fake.tcp = await asyncio.start_server(fake._tcp_client, "127.0.0.1", port)
        except OSError:
            udp.close()
            continue
        fake.udp = udp
        return fake
    raise OSError("no port free for both UDP and TCP")

"""End to end on loopback: the real authoritative servers with the real zone files,
the real resolver and transport, real UDP/TCP sockets; lab addresses mapped to 127.0.0.1."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import signal
import struct
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from dnslib import QTYPE, RCODE, DNSRecord

from services.dns.server import AuthoritativeServer
from services.dns.zone import ZoneSet
from services.dnscore.listen import Listener, listen
from services.resolver.cache import Cache
from services.resolver.hints import RootServer
from services.resolver.iterate import Resolver
from services.resolver.server import RecursiveServer
from services.resolver.transport import NetworkTransport
from tests.unit.udpclient import udp_exchange

if TYPE_CHECKING:
    from .conftest import FakeClock

ROOT_DIR = Path(__file__).resolve().parents[3]
DEADLINE = 5.0


@dataclass
class Lab:
    authorities: dict[str, Listener]
    resolver: Listener
    server: RecursiveServer
    transport: NetworkTransport


@pytest.fixture
async def lab(
    lab_zone_sets: dict[str, ZoneSet], roots: list[RootServer], clock: FakeClock
) -> AsyncIterator[Lab]:
    authorities: dict[str, Listener] = {}
    for address, zones in lab_zone_sets.items():
        server = AuthoritativeServer(zones, address)
        authorities[address] = await listen(server.handle, "127.0.0.1", 0, fast=server.cached)
    transport = NetworkTransport(
        timeout=0.5, address_map={a: ("127.0.0.1", lis.port) for a, lis in authorities.items()}
    )
    # The cache's clock is a fake one, so "later" needs no sleeping.
    resolver = Resolver(transport, Cache(clock), roots)
    front = RecursiveServer(resolver, [ipaddress.ip_network("127.0.0.0/8")], clock=clock)
    listener = await listen(front.handle, "127.0.0.1", 0, fast=front.cached)
    yield Lab(authorities, listener, front, transport)
    await listener.close()
    for authority in authorities.values():
        await authority.close()


async def ask(port: int, name: str, qtype: str = "A") -> DNSRecord:
    """A stub client query over UDP, RD=1, like dig."""
    return DNSRecord.parse(await udp_exchange(port, DNSRecord.question(name, qtype).pack()))


def records(reply: DNSRecord) -> list[tuple[str, str, str]]:
    return [(str(r.rname), QTYPE.get(r.rtype), str(r.rdata)) for r in reply.rr]


async def test_www_resolves_with_cname_chain(lab: Lab) -> None:
    """www.example.com gives the CNAME chain and 198.51.100.80, RA=1 and AA=0."""
    reply = await ask(lab.resolver.port, "www.example.com")
    assert reply.header.rcode == RCODE.NOERROR
    assert reply.header.ra == 1
    assert reply.header.aa == 0
    assert records(reply) == [
        ("www.example.com.", "CNAME", "www.example.com.edgecdn.net."),
        ("www.example.com.edgecdn.net.", "A", "198.51.100.80"),
    ]


async def test_second_query_is_cached_with_lower_ttl(
    lab: Lab, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A repeat comes from the cache (logged so) with the TTLs counted down."""
    caplog.set_level(logging.INFO, logger="services.resolver.server")
    first = await ask(lab.resolver.port, "www.example.com")
    clock.advance(7)
    second = await ask(lab.resolver.port, "www.example.com")
    assert [r.ttl for r in second.rr] == [r.ttl - 7 for r in first.rr]
    logs = [r for r in caplog.records if getattr(r, "event", "") == "resolver_query"]
    assert [r.from_cache for r in logs] == [False, True]  # type: ignore[attr-defined]
    trace = logs[0].trace  # type: ignore[attr-defined]
    assert trace[0]["server"] == "198.51.100.4"
    assert trace[0]["result"] == "referral"
    assert {"server", "qname", "qtype", "result", "detail", "rtt_ms"} <= set(trace[0])
    json.dumps(trace)  # the log line must serialise


async def test_unknown_name_is_nxdomain(lab: Lab) -> None:
    """A name example.com does not have is NXDOMAIN with the zone's SOA."""
    reply = await ask(lab.resolver.port, "nope.example.com")
    assert reply.header.rcode == RCODE.NXDOMAIN
    assert QTYPE.get(reply.auth[0].rtype) == "SOA"


async def test_zone_with_all_servers_down_is_servfail(lab: Lab) -> None:
    """With example.com's only server gone, names in it give SERVFAIL, not NXDOMAIN."""
    await ask(lab.resolver.port, "example.com", "SOA")  # learn the delegation first
    await lab.authorities["198.51.100.21"].close()
    reply = await ask(lab.resolver.port, "origin.example.com")
    assert reply.header.rcode == RCODE.SERVFAIL
    assert reply.rr == []


async def test_silent_server_times_out_then_servfail(lab: Lab) -> None:
    """A server that accepts packets but never answers costs one timeout, then SERVFAIL."""
    loop = asyncio.get_running_loop()
    blackhole, _ = await loop.create_datagram_endpoint(
        asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
    )
    try:
        lab.transport.address_map["198.51.100.31"] = (
            "127.0.0.1",
            blackhole.get_extra_info("sockname")[1],
        )
        reply = await ask(lab.resolver.port, "static.example.com")
        assert reply.header.rcode == RCODE.SERVFAIL
    finally:
        blackhole.close()


async def test_tcp_client_query(lab: Lab) -> None:
    """Clients may ask over TCP too."""
    reader, writer = await asyncio.open_connection("127.0.0.1", lab.resolver.port)
    wire = DNSRecord.question("api.example.com", "A").pack()
    writer.write(struct.pack("!H", len(wire)) + wire)
    (length,) = struct.unpack("!H", await asyncio.wait_for(reader.readexactly(2), DEADLINE))
    reply = DNSRecord.parse(await reader.readexactly(length))
    writer.close()
    await writer.wait_closed()
    assert records(reply)[-1] == ("api.example.com.edgecdn.net.", "A", "198.51.100.80")


async def test_concurrent_identical_questions_share_one_resolution(lab: Lab) -> None:
    """Simultaneous identical questions all get the answer from one lookup."""
    replies = await asyncio.gather(*(ask(lab.resolver.port, "www.example.com") for _ in range(5)))
    assert all(records(r)[-1][2] == "198.51.100.80" for r in replies)


async def test_clients_outside_allow_are_refused(lab: Lab, roots: list[RootServer]) -> None:
    """Recursion is refused to clients outside --allow (RFC 5358), asking nobody."""
    closed = RecursiveServer(lab.server.resolver, [ipaddress.ip_network("10.0.0.0/8")])
    wire = await closed.handle(
        DNSRecord.question("www.example.com").pack(), ("127.0.0.1", 5353), "udp"
    )
    assert wire is not None
    reply = DNSRecord.parse(wire)
    assert reply.header.rcode == RCODE.REFUSED
    assert reply.header.ra == 1


async def test_garbage_to_resolver_is_harmless(lab: Lab) -> None:
    """Malformed packets to the resolver get FORMERR or nothing; it keeps serving."""
    for junk in (b"\x00", b"\x12\x34" + b"\x00\x00\x00\x01" + b"\x00" * 6 + b"\x05abc"):
        await lab.server.handle(junk, ("127.0.0.1", 1), "udp")
    assert (await ask(lab.resolver.port, "origin.example.com")).rr


async def test_resolver_command_line_starts_and_refuses(tmp_path: Path) -> None:
    """`python -m services.resolver --root-zone ...` serves, refuses outsiders, stops."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.resolver",
        "--root-zone",
        "services/zones/root.zone",
        "--allow",
        "10.0.0.0/8",
        "--listen",
        "127.0.0.1",
        "--port",
        "0",
        "--control-socket",
        str(tmp_path / "ctl.sock"),
        cwd=ROOT_DIR,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    try:
        started = json.loads(await asyncio.wait_for(proc.stdout.readline(), DEADLINE))
        assert started["event"] == "resolver_started"
        assert started["roots"] == ["a.root-servers.net.", "b.root-servers.net."]
        reply = await ask(started["port"], "www.example.com")
        assert reply.header.rcode == RCODE.REFUSED
        ctl = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "services.resolver.ctl",
            "--socket",
            str(tmp_path / "ctl.sock"),
            "flush",
            cwd=ROOT_DIR,
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await asyncio.wait_for(ctl.communicate(), DEADLINE)
        assert ctl.returncode == 0
        assert out.startswith(b"flushed 0 entries")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), DEADLINE) == 0


async def test_big_answer_makes_resolver_retry_over_tcp(lab: Lab) -> None:
    """big.example.com TXT (>1232 B): the authority sets TC=1, the resolver asks again over TCP."""
    reader, writer = await asyncio.open_connection("127.0.0.1", lab.resolver.port)
    wire = DNSRecord.question("big.example.com", "TXT").pack()
    writer.write(struct.pack("!H", len(wire)) + wire)
    (length,) = struct.unpack("!H", await asyncio.wait_for(reader.readexactly(2), DEADLINE))
    reply = DNSRecord.parse(await reader.readexactly(length))
    writer.close()
    assert reply.header.rcode == RCODE.NOERROR
    assert len(reply.rr) == 24
    assert lab.transport.tcp_retries >= 1
    over_udp = await ask(lab.resolver.port, "big.example.com", "TXT")
    assert over_udp.header.tc == 1  # the stub, too, must use TCP for it


async def test_wildcard_through_the_resolver(lab: Lab) -> None:
    """A wildcard-synthesised answer arrives with the asked name as owner."""
    reply = await ask(lab.resolver.port, "anything.wild.example.com")
    assert records(reply) == [("anything.wild.example.com.", "A", "198.51.100.80")]


async def test_all_servers_silent_servfail_within_deadline(lab: Lab) -> None:
    """Every authority gone: SERVFAIL within the client deadline, never NXDOMAIN."""
    for authority in lab.authorities.values():
        await authority.close()
    lab.server.deadline = 1.0
    loop = asyncio.get_running_loop()
    started = loop.time()
    reply = await ask(lab.resolver.port, "origin.example.com")
    assert reply.header.rcode == RCODE.SERVFAIL
    assert loop.time() - started < 1.0 + 0.5

"""The authoritative server on real loopback sockets: UDP, TCP, bad input, CLI."""

import asyncio
import json
import os
import signal
import socket
import struct
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from dnslib import EDNS0, QTYPE, RCODE, DNSRecord

from services.dns.server import AuthoritativeServer
from services.dns.zone import ZoneSet, build_zone, load_zone
from services.dnscore.listen import Listener, listen
from services.dnscore.masterfile import parse_master
from tests.unit.udpclient import udp_exchange

ROOT_DIR = Path(__file__).resolve().parents[3]
ZONES = ROOT_DIR / "services" / "zones"
DEADLINE = 5.0


@pytest.fixture
async def server() -> AsyncIterator[Listener]:
    big = build_zone(
        parse_master(
            "$TTL 60\n$ORIGIN big.test.\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n"
            + "".join(f'txt TXT "{i:03d}{"x" * 200}"\n' for i in range(10))
        )
    )
    zones = ZoneSet([load_zone(ZONES / "example.com.zone"), big])
    srv = AuthoritativeServer(zones, "test")
    listener = await listen(srv.handle, "127.0.0.1", 0, fast=srv.cached)  # as __main__ does
    yield listener
    await listener.close()


async def udp_query(port: int, query: DNSRecord) -> DNSRecord:
    return DNSRecord.parse(await udp_exchange(port, query.pack()))


async def test_udp_answer(server: Listener) -> None:
    """A UDP query gets the authoritative answer with the query's ID."""
    query = DNSRecord.question("origin.example.com", "A")
    reply = await udp_query(server.port, query)
    assert reply.header.id == query.header.id
    assert reply.header.aa == 1
    assert str(reply.rr[0].rdata) == "198.51.100.90"


async def test_tcp_several_queries_per_connection(server: Listener) -> None:
    """TCP uses 2-byte length framing and serves several queries on one connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        for name in ("origin.example.com", "api-origin.example.com", "nope.example.com"):
            wire = DNSRecord.question(name, "A").pack()
            writer.write(struct.pack("!H", len(wire)) + wire)
            await writer.drain()
            (length,) = struct.unpack("!H", await asyncio.wait_for(reader.readexactly(2), DEADLINE))
            reply = DNSRecord.parse(await reader.readexactly(length))
            assert str(reply.q.qname) == name + "."
        assert reply.header.rcode == RCODE.NXDOMAIN
    finally:
        writer.close()
        await writer.wait_closed()


async def test_large_udp_reply_is_truncated(server: Listener) -> None:
    """Over 512 bytes without EDNS the UDP reply has TC=1 and TCP has it all."""
    reply = await udp_query(server.port, DNSRecord.question("txt.big.test", "TXT"))
    assert reply.header.tc == 1
    assert reply.rr == []
    assert str(reply.q.qname) == "txt.big.test."
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    wire = DNSRecord.question("txt.big.test", "TXT").pack()
    writer.write(struct.pack("!H", len(wire)) + wire)
    (length,) = struct.unpack("!H", await asyncio.wait_for(reader.readexactly(2), DEADLINE))
    full = DNSRecord.parse(await reader.readexactly(length))
    writer.close()
    await writer.wait_closed()
    assert full.header.tc == 0
    assert len(full.rr) == 10


async def test_edns_payload_size_is_honoured(server: Listener) -> None:
    """With EDNS(0) the reply may use the advertised size and carries an OPT."""
    query = DNSRecord.question("txt.big.test", "TXT")
    query.add_ar(EDNS0(udp_len=4096))
    reply = await udp_query(server.port, query)
    assert reply.header.tc == 1  # ~2.1 kB is over our own 1232-byte limit
    small = DNSRecord.question("origin.example.com", "A")
    small.add_ar(EDNS0(udp_len=1232))
    answered = await udp_query(server.port, small)
    assert any(rr.rtype == QTYPE.OPT for rr in answered.ar)


async def test_garbage_never_kills_the_server(server: Listener) -> None:
    """Malformed packets get FORMERR or nothing, and the server keeps answering."""
    query = DNSRecord.question("origin.example.com", "A")
    broken = query.pack()[:12] + b"\x07truncat"  # header promises a question that is cut
    reply = DNSRecord.parse(await udp_exchange(server.port, broken))
    assert reply.header.rcode == RCODE.FORMERR
    assert reply.header.id == query.header.id
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for junk in (b"", b"\x00", os.urandom(7), os.urandom(300), b"\xff" * 12):
        sock.sendto(junk, ("127.0.0.1", server.port))
    sock.close()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"\x00\x05abcde")  # framed garbage over TCP
    await writer.drain()
    assert await asyncio.wait_for(reader.read(100), DEADLINE) is not None
    writer.close()
    await writer.wait_closed()
    again = await udp_query(server.port, DNSRecord.question("origin.example.com", "A"))
    assert str(again.rr[0].rdata) == "198.51.100.90"


async def test_responses_are_not_answered(server: Listener) -> None:
    """A packet with QR=1 is dropped (no reflection loops); service continues."""
    stray = DNSRecord.question("origin.example.com", "A").reply().pack()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(udp_exchange(server.port, stray), 0.3)
    assert (await udp_query(server.port, DNSRecord.question("origin.example.com"))).rr


async def test_command_line_serves_and_stops(tmp_path: Path) -> None:
    """`python -m services.dns --zone ... --port 0` logs its port, answers, stops on SIGTERM."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.dns",
        "--zone",
        "services/zones/root.zone",
        "--zone",
        "services/zones/root-servers.net.zone",
        "--name",
        "a.root-servers.net",
        "--listen",
        "127.0.0.1",
        "--port",
        "0",
        cwd=ROOT_DIR,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    try:
        started = json.loads(await asyncio.wait_for(proc.stdout.readline(), DEADLINE))
        assert started["event"] == "dns_started"
        assert started["service"] == "a.root-servers.net"
        reply = await udp_query(started["port"], DNSRecord.question(".", "SOA"))
        assert reply.header.aa == 1
        assert reply.rr[0].rtype == QTYPE.SOA
        logged = json.loads(await asyncio.wait_for(proc.stdout.readline(), DEADLINE))
        assert logged["event"] == "dns_query"
        assert logged["qtype"] == "SOA"
        assert {
            "client",
            "proto",
            "qname",
            "rcode",
            "aa",
            "answers",
            "referral",
            "latency_ms",
        } <= set(logged)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), DEADLINE) == 0


async def test_command_line_refuses_bad_zone(tmp_path: Path) -> None:
    """A bad zone file stops startup with exit 1 and names file:line."""
    bad = tmp_path / "bad.zone"
    bad.write_text("$TTL 60\n$ORIGIN bad.\n@ SOA a. b. 1 2 3 4 5\n@ NS a.\nw A 1.2.3\n")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.dns",
        "--zone",
        str(bad),
        "--port",
        "0",
        cwd=ROOT_DIR,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), DEADLINE)
    assert proc.returncode == 1
    assert f"{bad}:5:" in json.loads(out.splitlines()[-1])["error"]


def test_corrupted_queries_never_raise() -> None:
    """Thousands of randomly corrupted queries get a reply or a drop, never an exception."""
    import random

    zones = ZoneSet([load_zone(ZONES / "example.com.zone")])
    server = AuthoritativeServer(zones, "fuzz")
    query = DNSRecord.question("www.example.com", "A")
    query.add_ar(EDNS0(udp_len=4096))
    base = query.pack()
    rng = random.Random(5452)
    for _ in range(5000):
        data = bytearray(base)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        if rng.random() < 0.3:
            data = data[: rng.randrange(len(data))]
        server.respond(bytes(data), ("192.0.2.1", 1), "udp")


async def test_health_probe(server: Listener) -> None:
    """The probe exits 0 for an AA SOA answer, 1 for REFUSED or no server."""
    from services.dns.probe import main as probe_main

    port = str(server.port)
    loop = asyncio.get_running_loop()
    healthy = await loop.run_in_executor(
        None, probe_main, ["127.0.0.1", "example.com.", "SOA", "--port", port, "--norec", "--aa"]
    )
    refused = await loop.run_in_executor(
        None, probe_main, ["127.0.0.1", "example.org.", "SOA", "--port", port]
    )
    assert (healthy, refused) == (0, 1)


async def test_repeats_are_answered_on_the_fast_path() -> None:
    """A repeated UDP query is answered by the synchronous wire-cache path, with its own ID."""
    srv = AuthoritativeServer(ZoneSet([load_zone(ZONES / "example.com.zone")]), "test")
    served: list[bool] = []

    def fast(wire: bytes, client: tuple[str, int], proto: str) -> bytes | None:
        reply = srv.cached(wire, client, proto)
        served.append(reply is not None)
        return reply

    listener = await listen(srv.handle, "127.0.0.1", 0, fast=fast)
    try:
        for qid in (1, 2, 3):
            query = DNSRecord.question("origin.example.com", "A")
            query.header.id = qid
            reply = await udp_query(listener.port, query)
            assert reply.header.id == qid
            assert str(reply.rr[0].rdata) == "198.51.100.90"
    finally:
        await listener.close()
    assert served == [False, True, True]

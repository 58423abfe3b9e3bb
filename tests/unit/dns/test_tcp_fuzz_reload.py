"""Real loopback sockets: TCP pipelining and limits, a 10,000-packet fuzz, SIGHUP reload."""

import asyncio
import json
import random
import signal
import socket
import struct
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from dnslib import EDNS0, RCODE, DNSRecord

from services.dns.server import AuthoritativeServer
from services.dns.zone import ZoneSet, load_zone
from services.dnscore.listen import Address, Listener, TcpPolicy, listen

ROOT_DIR = Path(__file__).resolve().parents[3]
ZONES = ROOT_DIR / "services" / "zones"
DEADLINE = 5.0


def make_server() -> AuthoritativeServer:
    return AuthoritativeServer(ZoneSet([load_zone(ZONES / "example.com.zone")]), "t")


@pytest.fixture
async def tcp_server() -> AsyncIterator[Listener]:
    policy = TcpPolicy(idle_timeout=0.3, max_connections=2)
    listener = await listen(make_server().handle, "127.0.0.1", 0, policy)
    yield listener
    await listener.close()


def frame(query: DNSRecord) -> bytes:
    wire = query.pack()
    return struct.pack("!H", len(wire)) + wire


async def read_reply(reader: asyncio.StreamReader) -> DNSRecord:
    (length,) = struct.unpack("!H", await asyncio.wait_for(reader.readexactly(2), DEADLINE))
    return DNSRecord.parse(await reader.readexactly(length))


async def test_pipelined_queries_all_answered(tcp_server: Listener) -> None:
    """RFC 7766 §6.2.1.1: queries sent back to back on one connection all get replies."""
    queries = [
        DNSRecord.question(n)
        for n in ("origin.example.com", "big.example.com", "x.wild.example.com", "nope.example.com")
    ]
    reader, writer = await asyncio.open_connection("127.0.0.1", tcp_server.port)
    writer.write(b"".join(frame(q) for q in queries))
    await writer.drain()
    replies = {r.header.id: r for r in [await read_reply(reader) for _ in queries]}
    writer.close()
    assert set(replies) == {q.header.id for q in queries}
    assert len(replies[queries[1].header.id].rr) == 80  # TCP: the whole big RRset


async def test_idle_connection_is_closed(tcp_server: Listener) -> None:
    """RFC 7766 §6.2.3: a connection with nothing to say is closed after the idle timeout."""
    reader, writer = await asyncio.open_connection("127.0.0.1", tcp_server.port)
    assert await asyncio.wait_for(reader.read(10), DEADLINE) == b""
    writer.close()


async def test_connections_beyond_the_cap_are_closed(tcp_server: Listener) -> None:
    """RFC 7766 §6.2.2: with two connections open, a third is closed at once."""
    held = [await asyncio.open_connection("127.0.0.1", tcp_server.port) for _ in range(2)]
    for reader, writer in held:  # make sure both are being served
        writer.write(frame(DNSRecord.question("origin.example.com")))
        await read_reply(reader)
    reader, writer = await asyncio.open_connection("127.0.0.1", tcp_server.port)
    try:
        writer.write(frame(DNSRecord.question("origin.example.com")))
        assert await asyncio.wait_for(reader.read(10), DEADLINE) == b""
    except ConnectionResetError:
        pass  # closed with our query unread: the kernel resets, also a refusal
    for _, w in [*held, (reader, writer)]:
        w.close()


def fuzz_packets(count: int, seed: int = 4592) -> list[bytes]:
    """Truncated headers, pointer loops, random bytes, bit flips of valid queries."""
    rng = random.Random(seed)
    good = DNSRecord.question("www.example.com")
    good.add_ar(EDNS0(udp_len=4096))
    base = bytes(good.pack())
    loop = struct.pack("!6H", 1, 0, 1, 0, 0, 0) + b"\xc0\x0c\x00\x01\x00\x01"
    mutual = struct.pack("!6H", 2, 0, 1, 0, 0, 0) + b"\x01a\xc0\x0e\xc0\x0c\x00\x01\x00\x01"
    packets: list[bytes] = []
    for i in range(count):
        kind = i % 5
        if kind == 0:
            packets.append(base[: rng.randrange(12)])
        elif kind == 1:
            packets.append(rng.choice((loop, mutual)))
        elif kind == 2:
            packets.append(rng.randbytes(rng.randrange(12, 600)))
        elif kind == 3:
            data = bytearray(base)
            for _ in range(rng.randint(1, 6)):
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
            packets.append(bytes(data))
        else:
            packets.append(base[: rng.randrange(12, len(base))] + rng.randbytes(rng.randrange(9)))
    return packets


async def test_fuzz_ten_thousand_packets_then_good_query() -> None:
    """10,000 hostile UDP packets never stop the server; all are handled; it still answers."""
    server = make_server()
    handled = 0

    async def counting(wire: bytes, client: Address, proto: str) -> bytes | None:
        nonlocal handled
        handled += 1
        return await server.handle(wire, client, proto)

    listener = await listen(counting, "127.0.0.1", 0)
    packets = fuzz_packets(10_000)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    sock.setblocking(False)
    started = time.monotonic()
    try:
        for start in range(0, len(packets), 200):
            for packet in packets[start : start + 200]:
                sock.sendto(packet, ("127.0.0.1", listener.port))
            # Let the server catch up so the kernel does not drop our burst.
            deadline = time.monotonic() + DEADLINE
            while handled < start + 200 and time.monotonic() < deadline:
                await asyncio.sleep(0)
        assert handled >= 9_900  # loopback may still drop a handful
        # A fresh socket: the fuzzing one's receive buffer is full of FORMERRs.
        reply = await udp_ask(listener.port, "origin.example.com")
        assert str(reply.rr[0].rdata) == "198.51.100.90"
        assert time.monotonic() - started < 60
    finally:
        sock.close()
        await listener.close()


async def read_event(stream: asyncio.StreamReader, event: str) -> dict[str, object]:
    while True:
        line = await asyncio.wait_for(stream.readline(), DEADLINE)
        assert line, f"process ended before {event}"
        doc: dict[str, object] = json.loads(line)
        if doc.get("event") == event:
            return doc


async def udp_ask(port: int, name: str) -> DNSRecord:
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(DEADLINE)
        query = DNSRecord.question(name)
        sock.sendto(query.pack(), ("127.0.0.1", port))
        return DNSRecord.parse(await loop.run_in_executor(None, sock.recv, 65535))


async def test_sighup_reloads_and_keeps_last_good_zones(tmp_path: Path) -> None:
    """SIGHUP loads edited zones; a bad edit is logged with file:line and the old data stays."""
    zone = tmp_path / "r.zone"
    head = "$TTL 60\n$ORIGIN r.test.\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n"
    zone.write_text(head + "w A 192.0.2.10\n")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.dns",
        "--zone",
        str(zone),
        "--name",
        "r",
        "--listen",
        "127.0.0.1",
        "--port",
        "0",
        cwd=ROOT_DIR,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    try:
        port = int(str((await read_event(proc.stdout, "dns_started"))["port"]))
        assert str((await udp_ask(port, "w.r.test")).rr[0].rdata) == "192.0.2.10"
        zone.write_text(head + "w A 192.0.2.20\n")
        proc.send_signal(signal.SIGHUP)
        await read_event(proc.stdout, "dns_reloaded")
        assert str((await udp_ask(port, "w.r.test")).rr[0].rdata) == "192.0.2.20"
        zone.write_text(head + "w A 192.0.2.300\n")
        proc.send_signal(signal.SIGHUP)
        failed = await read_event(proc.stdout, "dns_reload_failed")
        assert f"{zone}:6:" in str(failed["error"])
        assert failed["kept"] == ["r.test."]
        again = await udp_ask(port, "w.r.test")
        assert again.header.rcode == RCODE.NOERROR
        assert str(again.rr[0].rdata) == "192.0.2.20"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), DEADLINE) == 0

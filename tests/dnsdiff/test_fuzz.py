"""Hostile packets at our authoritative server and resolver: they keep answering."""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Iterator

from dnslib import RCODE, DNSRecord

from harness.addresses import CLIENT_ADDRESS, LAB_DNS
from harness.dnsquery import query
from harness.netns import MiniInternet
from tests.dnsdiff.conftest import Lab

TARGETS = {
    "ns-example": ("198.51.100.21", "www.example.com", False),
    "resolver": (LAB_DNS["resolver"], "www.example.com", True),
}
UDP_PACKETS = 6000  # per target: 12,000 in all
TCP_PACKETS = 150  # per target
TIME_BOUND = 60.0  # seconds for the whole barrage per target


def _valid(rng: random.Random) -> bytes:
    name = rng.choice(
        [
            "www.example.com",
            "example.com",
            "big.example.com",
            "x.wild.example.com",
            "nx.example.com",
            "com",
            ".",
        ]
    )
    q = DNSRecord.question(name, rng.choice(["A", "AAAA", "TXT", "NS", "SOA", "ANY", "MX"]))
    return bytes(q.pack())


def _loop() -> bytes:
    # QDCOUNT=1, the question name is a pointer to itself (RFC 1035 §4.1.4 abuse).
    return bytes.fromhex("abcd01000001000000000000") + b"\xc0\x0c\x00\x01\x00\x01"


def packets(rng: random.Random, count: int) -> Iterator[bytes]:
    """Malformed queries: truncations, pointer loops, random bytes and bit flips."""
    for i in range(count):
        kind = i % 6
        good = _valid(rng)
        if kind == 0:
            yield good[: rng.randrange(0, 12)]  # truncated header
        elif kind == 1:
            yield good[: rng.randrange(12, len(good))]  # truncated question
        elif kind == 2:
            yield _loop() if rng.random() < 0.5 else good[:12] + b"\xc0\x0c" + good[-4:]
        elif kind == 3:
            yield rng.randbytes(rng.randrange(1, 600))
        elif kind == 4:
            data = bytearray(good)
            for _ in range(rng.randrange(1, 6)):
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
            yield bytes(data)
        else:
            header = bytearray(rng.randbytes(12))
            header[2] &= 0x7F  # QR=0 so that it is read as a query
            yield bytes(header) + good[12:] + rng.randbytes(rng.randrange(0, 40))


def _still_answers(net: MiniInternet, address: str, name: str, rd: bool) -> DNSRecord:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        reply = query(net, address, name, "A", rd=rd, timeout=2)
        if reply is not None:
            return reply
    raise AssertionError(f"{address} stopped answering")


def test_fuzz_keeps_servers_alive(lab: Lab) -> None:
    """12,000 malformed UDP and 300 TCP packets later, both servers are alive and answer."""
    rng = random.Random(5452)
    sent = 0
    for service, (address, name, rd) in TARGETS.items():
        started = time.monotonic()
        with lab.net.socket() as udp:
            udp.bind((CLIENT_ADDRESS, 0))
            udp.setblocking(False)
            for packet in packets(rng, UDP_PACKETS):
                if time.monotonic() - started > TIME_BOUND:
                    break
                try:
                    udp.sendto(packet, (address, 53))
                    sent += 1
                except BlockingIOError:
                    pass
                try:
                    while udp.recv(65535):  # drain replies so the buffer never fills
                        pass
                except BlockingIOError:
                    pass
        for packet in packets(rng, TCP_PACKETS):
            with lab.net.socket(socket.SOCK_STREAM) as tcp:
                tcp.settimeout(2)
                try:
                    tcp.connect((address, 53))
                    framed = len(packet).to_bytes(2, "big") + packet
                    tcp.sendall(framed if rng.random() < 0.8 else framed[: rng.randrange(1, 4)])
                    sent += 1
                except OSError:
                    pass
        assert lab.ours[service].poll() is None, f"{service} died"
        reply = _still_answers(lab.net, address, name, rd)
        assert reply.header.rcode == RCODE.NOERROR, reply
        assert reply.rr, reply
        print(f"\n{service}: fuzz done in {time.monotonic() - started:.1f} s, alive, answers")
    assert sent >= 10_000

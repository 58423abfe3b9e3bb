"""A fake authoritative server on loopback for the transport's tests on real sockets."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

from dnslib import QTYPE, RR, A, DNSRecord

Flood = Callable[[DNSRecord], list[bytes]]


def answer_for(query: DNSRecord) -> bytes:
    """The honest reply: each name gets the address its first label names (n7 -> .7)."""
    reply = query.reply(ra=0, aa=1)
    label = str(query.q.qname).split(".", 1)[0]
    reply.add_answer(RR(query.q.qname, QTYPE.A, rdata=A(f"192.0.2.{label[1:]}"), ttl=60))
    return reply.pack()


class Authority(asyncio.DatagramProtocol):
    """A fake authoritative server on loopback: records each query's source, then answers.

    With ``hold`` it keeps the first ``hold`` queries and answers them all at
    once in reverse order, so queries are in flight together and replies
    arrive out of order. ``flood`` gives datagrams sent before each answer.
    """

    def __init__(self, hold: int = 0, flood: Flood | None = None) -> None:
        self.hold = hold
        self.flood = flood
        self.seen: list[tuple[int, int]] = []  # (query ID, client port)
        self.held: list[tuple[DNSRecord, tuple[str, int]]] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        query = DNSRecord.parse(data)
        self.seen.append((query.header.id, addr[1]))
        self.held.append((query, addr))
        if len(self.held) >= self.hold:
            for held, to in reversed(self.held):
                self.send(held, to)
            self.held.clear()

    def send(self, query: DNSRecord, to: tuple[str, int]) -> None:
        assert self.transport is not None
        for datagram in self.flood(query) if self.flood else []:
            self.transport.sendto(datagram, to)
        self.transport.sendto(answer_for(query), to)

    @property
    def port(self) -> int:
        assert self.transport is not None
        return int(self.transport.get_extra_info("sockname")[1])


async def authority(hold: int = 0, flood: Flood | None = None) -> Authority:
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_datagram_endpoint(
        lambda: Authority(hold, flood), local_addr=("127.0.0.1", 0)
    )
    return protocol


def free_port() -> int:
    """A loopback UDP port nobody has bound (the kernel's pick, released again)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])

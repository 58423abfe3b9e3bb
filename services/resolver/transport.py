"""Sending one query to one authoritative server: UDP first, TCP on truncation.

Spoofing defences of RFC 5452: a fresh socket (so a kernel-chosen random
source port, §9.2) and a random 16-bit ID per query, and a reply is accepted
only if it comes from the address and port asked and matches the ID and the
question (§3, §9.1); anything else is ignored (and counted, by reason, in
``counters``) and the wait goes on until the per-server timeout. The
iterator decides what to do with a failure.

``fixed_port`` turns on the weakened mode of services/resolver/fixedport.py
(one source port for every query, to demonstrate RFC 5452); off by default.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
from dataclasses import dataclass, field
from typing import Protocol

from dnslib import EDNS0, QTYPE, DNSHeader, DNSQuestion, DNSRecord

from services.dnscore.wire import OUR_EDNS_PAYLOAD
from services.resolver.fixedport import SharedPort
from services.resolver.replies import OneReply, ReplyCounters, ask_over_tcp
from services.resolver.replies import UpstreamError as UpstreamError  # for callers, too
from services.resolver.replies import UpstreamTimeout as UpstreamTimeout

# A burst of forged replies that lands before the real one must not overflow
# the socket's buffer and drop the real answer with them: the default
# (rmem_default, 208 KiB here) holds about 255 small replies, so a burst of
# 500 made the query time out; with 1 MiB asked (the kernel doubles it, and
# caps it at net.core.rmem_max) bursts of 2,000 left it answered. The memory
# is taken only while datagrams wait. Floods faster than the loop drains
# (some 15,000 a second on a busy 2-CPU host) overflow any buffer.
RCVBUF = 1 << 20


class Transport(Protocol):
    """What the iterator needs from the network: one question to one server."""

    async def query(self, server: str, qname: str, qtype: int) -> DNSRecord:
        """Ask ``server`` (an IP address) and return its reply, or raise UpstreamError."""
        ...


@dataclass
class NetworkTransport:
    """The real transport. ``address_map`` (tests only) redirects lab addresses.

    ``fixed_port`` (None: off) sends every UDP query from that local port,
    bound on ``source_address``; change it with ``weaken``, which binds at
    once so a port in use is reported to the caller. ``close`` releases it.
    """

    port: int = 53
    timeout: float = 1.5
    address_map: dict[str, tuple[str, int]] = field(default_factory=dict)
    tcp_retries: int = 0  # replies that came back TC=1 and were asked again over TCP
    fixed_port: int | None = None
    source_address: str = "0.0.0.0"
    rcvbuf: int = RCVBUF  # SO_RCVBUF of every upstream socket; 0: the kernel's default
    rcvbuf_granted: int | None = None  # what the kernel gave, once a socket was made
    counters: ReplyCounters = field(default_factory=ReplyCounters)
    _shared: SharedPort | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.fixed_port is not None:
            self.weaken(self.fixed_port)

    def weaken(self, fixed_port: int | None) -> int | None:
        """Send from ``fixed_port`` from now on (None: a random port per query again).

        Raises OSError if the port cannot be bound; the previous mode then stays.
        """
        shared = None
        if fixed_port is not None:
            if self._shared is not None and self._shared.port == fixed_port:
                return fixed_port
            shared = SharedPort(self.source_address, fixed_port, self.counters, self.rcvbuf)
        if self._shared is not None:
            self._shared.close()
        self._shared, self.fixed_port = shared, fixed_port
        if shared is not None:
            self.rcvbuf_granted = shared.rcvbuf
        return fixed_port

    def close(self) -> None:
        """Release the fixed-port socket, if any (queries in flight on it fail)."""
        if self._shared is not None:
            self._shared.close()
            self._shared = None

    def _peer(self, server: str) -> tuple[str, int]:
        return self.address_map.get(server, (server, self.port))

    @staticmethod
    def make_request(qname: str, qtype: int) -> DNSRecord:
        """An iterative query (RD=0) with a random ID and an EDNS(0) OPT."""
        request = DNSRecord(
            DNSHeader(id=secrets.randbelow(65536), rd=0), q=DNSQuestion(qname, qtype)
        )
        request.add_ar(EDNS0(udp_len=OUR_EDNS_PAYLOAD))
        return request

    async def query(self, server: str, qname: str, qtype: int) -> DNSRecord:
        """Ask over UDP; on TC=1 ask again over TCP (RFC 1035 §4.2.1, RFC 7766 §5)."""
        peer = self._peer(server)
        request = self.make_request(qname, qtype)
        reply = await self._udp(peer, request)
        if reply.header.tc:
            self.tcp_retries += 1
            reply = await self._tcp(peer, self.make_request(qname, qtype))
        return reply

    async def _udp(self, peer: tuple[str, int], request: DNSRecord) -> DNSRecord:
        if self.fixed_port is not None:
            return await self._udp_fixed(peer, request)
        loop = asyncio.get_running_loop()
        try:
            transport, protocol = await loop.create_datagram_endpoint(
                lambda: OneReply(request, peer, self.counters), remote_addr=peer
            )
        except OSError as e:
            raise UpstreamError(f"cannot send: {e}") from e
        try:
            if self.rcvbuf:
                # Before the query leaves, so a burst of forged replies arriving
                # ahead of the real one cannot overflow the buffer and drop it.
                sock = transport.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)
                if self.rcvbuf_granted is None:
                    self.rcvbuf_granted = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
            self.counters.queries += 1
            transport.sendto(request.pack())
            return await asyncio.wait_for(asyncio.shield(protocol.done), self.timeout)
        except TimeoutError as e:
            raise UpstreamTimeout(f"no reply in {self.timeout:g}s over UDP") from e
        finally:
            transport.close()

    async def _udp_fixed(self, peer: tuple[str, int], request: DNSRecord) -> DNSRecord:
        """The weakened mode: from the fixed port, replies dispatched by (server, ID)."""
        try:
            if self._shared is None or self._shared.port != self.fixed_port:
                self.weaken(self.fixed_port)  # ``fixed_port`` was assigned directly
            assert self._shared is not None
            self.counters.queries += 1
            return await self._shared.ask(peer, request, self.timeout)
        except TimeoutError as e:
            raise UpstreamTimeout(f"no reply in {self.timeout:g}s over UDP") from e
        except OSError as e:
            raise UpstreamError(f"cannot send from port {self.fixed_port}: {e}") from e

    async def _tcp(self, peer: tuple[str, int], request: DNSRecord) -> DNSRecord:
        return await ask_over_tcp(peer, request, self.timeout)


def qtype_text(qtype: int) -> str:
    """A type's mnemonic (``A``, ``NS``), or TYPEnnn for unknown ones."""
    try:
        return str(QTYPE.get(qtype))
    except Exception:
        return f"TYPE{qtype}"

"""Sending one query to one authoritative server: UDP first, TCP on truncation.

Spoofing defences of RFC 5452: a fresh socket (so a kernel-chosen random
source port, §9.2) and a random 16-bit ID per query, and a reply is accepted
only if it comes from the address and port asked and matches the ID and the
question (§3, §9.1); anything else is ignored and the wait goes on until the
per-server timeout. The iterator decides what to do with a failure.
"""

from __future__ import annotations

import asyncio
import secrets
import struct
from dataclasses import dataclass, field
from typing import Protocol

from dnslib import EDNS0, QTYPE, DNSHeader, DNSQuestion, DNSRecord

from services.dnscore.names import norm
from services.dnscore.wire import OUR_EDNS_PAYLOAD


class UpstreamError(Exception):
    """A server gave no usable reply (unreachable, garbage, connection reset)."""


class UpstreamTimeout(UpstreamError):
    """A server did not reply in time."""


class Transport(Protocol):
    """What the iterator needs from the network: one question to one server."""

    async def query(self, server: str, qname: str, qtype: int) -> DNSRecord:
        """Ask ``server`` (an IP address) and return its reply, or raise UpstreamError."""
        ...


def _matches(request: DNSRecord, reply: DNSRecord) -> bool:
    """RFC 5452 §9.1: same ID, a response, and the same question."""
    if reply.header.id != request.header.id or not reply.header.qr:
        return False
    if len(reply.questions) != 1:
        return False
    asked, got = request.q, reply.q
    return bool(
        norm(asked.qname) == norm(got.qname)
        and asked.qtype == got.qtype
        and asked.qclass == got.qclass
    )


class _OneReply(asyncio.DatagramProtocol):
    def __init__(self, request: DNSRecord, peer: tuple[str, int]) -> None:
        self.request = request
        self.peer = peer
        self.done: asyncio.Future[DNSRecord] = asyncio.get_running_loop().create_future()
        self.ignored = 0

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.done.done():
            return
        if (addr[0], addr[1]) != self.peer:
            self.ignored += 1
            return
        try:
            reply = DNSRecord.parse(data)
        except Exception:  # garbage on our port: not the reply we wait for
            self.ignored += 1
            return
        if _matches(self.request, reply):
            self.done.set_result(reply)
        else:
            self.ignored += 1

    def error_received(self, exc: Exception) -> None:
        # ICMP port/host unreachable on the connected socket: no server there.
        if not self.done.done():
            self.done.set_exception(UpstreamError(f"unreachable: {exc}"))


@dataclass
class NetworkTransport:
    """The real transport. ``address_map`` (tests only) redirects lab addresses."""

    port: int = 53
    timeout: float = 1.5
    address_map: dict[str, tuple[str, int]] = field(default_factory=dict)
    tcp_retries: int = 0  # replies that came back TC=1 and were asked again over TCP

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
        loop = asyncio.get_running_loop()
        try:
            transport, protocol = await loop.create_datagram_endpoint(
                lambda: _OneReply(request, peer), remote_addr=peer
            )
        except OSError as e:
            raise UpstreamError(f"cannot send: {e}") from e
        try:
            transport.sendto(request.pack())
            return await asyncio.wait_for(asyncio.shield(protocol.done), self.timeout)
        except TimeoutError as e:
            raise UpstreamTimeout(f"no reply in {self.timeout:g}s over UDP") from e
        finally:
            transport.close()

    async def _tcp(self, peer: tuple[str, int], request: DNSRecord) -> DNSRecord:
        try:
            async with asyncio.timeout(self.timeout):
                reader, writer = await asyncio.open_connection(*peer)
                try:
                    wire = request.pack()
                    writer.write(struct.pack("!H", len(wire)) + wire)
                    await writer.drain()
                    (length,) = struct.unpack("!H", await reader.readexactly(2))
                    data = await reader.readexactly(length)
                finally:
                    writer.close()
        except TimeoutError as e:
            raise UpstreamTimeout(f"no reply in {self.timeout:g}s over TCP") from e
        except (OSError, asyncio.IncompleteReadError) as e:
            raise UpstreamError(f"TCP failed: {e}") from e
        try:
            reply = DNSRecord.parse(data)
        except Exception as e:
            raise UpstreamError(f"unparseable TCP reply: {e}") from e
        if not _matches(request, reply):
            raise UpstreamError("TCP reply does not match the question")
        return reply


def qtype_text(qtype: int) -> str:
    """A type's mnemonic (``A``, ``NS``), or TYPEnnn for unknown ones."""
    try:
        return str(QTYPE.get(qtype))
    except Exception:
        return f"TYPE{qtype}"

"""Asking the upstream recursive server one question: UDP, once more on timeout, TCP on TC=1.

- The query is recursive (RD=1, RFC 1035 §4.1.1): the upstream is a
  recursive resolver, which walks from the root; the forwarder never does.
- Spoofing defences of RFC 5452, as the resolver's own transport has them:
  each try goes from a fresh socket, so a kernel-chosen random source port
  (§9.2), with a fresh random 16-bit ID; a datagram is the reply only if it
  comes from the upstream's address and port, carries that ID with QR=1
  and repeats the question (§3, §9.1). Anything else is ignored, counted
  by reason (services/resolver/replies.py), and the wait goes on.
- A reply with TC=1 is asked again over TCP (RFC 1035 §4.2.1, RFC 7766 §5).
- No reply within ``timeout``: one more try, with a new port and ID (a lost
  datagram is the common case on a home network), then ``UpstreamTimeout``,
  which the front end answers with SERVFAIL, never NXDOMAIN.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field

from dnslib import EDNS0, DNSHeader, DNSQuestion, DNSRecord

from services.dnscore.wire import OUR_EDNS_PAYLOAD
from services.forwarder.upstream import Endpoint
from services.resolver.replies import OneReply, ReplyCounters, ask_over_tcp
from services.resolver.replies import UpstreamError as UpstreamError  # for callers, too
from services.resolver.replies import UpstreamTimeout as UpstreamTimeout

TIMEOUT = 2.0  # seconds for one try; the default --timeout
TRIES = 2  # UDP tries: the first, and once more after a timeout


@dataclass(frozen=True)
class Exchange:
    """The upstream's reply and how it was got."""

    reply: DNSRecord
    proto: str  # "udp", or "tcp" after a truncated UDP reply
    tries: int  # UDP tries made (2: the first timed out)
    queries: int  # queries sent upstream for it (UDP tries, plus one over TCP)


@dataclass
class Counters:
    """Every query sent upstream, and the UDP datagrams accepted or ignored."""

    udp: ReplyCounters = field(default_factory=ReplyCounters)
    tcp_queries: int = 0  # TC=1 replies asked again over TCP
    timeouts: int = 0  # UDP tries with no reply in time

    @property
    def queries(self) -> int:
        """Queries sent upstream, over UDP and TCP."""
        return self.udp.queries + self.tcp_queries

    def as_dict(self) -> dict[str, object]:
        """For the control socket's ``stats``."""
        return {
            "queries": self.queries,
            "tcp_queries": self.tcp_queries,
            "timeouts": self.timeouts,
            "udp": self.udp.as_dict(),
        }


def make_request(question: DNSQuestion) -> DNSRecord:
    """A recursive query (RD=1) with a random ID and an EDNS(0) OPT (RFC 6891).

    The asker's question is sent as it came (its labels, not their text: a
    label may hold a dot, which dnslib's text form does not escape).
    """
    request = DNSRecord(
        DNSHeader(id=secrets.randbelow(65536), rd=1),
        q=DNSQuestion(question.qname, question.qtype, question.qclass),
    )
    request.add_ar(EDNS0(udp_len=OUR_EDNS_PAYLOAD))
    return request


@dataclass
class ForwardTransport:
    """The network side: one question to one upstream, with the retries described above."""

    timeout: float = TIMEOUT
    tries: int = TRIES
    counters: Counters = field(default_factory=Counters)

    async def ask(self, upstream: Endpoint, question: DNSQuestion) -> Exchange:
        """The upstream's reply to ``question``, or raise UpstreamError (UpstreamTimeout)."""
        peer = (upstream.host, upstream.port)
        for attempt in range(1, self.tries + 1):
            try:
                reply = await self._udp(peer, make_request(question))
            except UpstreamTimeout:
                self.counters.timeouts += 1
                continue
            if not reply.header.tc:
                return Exchange(reply, "udp", attempt, attempt)
            self.counters.tcp_queries += 1
            reply = await self._tcp(peer, make_request(question))
            return Exchange(reply, "tcp", attempt, attempt + 1)
        raise UpstreamTimeout(
            f"no reply from {upstream} in {self.tries} tries of {self.timeout:g}s over UDP"
        )

    async def _udp(self, peer: tuple[str, int], request: DNSRecord) -> DNSRecord:
        loop = asyncio.get_running_loop()
        try:
            transport, protocol = await loop.create_datagram_endpoint(
                lambda: OneReply(request, peer, self.counters.udp), remote_addr=peer
            )
        except OSError as e:
            raise UpstreamError(f"cannot send to {peer[0]}:{peer[1]}: {e}") from e
        try:
            self.counters.udp.queries += 1
            transport.sendto(request.pack())
            return await asyncio.wait_for(asyncio.shield(protocol.done), self.timeout)
        except TimeoutError as e:
            raise UpstreamTimeout(f"no reply in {self.timeout:g}s over UDP") from e
        finally:
            transport.close()

    async def _tcp(self, peer: tuple[str, int], request: DNSRecord) -> DNSRecord:
        return await ask_over_tcp(peer, request, self.timeout)

"""The resolver's front end: access control, one reply and one log line per query."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict

from dnslib import RCODE, DNSRecord

from services.common.logs import log_event
from services.dns.listen import Address
from services.dns.names import norm
from services.dns.wire import finish, parse_query
from services.resolver.iterate import Resolution, Resolver
from services.resolver.transport import qtype_text

logger = logging.getLogger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
CLIENT_DEADLINE = 10.0  # seconds for a whole client question; then SERVFAIL


class RecursiveServer:
    """Answers clients in the allowed networks by recursion (RA=1, AA=0)."""

    def __init__(self, resolver: Resolver, allow: Sequence[Network],
                 clock: Callable[[], float] = time.monotonic,
                 deadline: float = CLIENT_DEADLINE) -> None:
        self.resolver = resolver
        self.allow = list(allow)
        self.clock = clock
        self.deadline = deadline
        # Identical questions in flight share one resolution (RFC 5452 §5:
        # duplicate upstream queries make spoofing easier).
        self._inflight: dict[tuple[str, int], asyncio.Task[Resolution]] = {}

    def allowed(self, client: str) -> bool:
        """RFC 5358: recursion only for our own clients, never an open resolver."""
        try:
            address = ipaddress.ip_address(client)
        except ValueError:
            return False
        return any(address in network for network in self.allow)

    async def handle(self, wire: bytes, client: Address, proto: str) -> bytes | None:
        """The listener's handler: one client packet in, reply bytes out."""
        started = self.clock()
        parsed = parse_query(wire)
        if parsed.query is None:
            log_event(logger, "resolver_bad_packet", client=client[0], proto=proto,
                      size=len(wire), reason=parsed.reason,
                      action="formerr" if parsed.error else "drop")
            return parsed.error
        query = parsed.query
        qname, qtype = norm(query.q.qname), int(query.q.qtype)
        reply = query.reply(ra=1, aa=0)
        fields: dict[str, object] = {}
        if not self.allowed(client[0]):
            reply.header.rcode = RCODE.REFUSED
            fields = {"refused": "client not in --allow"}
        else:
            resolution = await self._resolve(qname, qtype)
            reply = reply_for(query, resolution)
            fields = {
                "from_cache": resolution.from_cache, "upstream_queries": resolution.queries,
                "reason": resolution.reason or None,
                "trace": [asdict(step) for step in resolution.trace],
            }
        data = finish(query, reply, proto)
        log_event(logger, "resolver_query", client=client[0], proto=proto, qname=qname,
                  qtype=qtype_text(qtype), rcode=RCODE.get(reply.header.rcode),
                  answers=len(reply.rr), truncated=bool(reply.header.tc),
                  duration_ms=round((self.clock() - started) * 1000, 3), **fields)
        return data

    async def _resolve(self, qname: str, qtype: int) -> Resolution:
        key = (qname, qtype)
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(self._bounded(qname, qtype))
            self._inflight[key] = task
            task.add_done_callback(lambda _: self._inflight.pop(key, None))
        return await asyncio.shield(task)

    async def _bounded(self, qname: str, qtype: int) -> Resolution:
        try:
            return await asyncio.wait_for(self.resolver.resolve(qname, qtype), self.deadline)
        except TimeoutError:
            return Resolution(RCODE.SERVFAIL, [], [], [], 0,
                              f"no result within {self.deadline:g}s")


def reply_for(query: DNSRecord, resolution: Resolution) -> DNSRecord:
    """The client reply for a resolution (used by tests and the report)."""
    reply = query.reply(ra=1, aa=0)
    reply.header.rcode = resolution.rcode
    for rr in resolution.answer:
        reply.add_answer(rr)
    for rr in resolution.authority:
        reply.add_auth(rr)
    return reply

"""The resolver's front end: access control, one reply and one log line per query.

- RFC 5358: recursion only for clients in ``--allow``; others get REFUSED.
- RD=0 (a "non-recursive" question, as dig +norec sends): answered from the
  cache only, as Unbound does: the cached answer or denial if there is one,
  else a referral to the closest delegation the cache knows (the root
  servers from the hints at worst), NOERROR, no upstream query at all.
- A whole client question is bounded by ``deadline`` (6 s by default: four
  1.5 s server timeouts), then SERVFAIL, or a stale answer with serve-stale
  (RFC 8767); a failure is never reported as NXDOMAIN.
- Replies to repeated questions come from a wire-level cache of packed
  replies keyed by the query bytes without the ID and the transport; an
  entry is reused for at most one second, so the TTLs it carries are never
  more than a second too high (the same granularity as the TTL itself).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict

from dnslib import NS, QTYPE, RCODE, RR, A, DNSRecord

from services.common.logs import log_event
from services.dns.listen import Address
from services.dns.names import ROOT, norm
from services.dns.wire import finish, parse_query
from services.resolver.cache import Cache, Rank
from services.resolver.iterate import Resolution, Resolver
from services.resolver.transport import qtype_text

logger = logging.getLogger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
CLIENT_DEADLINE = 6.0  # seconds for a whole client question; then SERVFAIL (or stale)
WIRE_REUSE = 1.0  # seconds a packed reply may be reused (TTLs are whole seconds)
WIRE_CACHE_SIZE = 4096


class RecursiveServer:
    """Answers clients in the allowed networks by recursion (RA=1, AA=0)."""

    def __init__(self, resolver: Resolver, allow: Sequence[Network],
                 clock: Callable[[], float] = time.monotonic,
                 deadline: float = CLIENT_DEADLINE, wire_cache: bool = True) -> None:
        self.resolver = resolver
        self.allow = list(allow)
        self.clock = clock
        self.deadline = deadline
        self.wire_cache = wire_cache
        self._packed: dict[tuple[str, bytes], tuple[float, bytes, dict[str, object]]] = {}
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
        allowed = self.allowed(client[0])
        key = (proto, bytes(wire[2:]))
        hit = self._packed.get(key) if allowed and self.wire_cache else None
        if hit is not None and started - hit[0] < WIRE_REUSE:
            log_event(logger, "resolver_query", client=client[0], proto=proto, **hit[2],
                      wire_cache=True, duration_ms=round((self.clock() - started) * 1000, 3))
            return bytes(wire[:2]) + hit[1][2:]
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
        cacheable = False
        if not allowed:
            reply.header.rcode = RCODE.REFUSED
            fields = {"refused": "client not in --allow"}
        elif not query.header.rd:
            reply = self._norec(query, qname, qtype)
            fields = {"from_cache": True, "upstream_queries": 0, "norec": True}
        else:
            resolution = await self._resolve(qname, qtype)
            reply = reply_for(query, resolution)
            cacheable = resolution.rcode in (RCODE.NOERROR, RCODE.NXDOMAIN) and not resolution.stale
            fields = {
                "from_cache": resolution.from_cache, "upstream_queries": resolution.queries,
                "reason": resolution.reason or None, "stale": resolution.stale,
                "trace": [asdict(step) for step in resolution.trace],
            }
        data = finish(query, reply, proto)
        summary: dict[str, object] = dict(
            qname=qname, qtype=qtype_text(qtype), rcode=RCODE.get(reply.header.rcode),
            answers=len(reply.rr), truncated=bool(reply.header.tc))
        if cacheable and self.wire_cache:
            if len(self._packed) >= WIRE_CACHE_SIZE:
                self._packed.clear()
            self._packed[key] = (self.clock(), data, {
                **summary, "from_cache": True, "upstream_queries": 0, "trace": []})
        log_event(logger, "resolver_query", client=client[0], proto=proto, **summary,
                  wire_cache=False, duration_ms=round((self.clock() - started) * 1000, 3),
                  **fields)
        return data

    def flush(self, name: str | None = None) -> int:
        """Flush the resolver's cache (all, or a name and below) and the packed replies."""
        self._packed.clear()
        return self.resolver.flush(name)

    def _norec(self, query: DNSRecord, qname: str, qtype: int) -> DNSRecord:
        """RD=0: the cached answer, else a referral to the closest cached delegation."""
        cached = self.resolver.from_cache_only(qname, qtype)
        if cached is not None:
            return reply_for(query, cached)
        reply = query.reply(ra=1, aa=0)
        cache = self.resolver.cache
        known = cache.closest_delegation(qname)
        if known is None:
            zone, names = ROOT, [r.name for r in self.resolver.roots]
        else:
            zone, names = known
        for name in names:
            reply.add_auth(RR(zone, QTYPE.NS, ttl=cache_ttl(cache, zone), rdata=NS(name)))
            for address in self._addresses(name):
                reply.add_ar(RR(name, QTYPE.A, ttl=cache_ttl(cache, name), rdata=A(address)))
        return reply

    def _addresses(self, name: str) -> list[str]:
        for root in self.resolver.roots:
            if root.name == name:
                return list(root.addresses)
        return self.resolver.cache.addresses(name)

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
            return self.resolver.stale(qname, qtype, [], 0,
                                       f"no result within {self.deadline:g}s")


def cache_ttl(cache: Cache, name: str) -> int:
    """The remaining TTL of a cached NS or A set for a referral (hints: a day)."""
    for rtype in (QTYPE.NS, QTYPE.A):
        rrs = cache.get_rrset(name, rtype, min_rank=Rank.GLUE)
        if rrs:
            return int(rrs[0].ttl)
    return 86400


def reply_for(query: DNSRecord, resolution: Resolution) -> DNSRecord:
    """The client reply for a resolution (used by tests and the report)."""
    reply = query.reply(ra=1, aa=0)
    reply.header.rcode = resolution.rcode
    for rr in resolution.answer:
        reply.add_answer(rr)
    for rr in resolution.authority:
        reply.add_auth(rr)
    return reply

"""The resolver's front end: access control, one reply and one log line per query.

- RFC 5358: recursion only for clients in ``--allow``; others get REFUSED.
- RD=0 (a "non-recursive" question, as dig +norec sends): answered from the
  cache only, as Unbound does: the cached answer or denial if there is one,
  else a referral to the closest delegation the cache knows (the root
  servers from the hints at worst), NOERROR, no upstream query at all.
- A whole client question is bounded by ``deadline`` (6 s by default: four
  1.5 s server timeouts), then SERVFAIL, or a stale answer with serve-stale
  (RFC 8767); a failure is never reported as NXDOMAIN.
- Replies to repeated questions come from the shared cache of packed
  replies (services/dnscore/wirecache.py) keyed by the query bytes without
  the ID and the transport; an entry is reused for at most one second, so
  the TTLs it carries are never more than a second too high (the same
  granularity as the TTL itself), and only for allowed clients.
  The listener tries ``cached`` straight from ``datagram_received``: a hit
  costs no task, no coroutine and no parsing.
- One ``resolver_query`` line per question; at high rates answers from the
  caches are rationed to ``query_log_rate`` lines a second plus a summary
  (services/dnscore/querylog.py); lookups that went upstream always get theirs.
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
from services.dnscore.listen import Address
from services.dnscore.names import ROOT, norm
from services.dnscore.querylog import QUERY_LOG_RATE, QueryLog
from services.dnscore.wire import finish, parse_query, reply_to
from services.dnscore.wirecache import WireCache
from services.resolver.cache import Cache, Rank
from services.resolver.iterate import Resolution, Resolver
from services.resolver.transport import qtype_text

logger = logging.getLogger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
CLIENT_DEADLINE = 6.0  # seconds for a whole client question; then SERVFAIL (or stale)
WIRE_REUSE = 1.0  # seconds a packed reply may be reused (TTLs are whole seconds)
ALLOWED_MEMO_SIZE = 4096  # client addresses whose allowed() verdict is remembered


class RecursiveServer:
    """Answers clients in the allowed networks by recursion (RA=1, AA=0)."""

    def __init__(
        self,
        resolver: Resolver,
        allow: Sequence[Network],
        clock: Callable[[], float] = time.monotonic,
        deadline: float = CLIENT_DEADLINE,
        wire_cache: bool = True,
        query_log_rate: int = QUERY_LOG_RATE,
    ) -> None:
        self.resolver = resolver
        self.allow = list(allow)
        self.clock = clock
        self.deadline = deadline
        self.wire_cache = wire_cache
        self.log = QueryLog(logger, "resolver_query", query_log_rate, clock)
        self._packed = WireCache(max_age=WIRE_REUSE)
        self._allowed: dict[str, bool] = {}  # client address -> allowed(), memoised
        # Identical questions in flight share one resolution (RFC 5452 §5:
        # duplicate upstream queries make spoofing easier).
        self._inflight: dict[tuple[str, int], asyncio.Task[Resolution]] = {}

    def allowed(self, client: str) -> bool:
        """RFC 5358: recursion only for our own clients, never an open resolver."""
        known = self._allowed.get(client)
        if known is not None:
            return known
        try:
            address = ipaddress.ip_address(client)
        except ValueError:
            return False
        verdict = any(address in network for network in self.allow)
        if len(self._allowed) >= ALLOWED_MEMO_SIZE:
            self._allowed.clear()
        self._allowed[client] = verdict
        return verdict

    def cached(self, wire: bytes, client: Address, proto: str) -> bytes | None:
        """The hot path: a reply packed less than a second ago for these query bytes, or None.

        No parsing: the key is every byte after the ID (flags, case and EDNS
        included), and only allowed clients are served from it.
        """
        now = self.clock()
        hit = self._packed.get(wire, proto, now)
        if hit is None or not self.allowed(client[0]):
            return None
        fields = hit.fields
        if self.log.admit(now):
            self.log.write(
                client=client[0],
                proto=proto,
                **fields,
                wire_cache=True,
                duration_ms=round((self.clock() - now) * 1000, 3),
            )
        else:
            self.log.skip(hit, str(fields["qname"]), str(fields["qtype"]), str(fields["rcode"]))
        return wire[:2] + hit.tail

    async def handle(self, wire: bytes, client: Address, proto: str) -> bytes | None:
        """The listener's handler: one client packet in, reply bytes out."""
        wire = bytes(wire)  # callers may hand in a bytearray (dnslib's pack)
        if self.wire_cache:
            data = self.cached(wire, client, proto)
            if data is not None:
                return data
        started = self.clock()
        allowed = self.allowed(client[0])
        parsed = parse_query(wire)
        if parsed.query is None:
            log_event(
                logger,
                "resolver_bad_packet",
                client=client[0],
                proto=proto,
                size=len(wire),
                reason=parsed.reason,
                action="formerr" if parsed.error else "drop",
            )
            return parsed.error
        query = parsed.query
        qname, qtype = norm(query.q.qname), int(query.q.qtype)
        reply = reply_to(query, aa=False, ra=True)
        fields: dict[str, object] = {}
        cacheable = upstream = False
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
            upstream = not resolution.from_cache
            fields = {
                "from_cache": resolution.from_cache,
                "upstream_queries": resolution.queries,
                "reason": resolution.reason or None,
                "stale": resolution.stale,
                "trace": [asdict(step) for step in resolution.trace],
            }
        data = finish(query, reply, proto)
        summary: dict[str, object] = {
            "qname": qname,
            "qtype": qtype_text(qtype),
            "rcode": RCODE.get(reply.header.rcode),
            "answers": len(reply.rr),
            "truncated": bool(reply.header.tc),
        }
        if cacheable and self.wire_cache:
            self._packed.put(
                wire,
                proto,
                data,
                {**summary, "from_cache": True, "upstream_queries": 0, "trace": []},
                self.clock(),
            )
        now = self.clock()
        line = dict(
            client=client[0],
            proto=proto,
            **summary,
            wire_cache=False,
            duration_ms=round((now - started) * 1000, 3),
            **fields,
        )
        if upstream:
            # A lookup that went upstream always gets its line: the report
            # narrates its trace, and it cost far more than the line.
            self.log.force(now, **line)
        elif self.log.admit(now):
            self.log.write(**line)
        else:
            self.log.skip((qname, qtype), qname, qtype_text(qtype), str(summary["rcode"]))
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
        reply = reply_to(query, aa=False, ra=True)
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
            return self.resolver.stale(qname, qtype, [], 0, f"no result within {self.deadline:g}s")


def cache_ttl(cache: Cache, name: str) -> int:
    """The remaining TTL of a cached NS or A set for a referral (hints: a day)."""
    for rtype in (QTYPE.NS, QTYPE.A):
        rrs = cache.get_rrset(name, rtype, min_rank=Rank.GLUE)
        if rrs:
            return int(rrs[0].ttl)
    return 86400


def reply_for(query: DNSRecord, resolution: Resolution) -> DNSRecord:
    """The client reply for a resolution (used by tests and the report)."""
    reply = reply_to(query, aa=False, ra=True)
    reply.header.rcode = resolution.rcode
    for rr in resolution.answer:
        reply.add_answer(rr)
    for rr in resolution.authority:
        reply.add_auth(rr)
    return reply

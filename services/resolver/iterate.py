"""Iterative resolution, the algorithm of RFC 1034 §5.3.3, over an injected transport.

For each name:
1. look in the cache (answer, CNAME or negative answer) - step 1;
2. find the closest zone whose servers we know (cache, else root hints) - step 2;
3. ask its servers in turn until one gives a usable reply - step 3;
4. analyse the reply (step 4): an answer or a negative answer ends the name;
   a referral to a zone closer to the name moves down and repeats 3; a CNAME
   restarts at 1 with the target; anything else (SERVFAIL, REFUSED, lame or
   upward referral, timeout) tries the next server.

QNAME minimisation (RFC 9156, on by default): a zone's servers are asked
only for the name one label below the zone (type A, §3), so the root never
learns more than "com."; a referral moves down, an answer or NODATA means
the name exists without a cut and one more label is added. Relaxed mode
(§2.3): an NXDOMAIN or an error reply to a minimised question is not
believed (broken servers answer empty non-terminals so) and the full name
is asked instead. At most ``max_minimise`` minimised steps per name (§2.3's
MAX_MINIMISE_COUNT).

Guards: at most ``max_cname`` CNAMEs, ``max_referrals`` referrals per name,
``max_queries`` upstream queries per client question (sub-resolutions of
glue-less name servers included), ``max_ns_depth`` nested sub-resolutions,
``max_ns_lookups`` glue-less name servers resolved per delegation (the
NXNSAttack bound). When every server fails the result is SERVFAIL, never
NXDOMAIN; with serve-stale an expired answer is used instead (RFC 8767).

Every upstream exchange and cache hit is recorded as a ``Step`` so the lab's
report can tell the story of a lookup.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from dnslib import QTYPE, RCODE, RR, DNSRecord

from services.dnscore.names import ROOT, is_subdomain, labels_between, norm, parent
from services.resolver.analyse import describe, follow_chain, referral_target, rrsets, soa_of
from services.resolver.cache import Cache, Negative, Rank
from services.resolver.hints import RootServer
from services.resolver.transport import Transport, UpstreamError, UpstreamTimeout, qtype_text


@dataclass(frozen=True)
class Limits:
    """Bounds that keep one client question from running away."""

    max_cname: int = 8
    max_referrals: int = 16
    max_queries: int = 48
    max_ns_depth: int = 3
    max_ns_lookups: int = 4  # glue-less NS names resolved per delegation (NXNSAttack)
    max_minimise: int = 10  # RFC 9156 §2.3 MAX_MINIMISE_COUNT
    penalty: float = 60.0  # seconds a server that failed is tried after the others


@dataclass
class Step:
    """One thing the resolver did for a client question (for the log and the report)."""

    server: str | None  # address asked; None for a cache hit
    server_name: str | None  # that server's name, as learnt from NS records
    zone: str  # the zone the server was asked as an authority for
    qname: str
    qtype: str
    result: str  # referral|answer|cname|nxdomain|nodata|timeout|error|servfail|refused|lame|cache
    detail: str
    rtt_ms: float | None = None
    depth: int = 0  # 0: the client's name; 1+: finding a name server's address


@dataclass
class Resolution:
    """The outcome for a client: what to put in the reply, and how it was found."""

    rcode: int
    answer: list[RR]
    authority: list[RR]
    trace: list[Step]
    queries: int
    reason: str = ""
    stale: bool = False  # served from expired data (RFC 8767)

    @property
    def from_cache(self) -> bool:
        """True when no upstream server was asked."""
        return self.queries == 0


class ResolveError(Exception):
    """Resolution cannot finish; the client gets SERVFAIL."""


@dataclass
class _Context:
    limits: Limits
    trace: list[Step] = field(default_factory=list)
    queries: int = 0


@dataclass
class _Result:
    rcode: int
    records: list[RR]
    authority: list[RR] = field(default_factory=list)
    final: bool = True  # False: records end in a CNAME whose target is still to resolve


def _one_label_below(name: str, known: str) -> str:
    """The ancestor of ``name`` one label longer than ``known`` (``name`` itself at most)."""
    below = labels_between(name, known)
    return below[0] if below else name


class Resolver:
    """Recursive resolution for clients, by iterative queries to authorities."""

    def __init__(
        self,
        transport: Transport,
        cache: Cache,
        roots: list[RootServer],
        limits: Limits | None = None,
        clock: Callable[[], float] = time.monotonic,
        qname_minimisation: bool = True,
    ) -> None:
        self.transport = transport
        self.cache = cache
        self.roots = roots
        self.limits = limits or Limits()
        self.clock = clock
        self.qname_minimisation = qname_minimisation
        # Addresses that recently timed out or failed, and until when: tried
        # last, so one dead server costs one timeout, not one per question
        # (what resolvers call the infrastructure cache; cf. RFC 2308 §7.2).
        self._failed_until: dict[str, float] = {}

    def _healthy(self, address: str) -> bool:
        return self._failed_until.get(address, 0.0) <= self.clock()

    async def resolve(self, qname: str, qtype: int) -> Resolution:
        """Resolve one question; failures become SERVFAIL with a reason."""
        ctx = _Context(self.limits)
        try:
            result = await self._resolve(norm(qname), qtype, ctx, 0)
        except ResolveError as e:
            return self.stale(norm(qname), qtype, ctx.trace, ctx.queries, str(e))
        return Resolution(result.rcode, result.records, result.authority, ctx.trace, ctx.queries)

    def stale(
        self, qname: str, qtype: int, trace: list[Step], queries: int, reason: str
    ) -> Resolution:
        """RFC 8767: after every upstream failed, an expired answer if kept, else SERVFAIL."""
        chain: list[RR] = []
        name = qname
        for _ in range(self.limits.max_cname + 1):
            found = self.cache.get_stale(name, qtype)
            if found is None:
                break
            if isinstance(found, Negative):
                return Resolution(
                    found.rcode,
                    chain,
                    [found.soa] if found.soa else [],
                    trace,
                    queries,
                    f"stale: {reason}",
                    stale=True,
                )
            chain.extend(found)
            if found[0].rtype == qtype or found[0].rtype != QTYPE.CNAME:
                return Resolution(
                    RCODE.NOERROR, chain, [], trace, queries, f"stale: {reason}", stale=True
                )
            name = norm(found[0].rdata.label)
        return Resolution(RCODE.SERVFAIL, [], [], trace, queries, reason)

    def from_cache_only(self, qname: str, qtype: int) -> Resolution | None:
        """A client question with RD=0: the cached answer, or None (no recursion)."""
        ctx = _Context(self.limits)
        chain: list[RR] = []
        name = norm(qname)
        for _ in range(self.limits.max_cname + 1):
            result = self._from_cache(name, qtype, ctx, 0)
            if result is None:
                return None if not chain else Resolution(RCODE.NOERROR, chain, [], ctx.trace, 0)
            chain.extend(result.records)
            if result.final or not result.records:
                return Resolution(result.rcode, chain, result.authority, ctx.trace, 0)
            name = norm(result.records[-1].rdata.label)
        return None

    def flush(self, name: str | None = None) -> int:
        """Forget cached data (all, or a name and below) and, for all, server health."""
        if name is None:
            self._failed_until.clear()
        return self.cache.flush(name)

    # -- step 1 and the CNAME loop -------------------------------------------------

    async def _resolve(self, name: str, qtype: int, ctx: _Context, depth: int) -> _Result:
        chain: list[RR] = []
        seen: set[str] = set()
        while True:
            if name in seen:
                raise ResolveError(f"CNAME loop at {name}")
            seen.add(name)
            result = self._from_cache(name, qtype, ctx, depth)
            if result is None:
                result = await self._iterate(name, qtype, ctx, depth)
            path, last, complete = follow_chain(result.records, name, qtype)
            chain.extend(path)
            if sum(1 for r in chain if r.rtype == QTYPE.CNAME) > ctx.limits.max_cname:
                raise ResolveError(f"CNAME chain longer than {ctx.limits.max_cname}")
            if result.final or complete or last == name:
                return _Result(result.rcode, chain, result.authority)
            name = last  # RFC 1034 §5.3.3 step 4c: restart with the CNAME's target

    def _from_cache(self, name: str, qtype: int, ctx: _Context, depth: int) -> _Result | None:
        negative = self.cache.get_negative(name, qtype)
        if negative is not None:
            kind = "nxdomain" if negative.rcode == RCODE.NXDOMAIN else "nodata"
            self._note(ctx, None, None, "", name, qtype, "cache", f"cached {kind}", None, depth)
            return _Result(negative.rcode, [], [negative.soa] if negative.soa else [])
        for rtype in (qtype, QTYPE.CNAME):
            rrs = self.cache.get_rrset(name, rtype, min_rank=Rank.ANSWER)
            if rrs:
                detail = f"cached {qtype_text(rtype)} (ttl {rrs[0].ttl})"
                self._note(ctx, None, None, "", name, qtype, "cache", detail, None, depth)
                return _Result(RCODE.NOERROR, rrs, final=rtype == qtype)
        return None

    # -- steps 2 to 4 --------------------------------------------------------------

    def _start(self, name: str) -> tuple[str, list[str]]:
        """RFC 1034 §5.3.3 step 2: the closest known zone, else the root hints.

        A cached zone counts only if one of its servers can be reached: an
        address is known, or the server's name lies outside the zone (so it can
        be looked up). A zone whose in-zone glue has expired is skipped and its
        parent asked again, which refreshes the glue.
        """
        candidate: str | None = name
        while candidate is not None:
            known = self.cache.closest_delegation(candidate)
            if known is None:
                break
            zone, ns_names = known
            if any(self._known_addresses(ns) or not is_subdomain(ns, zone) for ns in ns_names):
                return known
            candidate = parent(zone)
        return ROOT, [server.name for server in self.roots]

    async def _iterate(self, name: str, qtype: int, ctx: _Context, depth: int) -> _Result:
        zone, ns_names = self._start(name)
        minimise = self.qname_minimisation
        known = zone  # deepest name known to exist on the way down (RFC 9156 §2)
        steps = 0
        for _ in range(ctx.limits.max_referrals + ctx.limits.max_minimise):
            ask_name, ask_type = name, qtype
            if minimise and steps < ctx.limits.max_minimise:
                ask_name = _one_label_below(name, known)
                if ask_name != name:
                    ask_type = QTYPE.A  # RFC 9156 §3: A hides the real type
            partial = ask_name != name
            reply = await self._ask_zone(
                zone, ns_names, ask_name, ask_type, ctx, depth, any_reply=partial
            )
            child = referral_target(reply, zone, ask_name) if not reply.rr else None
            if reply.header.rcode == RCODE.NOERROR and not reply.rr and child is not None:
                zone, ns_names = self._follow_referral(reply, zone, child)
                known = zone
                continue
            if not partial:
                return self._accept(reply, zone, name, qtype)
            steps += 1
            if reply.header.rcode != RCODE.NOERROR:
                # RFC 9156 §2.3 relaxed mode: NXDOMAIN or an error for a minimised
                # name is not believed (some servers get empty non-terminals
                # wrong); the whole name is asked instead.
                minimise = False
                self._note(
                    ctx,
                    None,
                    None,
                    zone,
                    ask_name,
                    qtype,
                    "error",
                    f"{RCODE.get(reply.header.rcode)} for the minimised name: "
                    "asking the full name (RFC 9156 relaxed mode)",
                    None,
                    depth,
                )
                continue
            known = ask_name  # it exists, with no cut: one label deeper, same servers
        raise ResolveError(f"more than {ctx.limits.max_referrals} referrals for {name}")

    def _follow_referral(self, reply: DNSRecord, zone: str, child: str) -> tuple[str, list[str]]:
        """Cache a referral's NS set and its in-bailiwick glue; return the new zone."""
        ns = [r for r in reply.auth if r.rtype == QTYPE.NS and norm(r.rname) == child]
        self.cache.put_rrset(ns, Rank.REFERRAL)
        names = [norm(r.rdata.label) for r in ns]
        # Glue is believed only for the referral's own NS names and only if the
        # zone that sent it is authoritative for those names (its bailiwick),
        # so a com. server cannot plant addresses for names under net.
        # (RFC 2181 §5.4.1; the defence against Kaminsky-style poisoning).
        glue = [
            r
            for r in reply.ar
            if r.rtype == QTYPE.A and norm(r.rname) in names and is_subdomain(norm(r.rname), zone)
        ]
        for rrset in rrsets(glue):
            self.cache.put_rrset(rrset, Rank.GLUE)
        return child, names

    def _accept(self, reply: DNSRecord, zone: str, name: str, qtype: int) -> _Result:
        """Analyse a final reply (step 4a/4b), cache what is in bailiwick, return it."""
        # Only records the answering zone is authoritative for are believed.
        trusted = [r for r in reply.rr if is_subdomain(norm(r.rname), zone)]
        for rrset in rrsets(trusted):
            self.cache.put_rrset(rrset, Rank.ANSWER)
        path, last, complete = follow_chain(trusted, name, qtype)
        soa = soa_of(reply, zone)
        rcode = int(reply.header.rcode)
        if rcode == RCODE.NXDOMAIN or (not complete and soa is not None):
            # NXDOMAIN, or NODATA (NOERROR, SOA, nothing of the type): RFC 2308 §2, §5.
            # With a CNAME chain the denial is about its last name (RFC 6604 §3).
            self.cache.put_negative(last, qtype, rcode, soa)
            authority = (
                []
                if soa is None
                else [RR(soa.rname, soa.rtype, soa.rclass, self.cache.negative_ttl(soa), soa.rdata)]
            )
            return _Result(rcode, self.cache.as_cached(path), authority)
        if not complete and not path:
            return _Result(RCODE.NOERROR, [])  # NODATA without SOA: answer, do not cache
        # The first reply shows the TTLs the cache will give out (--max-ttl, --min-ttl).
        return _Result(RCODE.NOERROR, self.cache.as_cached(path), final=complete)

    async def _ask_zone(
        self,
        zone: str,
        ns_names: list[str],
        name: str,
        qtype: int,
        ctx: _Context,
        depth: int,
        any_reply: bool = False,
    ) -> DNSRecord:
        """RFC 1034 §5.3.3 step 3: ask the zone's servers until one gives a usable reply.

        With ``any_reply`` (a minimised question) an error reply is returned
        too, for the relaxed-mode fallback; only silence moves to the next server.
        """
        tried: set[str] = set()
        lookups = 0

        def preference(ns: str) -> tuple[bool, bool]:
            known = self._known_addresses(ns)
            return (not known, not any(self._healthy(a) for a in known))

        # Servers with a known, healthy address first; glue-less ones need a
        # lookup, so they come after (a stable sort keeps the NS order).
        for ns in sorted(ns_names, key=preference):
            addresses = self._known_addresses(ns)
            if not addresses:
                if lookups >= ctx.limits.max_ns_lookups:
                    # NXNSAttack: a referral naming many glue-less servers must
                    # not make us resolve them all.
                    self._note(
                        ctx,
                        None,
                        ns,
                        zone,
                        ns,
                        QTYPE.A,
                        "error",
                        f"more than {ctx.limits.max_ns_lookups} glue-less name "
                        "servers: not looked up",
                        None,
                        depth,
                    )
                    break
                lookups += 1
                addresses = await self._lookup_server(ns, zone, ctx, depth)
            for address in sorted(addresses, key=lambda a: not self._healthy(a)):
                if address in tried:
                    continue
                tried.add(address)
                reply = await self._exchange(address, ns, zone, name, qtype, ctx, depth, any_reply)
                if reply is not None:
                    return reply
        raise ResolveError(f"no server for {zone} gave a usable answer for {name}")

    def _known_addresses(self, ns: str) -> list[str]:
        for root in self.roots:
            if root.name == ns:
                return list(root.addresses)
        return self.cache.addresses(ns)

    async def _lookup_server(self, ns: str, zone: str, ctx: _Context, depth: int) -> list[str]:
        """Resolve a name server named without glue, as a separate question."""
        if is_subdomain(ns, zone):
            # Its address could only come from the zone we cannot reach without it.
            self._note(
                ctx,
                None,
                ns,
                zone,
                ns,
                QTYPE.A,
                "error",
                "in-zone name server without glue: skipped",
                None,
                depth,
            )
            return []
        if depth >= ctx.limits.max_ns_depth:
            return []
        try:
            result = await self._resolve(ns, QTYPE.A, ctx, depth + 1)
        except ResolveError:
            return []
        return [str(r.rdata) for r in result.records if r.rtype == QTYPE.A]

    async def _exchange(
        self,
        address: str,
        ns: str,
        zone: str,
        name: str,
        qtype: int,
        ctx: _Context,
        depth: int,
        any_reply: bool = False,
    ) -> DNSRecord | None:
        """One upstream query; returns the reply if usable, None to try the next server."""
        if ctx.queries >= ctx.limits.max_queries:
            raise ResolveError(f"gave up after {ctx.queries} upstream queries")
        ctx.queries += 1
        started = self.clock()
        try:
            reply = await self.transport.query(address, name, qtype)
        except UpstreamError as e:
            kind = "timeout" if isinstance(e, UpstreamTimeout) else "error"
            self._note(ctx, address, ns, zone, name, qtype, kind, str(e), started, depth)
            self._failed_until[address] = self.clock() + ctx.limits.penalty
            return None
        result, detail = describe(reply, zone, name)
        self._note(ctx, address, ns, zone, name, qtype, result, detail, started, depth)
        if any_reply and result != "lame":
            return reply
        if result in ("servfail", "refused", "lame", "error"):
            self._failed_until[address] = self.clock() + ctx.limits.penalty
            return None
        self._failed_until.pop(address, None)
        return reply

    def _note(
        self,
        ctx: _Context,
        server: str | None,
        server_name: str | None,
        zone: str,
        qname: str,
        qtype: int,
        result: str,
        detail: str,
        started: float | None,
        depth: int,
    ) -> None:
        rtt = None if started is None else round((self.clock() - started) * 1000, 3)
        ctx.trace.append(
            Step(server, server_name, zone, qname, qtype_text(qtype), result, detail, rtt, depth)
        )

"""Iterative resolution over a fake network of the lab's real zones (RFC 1034 §5.3.3)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dnslib import QTYPE, RCODE, RR, A, DNSLabel, DNSRecord

from services.resolver.cache import Cache, CacheConfig
from services.resolver.hints import RootServer
from services.resolver.iterate import Limits, Resolver

if TYPE_CHECKING:  # the fakes come in as fixtures from conftest.py
    from .conftest import FakeClock, FakeNetwork


def texts(rrs: list[RR]) -> list[str]:
    return [f"{r.rname} {QTYPE.get(r.rtype)} {r.rdata}" for r in rrs]


async def test_www_walks_root_tld_example_and_glueless_cdn(
    classic: Resolver, net: FakeNetwork
) -> None:
    """www.example.com resolves through the CNAME and the glue-less CDN delegation."""
    result = await classic.resolve("www.example.com", QTYPE.A)
    assert result.rcode == RCODE.NOERROR
    assert texts(result.answer) == [
        "www.example.com. CNAME www.example.com.edgecdn.net.",
        "www.example.com.edgecdn.net. A 198.51.100.80",
    ]
    results = [(s.server, s.qname, s.result) for s in result.trace]
    assert results == [
        ("198.51.100.4", "www.example.com.", "referral"),
        ("198.51.100.11", "www.example.com.", "referral"),
        ("198.51.100.21", "www.example.com.", "cname"),
        ("198.51.100.4", "www.example.com.edgecdn.net.", "referral"),
        ("198.51.100.11", "www.example.com.edgecdn.net.", "referral"),
        # net. gave no glue for ns1.edgecdn-dns.com: look it up (cached com. first)
        ("198.51.100.11", "ns1.edgecdn-dns.com.", "referral"),
        ("198.51.100.31", "ns1.edgecdn-dns.com.", "answer"),
        ("198.51.100.31", "www.example.com.edgecdn.net.", "answer"),
    ]
    assert [s.depth for s in result.trace][5:7] == [1, 1]
    assert "no glue" in result.trace[4].detail
    assert not result.from_cache
    assert result.queries == 8


async def test_second_query_from_cache_with_lower_ttl(
    resolver: Resolver, net: FakeNetwork, clock: FakeClock
) -> None:
    """A repeat within the TTL asks nobody and shows the TTL counted down."""
    await resolver.resolve("www.example.com", QTYPE.A)
    sent = len(net.sent)
    clock.advance(10)
    again = await resolver.resolve("www.example.com", QTYPE.A)
    assert len(net.sent) == sent
    assert again.from_cache
    assert [r.ttl for r in again.answer] == [3590, 50]
    assert {s.result for s in again.trace} == {"cache"}


async def test_expired_cdn_record_refetched_from_cached_delegation(
    classic: Resolver, net: FakeNetwork, clock: FakeClock
) -> None:
    """After the 60 s CDN TTL only the CDN server is asked again (delegation cached)."""
    await classic.resolve("www.example.com", QTYPE.A)
    clock.advance(61)
    net.sent.clear()
    result = await classic.resolve("www.example.com", QTYPE.A)
    assert net.sent == [("198.51.100.31", "www.example.com.edgecdn.net.", "A")]
    assert result.answer[0].ttl == 3600 - 61


async def test_nxdomain_and_negative_cache(resolver: Resolver, net: FakeNetwork) -> None:
    """An unknown name is NXDOMAIN with the SOA, and the denial is cached."""
    result = await resolver.resolve("nope.example.com", QTYPE.A)
    assert result.rcode == RCODE.NXDOMAIN
    assert texts(result.authority)[0].startswith("example.com. SOA")
    sent = len(net.sent)
    again = await resolver.resolve("nope.example.com", QTYPE.TXT)
    assert again.rcode == RCODE.NXDOMAIN
    assert again.from_cache
    assert len(net.sent) == sent


async def test_nodata(resolver: Resolver) -> None:
    """A name without the type is NOERROR with no answer and the SOA."""
    result = await resolver.resolve("origin.example.com", QTYPE.AAAA)
    assert result.rcode == RCODE.NOERROR
    assert result.answer == []
    assert QTYPE.get(result.authority[0].rtype) == "SOA"


async def test_unknown_tld_is_nxdomain_from_root(classic: Resolver) -> None:
    """A name under a TLD the root does not have is NXDOMAIN from the root."""
    result = await classic.resolve("www.example.invalid", QTYPE.A)
    assert result.rcode == RCODE.NXDOMAIN
    assert len(result.trace) == 1


async def test_failover_to_second_server(resolver: Resolver, net: FakeNetwork) -> None:
    """A root and a TLD server that time out are skipped for their twins."""
    net.down |= {"198.51.100.4", "198.51.100.11"}
    result = await resolver.resolve("origin.example.com", QTYPE.A)
    assert result.rcode == RCODE.NOERROR
    assert [s.result for s in result.trace][:4] == ["timeout", "referral", "timeout", "referral"]


async def test_all_servers_down_is_servfail_not_nxdomain(
    resolver: Resolver, net: FakeNetwork
) -> None:
    """When every server for a zone fails the answer is SERVFAIL, never NXDOMAIN."""
    net.down.add("198.51.100.21")
    result = await resolver.resolve("www.example.com", QTYPE.A)
    assert result.rcode == RCODE.SERVFAIL
    assert result.answer == []
    assert "example.com." in result.reason
    assert result.trace[-1].result == "timeout"


async def test_refused_and_servfail_replies_try_next_server(
    resolver: Resolver, net: FakeNetwork
) -> None:
    """REFUSED or SERVFAIL from one server moves on to the next one."""

    def refuse(query: DNSRecord) -> DNSRecord:
        reply = query.reply(aa=0, ra=0)
        reply.header.rcode = RCODE.REFUSED
        return reply

    net.overrides["198.51.100.4"] = refuse
    result = await resolver.resolve("origin.example.com", QTYPE.A)
    assert result.rcode == RCODE.NOERROR
    assert result.trace[0].result == "refused"


async def test_out_of_bailiwick_glue_is_ignored(resolver: Resolver, net: FakeNetwork) -> None:
    """A com. server cannot plant an address for a name under net. (RFC 2181 §5.4.1)."""

    def poison(query: DNSRecord) -> DNSRecord | None:
        if str(query.q.qname) != "www.example.com.":
            return None
        reply = query.reply(aa=0, ra=0)
        reply.add_auth(*RR.fromZone("example.com. 3600 NS ns.evil.net."))
        reply.add_auth(*RR.fromZone("example.com. 3600 NS ns1.example.com."))
        reply.add_ar(RR(DNSLabel("ns.evil.net."), QTYPE.A, ttl=3600, rdata=A("203.0.113.66")))
        reply.add_ar(RR(DNSLabel("ns1.example.com."), QTYPE.A, ttl=3600, rdata=A("198.51.100.21")))
        return reply

    net.overrides["198.51.100.11"] = poison
    await resolver.resolve("www.example.com", QTYPE.A)
    assert resolver.cache.addresses("ns.evil.net.") == []
    assert "203.0.113.66" not in {server for server, _, _ in net.sent}


async def test_out_of_bailiwick_answer_records_are_not_cached(
    resolver: Resolver, net: FakeNetwork
) -> None:
    """Answer records outside the answering zone are dropped, not believed."""

    def extra(query: DNSRecord) -> DNSRecord | None:
        if str(query.q.qname) != "origin.example.com.":
            return None
        reply = query.reply(aa=1, ra=0)
        reply.add_answer(*RR.fromZone("origin.example.com. 60 A 198.51.100.90"))
        reply.add_answer(*RR.fromZone("www.bank.com. 60 A 203.0.113.66"))
        return reply

    net.overrides["198.51.100.21"] = extra
    result = await resolver.resolve("origin.example.com", QTYPE.A)
    assert texts(result.answer) == ["origin.example.com. A 198.51.100.90"]
    assert resolver.cache.get_rrset("www.bank.com.", QTYPE.A) is None


async def test_cname_chain_limit(
    net: FakeNetwork, clock: FakeClock, roots: list[RootServer]
) -> None:
    """A CNAME chain longer than the limit is SERVFAIL, not followed forever."""

    def chain(query: DNSRecord) -> DNSRecord:
        name = str(query.q.qname)
        number = int(name.split(".")[0][1:]) if name.startswith("c") else 0
        reply = query.reply(aa=1, ra=0)
        reply.add_answer(*RR.fromZone(f"{name} 60 CNAME c{number + 1}.example.com."))
        return reply

    net.overrides["198.51.100.21"] = chain
    resolver = Resolver(net, Cache(clock), roots, Limits(max_cname=3), clock=clock)
    result = await resolver.resolve("c0.example.com", QTYPE.A)
    assert result.rcode == RCODE.SERVFAIL
    assert "CNAME chain" in result.reason


async def test_query_budget_bounds_work(
    net: FakeNetwork, clock: FakeClock, roots: list[RootServer]
) -> None:
    """A question needing more upstream queries than allowed gives up with SERVFAIL."""
    resolver = Resolver(net, Cache(clock), roots, Limits(max_queries=3), clock=clock)
    result = await resolver.resolve("www.example.com", QTYPE.A)
    assert result.rcode == RCODE.SERVFAIL
    assert result.queries == 3
    assert "3 upstream queries" in result.reason


async def test_lame_upward_referral_is_skipped(resolver: Resolver, net: FakeNetwork) -> None:
    """A referral that does not get closer to the name (lame) tries the next server."""

    def upward(query: DNSRecord) -> DNSRecord:
        reply = query.reply(aa=0, ra=0)
        reply.add_auth(*RR.fromZone(". 3600 NS a.root-servers.net."))
        return reply

    net.overrides["198.51.100.11"] = upward
    result = await resolver.resolve("origin.example.com", QTYPE.A)
    assert result.rcode == RCODE.NOERROR
    assert ("198.51.100.11", "lame") in {(s.server, s.result) for s in result.trace}


async def test_failed_server_is_tried_last_for_a_while(
    classic: Resolver, net: FakeNetwork, clock: FakeClock
) -> None:
    """After a timeout the dead root is asked last, until its penalty runs out."""
    net.down.add("198.51.100.4")
    await classic.resolve("origin.example.com", QTYPE.A)
    net.sent.clear()
    await classic.resolve("nowhere.invalid", QTYPE.A)
    assert [server for server, _, _ in net.sent] == ["198.51.100.5"]
    clock.advance(61)
    net.sent.clear()
    await classic.resolve("elsewhere.invalid", QTYPE.A)
    assert [server for server, _, _ in net.sent] == ["198.51.100.4", "198.51.100.5"]


async def test_root_ns_health_question(resolver: Resolver) -> None:
    """'. NS', the resolver's health-check question, is answered from the root."""
    result = await resolver.resolve(".", QTYPE.NS)
    assert result.rcode == RCODE.NOERROR
    assert sorted(str(r.rdata) for r in result.answer) == [
        "a.root-servers.net.",
        "b.root-servers.net.",
    ]


async def test_mx_and_txt_at_apex(resolver: Resolver) -> None:
    """Other types resolve too: the apex MX and TXT records."""
    mx = await resolver.resolve("example.com", QTYPE.MX)
    txt = await resolver.resolve("example.com", QTYPE.TXT)
    assert texts(mx.answer) == ["example.com. MX 10 mail.example.com."]
    assert len(txt.answer) == 2


async def test_expired_in_zone_glue_is_refreshed_from_parent(
    net: FakeNetwork, clock: FakeClock, roots: list[RootServer]
) -> None:
    """When a delegation outlives its in-zone glue, the parent is asked again."""
    resolver = Resolver(net, Cache(clock, CacheConfig(max_ttl=10**6)), roots, clock=clock)
    await resolver.resolve("ns1.example.com", QTYPE.A)  # answer (86400 s) replaces glue
    clock.advance(86400 + 1)  # the A is gone, the example.com. NS (172800 s) is not
    assert resolver.cache.addresses("ns1.example.com.") == []
    net.sent.clear()
    result = await resolver.resolve("origin.example.com", QTYPE.A)
    assert result.rcode == RCODE.NOERROR
    assert net.sent[0][0] == "198.51.100.11"  # back to com. for the glue


async def test_first_answer_already_shows_capped_ttls(
    net: FakeNetwork, clock: FakeClock, roots: list[RootServer]
) -> None:
    """--max-ttl and --min-ttl apply to the reply that fills the cache, not only to later ones."""
    cache = Cache(clock, CacheConfig(max_ttl=600, min_ttl=120))
    resolver = Resolver(net, cache, roots, clock=clock)
    first = await resolver.resolve("www.example.com", QTYPE.A)
    assert not first.from_cache
    assert [r.ttl for r in first.answer] == [600, 120]  # zone: 3600 and 60
    again = await resolver.resolve("www.example.com", QTYPE.A)
    assert again.from_cache
    assert [r.ttl for r in again.answer] == [600, 120]


async def test_first_denial_shows_the_cached_soa_ttl(
    net: FakeNetwork, clock: FakeClock, roots: list[RootServer]
) -> None:
    """The SOA of a first NXDOMAIN has the TTL the negative cache will count down from."""
    cache = Cache(clock, CacheConfig(max_negative_ttl=30))
    resolver = Resolver(net, cache, roots, clock=clock)
    first = await resolver.resolve("nx-weblab.example.com", QTYPE.A)
    again = await resolver.resolve("nx-weblab.example.com", QTYPE.A)
    assert first.rcode == again.rcode == RCODE.NXDOMAIN
    assert again.from_cache
    assert [r.ttl for r in first.authority] == [r.ttl for r in again.authority] == [30]

"""QNAME minimisation, NXNS bounds, cache caps, serve-stale, RD=0, the wire cache, control."""

from __future__ import annotations

import ipaddress
import json
import logging
from typing import TYPE_CHECKING

import pytest
from dnslib import NS, QTYPE, RCODE, RR, DNSRecord

from services.dnscore.names import norm
from services.resolver.cache import Cache, CacheConfig, Rank
from services.resolver.control import Controls, handle_request
from services.resolver.hints import RootServer
from services.resolver.iterate import Limits, Resolver
from services.resolver.server import RecursiveServer

if TYPE_CHECKING:
    from .conftest import FakeClock, FakeNetwork

LOCAL = ("127.0.0.1", 5300)


def front(resolver: Resolver, clock: FakeClock) -> RecursiveServer:
    return RecursiveServer(resolver, [ipaddress.ip_network("127.0.0.0/8")], clock=clock)


async def test_minimised_names_reach_each_zone(resolver: Resolver, net: FakeNetwork) -> None:
    """RFC 9156: the root sees only TLDs and the TLD servers only the next label."""
    result = await resolver.resolve("www.example.com", QTYPE.A)
    assert result.rcode == RCODE.NOERROR
    assert str(result.answer[-1].rdata) == "198.51.100.80"
    roots = {q for server, q, _ in net.sent if server in ("198.51.100.4", "198.51.100.5")}
    assert roots <= {"com.", "net."}
    tlds = {q for server, q, _ in net.sent if server in ("198.51.100.11", "198.51.100.12")}
    assert tlds <= {"example.com.", "edgecdn.net.", "edgecdn-dns.com."}
    # Minimised questions use type A (RFC 9156 §3), whatever the client asked.
    assert ("198.51.100.4", "com.", "A") in net.sent


async def test_relaxed_mode_falls_back_on_nxdomain(resolver: Resolver, net: FakeNetwork) -> None:
    """A server wrongly saying NXDOMAIN for an empty non-terminal gets the full name."""

    def broken(query: DNSRecord) -> DNSRecord | None:
        if norm(query.q.qname) == "com.edgecdn.net.":
            reply = query.reply()
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        return None

    net.overrides["198.51.100.31"] = broken
    result = await resolver.resolve("www.example.com", QTYPE.A)
    assert result.rcode == RCODE.NOERROR
    assert str(result.answer[-1].rdata) == "198.51.100.80"
    assert any("relaxed mode" in step.detail for step in result.trace)


async def test_nxns_glueless_lookups_are_bounded(resolver: Resolver, net: FakeNetwork) -> None:
    """NXNSAttack: a referral to 20 glue-less servers makes at most 4 of them be looked up."""

    def evil(query: DNSRecord) -> DNSRecord | None:
        if not norm(query.q.qname).endswith("evil.com."):
            return None
        reply = query.reply()
        for i in range(20):
            reply.add_auth(RR("evil.com.", QTYPE.NS, ttl=60, rdata=NS(f"ns{i}.nowhere.net.")))
        return reply

    net.overrides["198.51.100.11"] = net.overrides["198.51.100.12"] = evil
    result = await resolver.resolve("www.evil.com", QTYPE.A)
    assert result.rcode == RCODE.SERVFAIL
    looked_up = {q for _, q, _ in net.sent if q.endswith(".nowhere.net.")}
    assert 0 < len(looked_up) <= 4
    assert any("glue-less name servers: not looked up" in s.detail for s in result.trace)


def test_cache_ttl_floor_and_cap(clock: FakeClock) -> None:
    """TTLs are raised to min_ttl and cut to max_ttl when stored."""
    cache = Cache(clock, CacheConfig(min_ttl=60, max_ttl=600))
    short = RR("a.test.", QTYPE.A, ttl=5, rdata=RR.fromZone("a.test. 5 A 192.0.2.1")[0].rdata)
    long = RR("b.test.", QTYPE.A, ttl=99999, rdata=short.rdata)
    cache.put_rrset([short], Rank.ANSWER)
    cache.put_rrset([long], Rank.ANSWER)
    assert cache.get_rrset("a.test.", QTYPE.A)[0].ttl == 60  # type: ignore[index]
    assert cache.get_rrset("b.test.", QTYPE.A)[0].ttl == 600  # type: ignore[index]


async def test_dump_kinds_and_flush_below_a_name(resolver: Resolver, clock: FakeClock) -> None:
    """dump lists answer/negative/delegation with TTL left; flush NAME drops it and below."""
    await resolver.resolve("www.example.com", QTYPE.A)
    await resolver.resolve("nope.example.com", QTYPE.A)
    clock.advance(10)
    rows = resolver.cache.dump()
    kinds = {(r["name"], r["kind"]) for r in rows}
    assert ("www.example.com.", "answer") in kinds
    assert ("nope.example.com.", "negative") in kinds
    assert ("com.", "delegation") in kinds
    www = next(r for r in rows if r["name"] == "www.example.com.")
    assert www["ttl"] == 3590
    assert www["type"] == "CNAME"
    dropped = resolver.flush("example.com")
    assert dropped >= 3
    names = {r["name"] for r in resolver.cache.dump()}
    assert not any(str(n).endswith("example.com.") and "edgecdn" not in str(n) for n in names)
    assert "com." in names
    resolver.flush()
    assert resolver.cache.dump() == []


async def test_serve_stale_only_when_upstreams_fail(
    net: FakeNetwork, clock: FakeClock, roots: list[RootServer]
) -> None:
    """RFC 8767: expired data is served with TTL 30 only after every server failed."""
    stale = Resolver(net, Cache(clock, CacheConfig(serve_stale=True)), roots, Limits(), clock=clock)
    await stale.resolve("origin.example.com", QTYPE.A)
    clock.advance(3601)
    fresh = await stale.resolve("origin.example.com", QTYPE.A)
    assert not fresh.stale
    assert fresh.answer[0].ttl == 3600
    clock.advance(3601)
    net.down |= set(net.servers)
    old = await stale.resolve("origin.example.com", QTYPE.A)
    assert old.stale
    assert old.rcode == RCODE.NOERROR
    assert old.answer[0].ttl == 30
    plain = Resolver(net, Cache(clock), roots, Limits(), clock=clock)
    assert (await plain.resolve("origin.example.com", QTYPE.A)).rcode == RCODE.SERVFAIL


async def test_rd0_answers_from_cache_only(
    resolver: Resolver, net: FakeNetwork, clock: FakeClock
) -> None:
    """RD=0: a referral to the root when cold, the cached answer when warm, never recursion."""
    server = front(resolver, clock)
    query = DNSRecord.question("origin.example.com")
    query.header.rd = 0
    cold = DNSRecord.parse(await server.handle(query.pack(), LOCAL, "udp") or b"")
    assert net.sent == []
    assert cold.rr == []
    assert cold.header.rcode == RCODE.NOERROR
    assert {str(r.rdata) for r in cold.auth} == {"a.root-servers.net.", "b.root-servers.net."}
    assert {str(r.rdata) for r in cold.ar} == {"198.51.100.4", "198.51.100.5"}
    await resolver.resolve("origin.example.com", QTYPE.A)
    sent = len(net.sent)
    warm = DNSRecord.parse(await server.handle(query.pack(), LOCAL, "udp") or b"")
    assert str(warm.rr[0].rdata) == "198.51.100.90"
    assert len(net.sent) == sent


async def test_wire_cache_patches_id_and_expires_after_a_second(
    resolver: Resolver, net: FakeNetwork, clock: FakeClock
) -> None:
    """A repeat within a second reuses the packed reply with the new ID; later it is re-packed."""
    server = front(resolver, clock)
    first = DNSRecord.question("origin.example.com")
    await server.handle(first.pack(), LOCAL, "udp")
    second = DNSRecord.question("origin.example.com")
    second.header.id = (first.header.id + 7) % 65536
    reply = DNSRecord.parse(await server.handle(second.pack(), LOCAL, "udp") or b"")
    assert reply.header.id == second.header.id
    assert str(reply.rr[0].rdata) == "198.51.100.90"
    clock.advance(5)
    later = DNSRecord.parse(await server.handle(second.pack(), LOCAL, "udp") or b"")
    assert later.rr[0].ttl == reply.rr[0].ttl - 5


async def test_wire_cache_never_serves_outsiders(resolver: Resolver, clock: FakeClock) -> None:
    """A packed reply cached for an allowed client is not given to a refused one."""
    server = front(resolver, clock)
    query = DNSRecord.question("origin.example.com")
    await server.handle(query.pack(), LOCAL, "udp")
    outsider = DNSRecord.parse(await server.handle(query.pack(), ("192.0.2.1", 1), "udp") or b"")
    assert outsider.header.rcode == RCODE.REFUSED
    assert outsider.rr == []


async def test_control_requests(resolver: Resolver, clock: FakeClock) -> None:
    """The control protocol dumps, flushes one name or all, and rejects bad requests."""
    server = front(resolver, clock)
    controls = Controls(resolver.cache.dump, server.flush)
    await resolver.resolve("origin.example.com", QTYPE.A)
    dumped = handle_request(b'{"cmd": "dump"}', controls)
    assert any(e["name"] == "origin.example.com." for e in dumped["entries"])
    one = handle_request(b'{"cmd": "flush", "name": "origin.example.com"}', controls)
    assert one == {"ok": True, "flushed": 1, "name": "origin.example.com."}
    assert handle_request(b"nonsense", controls)["ok"] is False
    assert handle_request(b'{"cmd": "reboot"}', controls)["ok"] is False
    json.dumps(dumped)


async def test_reply_flags_only_rd_and_cd_come_from_the_query(
    resolver: Resolver, clock: FakeClock
) -> None:
    """AD, Z, TC and RCODE bits of a query are not echoed; RD and CD are (RFC 4035 §3.2.3)."""
    server = front(resolver, clock)
    for _ in range(2):  # resolved, then from the wire cache
        query = DNSRecord.question("origin.example.com")
        query.header.ad = query.header.z = query.header.cd = 1
        reply = DNSRecord.parse(await server.handle(query.pack(), LOCAL, "udp") or b"").header
        assert (reply.ad, reply.z, reply.tc, reply.aa) == (0, 0, 0, 0)
        assert (reply.rd, reply.cd, reply.ra, reply.rcode) == (1, 1, 1, RCODE.NOERROR)


async def test_lookups_upstream_always_logged_cache_hits_rationed(
    resolver: Resolver, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """With the line budget spent, upstream lookups still log; cached answers are summarised."""
    caplog.set_level(logging.INFO, logger="services.resolver.server")
    server = RecursiveServer(
        resolver, [ipaddress.ip_network("127.0.0.0/8")], clock=clock, query_log_rate=0
    )
    query = DNSRecord.question("origin.example.com").pack()
    for _ in range(3):
        await server.handle(query, LOCAL, "udp")
    server.log.flush()
    events = [
        (r.event, getattr(r, "from_cache", None), getattr(r, "not_logged", None))  # type: ignore[attr-defined]
        for r in caplog.records
        if r.name == "services.resolver.server"
    ]
    assert events == [("resolver_query", False, None), ("resolver_query_summary", None, 2)]

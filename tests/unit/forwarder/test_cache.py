"""The cache rules without sockets: lifetimes, counting down, caps, denials, flush and dump."""

from __future__ import annotations

from dnslib import CNAME, QTYPE, RCODE, RR, A, DNSRecord

from services.forwarder.cache import AnswerCache, Key, fresh, verdict
from tests.unit.forwarder.conftest import FakeClock
from tests.unit.forwarder.fakeupstream import bare, negative, positive

A_KEY = Key("www.example.com.", QTYPE.A, 1)


def reply_for(name: str, build: object, qtype: str = "A") -> DNSRecord:
    assert callable(build)
    reply: DNSRecord = build(DNSRecord.question(name, qtype))
    return reply


def test_key_is_lower_case_type_and_class() -> None:
    """WWW.Example.COM and www.example.com are one key; A and AAAA are two."""
    upper = Key.of(DNSRecord.question("WWW.Example.COM", "A"))
    assert upper == A_KEY
    assert Key.of(DNSRecord.question("www.example.com", "AAAA")) != A_KEY


def test_positive_answer_lives_for_its_smallest_ttl_counting_down() -> None:
    """Two records, TTLs 300 and 120: kept 120 s, served with the time left, then gone."""
    clock = FakeClock()
    cache = AnswerCache(clock)
    ruling = cache.put(
        A_KEY, reply_for("www.example.com", positive((300, "192.0.2.1"), (120, "192.0.2.2")))
    )
    assert (ruling.kind, ruling.ttl) == ("answer", 120)
    clock.advance(45.7)
    hit = cache.get(A_KEY)
    assert hit is not None
    assert [int(rr.ttl) for rr in hit.answer] == [75, 75]
    assert hit.held == 45
    clock.advance(74)  # held 119.7 s: one second left
    hit = cache.get(A_KEY)
    assert hit is not None
    assert hit.ttl == 1
    clock.advance(0.3)
    assert cache.get(A_KEY) is None


def test_cname_chain_takes_the_smallest_ttl_of_its_rrsets() -> None:
    """RFC 2181 §5.2: a CNAME (3600) and its A (60) make one answer of 60 s."""
    reply = DNSRecord.question("www.example.com", "A").reply()
    reply.add_answer(RR("www.example.com", QTYPE.CNAME, ttl=3600, rdata=CNAME("edge.test.")))
    reply.add_answer(RR("edge.test", QTYPE.A, ttl=60, rdata=A("192.0.2.80")))
    assert verdict(reply).ttl == 60
    assert [int(rr.ttl) for rr in fresh(reply).answer] == [60, 60]


def test_ttls_are_capped_by_max_ttl() -> None:
    """A TTL of two days with --max-ttl 3600: kept and shown as 3600, gone after an hour."""
    clock = FakeClock()
    cache = AnswerCache(clock, max_ttl=3600)
    ruling = cache.put(A_KEY, reply_for("www.example.com", positive((172800, "192.0.2.1"))))
    assert ruling.ttl == 3600
    assert "capped" in ruling.why
    hit = cache.get(A_KEY)
    assert hit is not None
    assert int(hit.answer[0].ttl) == 3600
    clock.advance(3600)
    assert cache.get(A_KEY) is None


def test_nxdomain_is_kept_for_the_soa_minimum_and_the_soa_counts_down() -> None:
    """RFC 2308 §5: SOA TTL 900, MINIMUM 60 -> 60 s; the served SOA's TTL is the time left."""
    clock = FakeClock()
    cache = AnswerCache(clock)
    key = Key("nope.example.com.", QTYPE.A, 1)
    ruling = cache.put(
        key, reply_for("nope.example.com", negative(RCODE.NXDOMAIN, "example.com.", 900, 60))
    )
    assert (ruling.kind, ruling.ttl) == ("nxdomain", 60)
    clock.advance(20)
    hit = cache.get(key)
    assert hit is not None
    assert hit.rcode == RCODE.NXDOMAIN
    assert [(QTYPE.get(rr.rtype), int(rr.ttl)) for rr in hit.authority] == [("SOA", 40)]
    clock.advance(40)
    assert cache.get(key) is None


def test_nodata_uses_the_soa_ttl_when_it_is_the_smaller() -> None:
    """NOERROR with no answer and SOA TTL 30 < MINIMUM 300: NODATA kept 30 s."""
    ruling = verdict(
        reply_for("www.example.com", negative(RCODE.NOERROR, "example.com.", 30, 300), "AAAA")
    )
    assert (ruling.kind, ruling.ttl) == ("nodata", 30)


def test_nodata_after_a_cname_is_a_denial_not_an_answer() -> None:
    """A CNAME but no record of the type asked, with an SOA: NODATA (RFC 2308 §2.2), SOA-timed."""
    reply = reply_for("www.example.com", negative(RCODE.NOERROR, "test.", 3600, 45), "AAAA")
    reply.add_answer(RR("www.example.com", QTYPE.CNAME, ttl=600, rdata=CNAME("edge.test.")))
    ruling = verdict(reply)
    assert (ruling.kind, ruling.ttl) == ("nodata", 45)


def test_denials_without_soa_and_errors_are_not_cached() -> None:
    """NXDOMAIN without SOA (RFC 2308 §5), SERVFAIL and REFUSED: nothing stored."""
    cache = AnswerCache(FakeClock())
    for rcode in (RCODE.NXDOMAIN, RCODE.SERVFAIL, RCODE.REFUSED):
        assert cache.put(A_KEY, reply_for("www.example.com", bare(rcode))).ttl == 0
    assert len(cache) == 0
    assert cache.get(A_KEY) is None


def test_ttl_zero_is_not_cached() -> None:
    """RFC 1035 §3.2.1: TTL 0 means use once; the answer is relayed, not kept."""
    cache = AnswerCache(FakeClock())
    reply = reply_for("www.example.com", positive((0, "192.0.2.1")))
    assert cache.put(A_KEY, reply).ttl == 0
    assert len(cache) == 0
    assert [int(rr.ttl) for rr in fresh(reply).answer] == [0]


def test_flush_all_and_a_name_and_below() -> None:
    """flush NAME drops NAME and what is below it, not its parent or siblings; flush drops all."""
    cache = AnswerCache(FakeClock())
    names = [
        "a.example.com.",
        "x.a.example.com.",
        "example.com.",
        "ba.example.com.",
        "example.net.",
    ]
    for name in names:
        cache.put(Key(name, QTYPE.A, 1), reply_for(name, positive((300, "192.0.2.1"))))
    assert cache.flush("A.Example.com") == 2
    left = sorted(str(row["name"]) for row in cache.dump())
    assert left == ["ba.example.com.", "example.com.", "example.net."]
    assert cache.flush() == 3
    assert len(cache) == 0


def test_dump_shows_ttl_left_hits_and_the_rule() -> None:
    """dump: the TTL left of the original, hits counted, why that lifetime, the records."""
    clock = FakeClock()
    cache = AnswerCache(clock)
    cache.put(A_KEY, reply_for("www.example.com", positive((300, "192.0.2.1"))))
    cache.get(A_KEY)
    cache.get(A_KEY)
    clock.advance(10)
    [row] = cache.dump()
    assert (row["ttl"], row["original_ttl"], row["hits"], row["kind"]) == (290, 300, 2, "answer")
    assert row["records"] == ["A 192.0.2.1"]
    assert row["why"] == "smallest answer TTL 300"
    clock.advance(290)
    assert cache.dump() == []


def test_a_full_cache_drops_the_entry_closest_to_expiry() -> None:
    """At max_entries a new answer replaces the one with the least time left, not a random one."""
    cache = AnswerCache(FakeClock(), max_entries=2)
    for name, ttl in (("long.test.", 900), ("short.test.", 30), ("new.test.", 300)):
        cache.put(Key(name, QTYPE.A, 1), reply_for(name, positive((ttl, "192.0.2.1"))))
    assert sorted(str(row["name"]) for row in cache.dump()) == ["long.test.", "new.test."]

"""Cache freshness, TTL countdown, negative caching and ranks (RFC 2308, RFC 2181)."""

from dnslib import QTYPE, RCODE, RR, SOA, A, DNSLabel

from services.resolver.cache import Cache, CacheConfig, Rank


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def a(name: str, address: str, ttl: int) -> RR:
    return RR(DNSLabel(name), QTYPE.A, ttl=ttl, rdata=A(address))


def soa(zone: str, ttl: int, minimum: int) -> RR:
    return RR(
        DNSLabel(zone),
        QTYPE.SOA,
        ttl=ttl,
        rdata=SOA("ns." + zone, "h." + zone, (1, 2, 3, 4, minimum)),
    )


def test_ttl_counts_down_and_expires() -> None:
    """A cached RRset shows the time left and disappears when it runs out."""
    clock = Clock()
    cache = Cache(clock)
    cache.put_rrset([a("www.test.", "192.0.2.1", 60)], Rank.ANSWER)
    clock.now = 15.5
    got = cache.get_rrset("WWW.test.", QTYPE.A)
    assert got is not None
    assert got[0].ttl == 44
    clock.now = 60
    assert cache.get_rrset("www.test.", QTYPE.A) is None


def test_ttl_is_capped_and_zero_not_cached() -> None:
    """Huge TTLs are capped; TTL 0 is never stored (RFC 1035 §3.2.1)."""
    cache = Cache(Clock(), CacheConfig(max_ttl=100))
    cache.put_rrset([a("x.test.", "192.0.2.1", 10**6)], Rank.ANSWER)
    assert cache.get_rrset("x.test.", QTYPE.A)[0].ttl == 100  # type: ignore[index]
    assert not cache.put_rrset([a("y.test.", "192.0.2.1", 0)], Rank.ANSWER)


def test_glue_is_not_an_answer_and_does_not_override() -> None:
    """Glue steers iteration but is not served as an answer nor replaces answer data."""
    cache = Cache(Clock())
    cache.put_rrset([a("ns1.test.", "192.0.2.1", 60)], Rank.GLUE)
    assert cache.get_rrset("ns1.test.", QTYPE.A) is None
    assert cache.addresses("ns1.test.") == ["192.0.2.1"]
    cache.put_rrset([a("ns1.test.", "192.0.2.2", 60)], Rank.ANSWER)
    assert not cache.put_rrset([a("ns1.test.", "203.0.113.66", 60)], Rank.GLUE)
    assert cache.addresses("ns1.test.") == ["192.0.2.2"]


def test_negative_ttl_is_min_of_soa_ttl_and_minimum() -> None:
    """NXDOMAIN lasts min(SOA TTL, MINIMUM) and covers every type (RFC 2308 §5)."""
    clock = Clock()
    cache = Cache(clock)
    cache.put_negative("gone.test.", QTYPE.A, RCODE.NXDOMAIN, soa("test.", 3600, 300))
    hit = cache.get_negative("gone.test.", QTYPE.MX)
    assert hit is not None
    assert hit.rcode == RCODE.NXDOMAIN
    assert hit.soa is not None
    assert hit.soa.ttl == 300
    clock.now = 299
    assert cache.get_negative("gone.test.", QTYPE.A).soa.ttl == 1  # type: ignore[union-attr]
    clock.now = 300
    assert cache.get_negative("gone.test.", QTYPE.A) is None


def test_nodata_is_per_type_and_capped() -> None:
    """NODATA covers only its type; negative TTLs are capped at a few hours."""
    cache = Cache(Clock(), CacheConfig(max_negative_ttl=600))
    cache.put_negative("h.test.", QTYPE.AAAA, RCODE.NOERROR, soa("test.", 86400, 86400))
    assert cache.get_negative("h.test.", QTYPE.AAAA).soa.ttl == 600  # type: ignore[union-attr]
    assert cache.get_negative("h.test.", QTYPE.A) is None


def test_no_soa_no_negative_caching() -> None:
    """A negative answer without SOA is not cached (RFC 2308 §5)."""
    cache = Cache(Clock())
    cache.put_negative("x.test.", QTYPE.A, RCODE.NXDOMAIN, None)
    assert cache.get_negative("x.test.", QTYPE.A) is None


def test_closest_delegation() -> None:
    """The deepest cached NS set above a name is where iteration restarts."""
    from dnslib import NS

    cache = Cache(Clock())
    for zone in ("com.", "example.com."):
        cache.put_rrset(
            [RR(DNSLabel(zone), QTYPE.NS, ttl=60, rdata=NS("ns." + zone))], Rank.REFERRAL
        )
    assert cache.closest_delegation("www.example.com.") == ("example.com.", ["ns.example.com."])
    assert cache.closest_delegation("other.com.") == ("com.", ["ns.com."])
    assert cache.closest_delegation("example.org.") is None

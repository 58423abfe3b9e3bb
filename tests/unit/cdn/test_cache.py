"""services.cdn.cache: keys, Vary variants, ages from the injected clock, limits."""

from __future__ import annotations

from email.utils import formatdate

from services.cdn.cache import Cache

T0 = 1_700_000_000.0


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def put(
    cache: Cache,
    target: str = "/a.css",
    *,
    host: str = "static.example.com",
    request: dict[str, str] | None = None,
    vary: str | None = None,
    body: bytes = b"body",
    max_age: int = 60,
) -> None:
    headers = [("Cache-Control", f"max-age={max_age}"), ("Date", formatdate(T0, usegmt=True))]
    if vary:
        headers.append(("Vary", vary))
    cache.store(
        host,
        target,
        request or {},
        status=200,
        headers=tuple(headers),
        body=body,
        request_time=cache.clock(),
        response_time=cache.clock(),
    )


def test_hit_ages_with_the_clock_then_goes_stale() -> None:
    """A stored response is fresh at first, its age grows, then it is stale."""
    clock = Clock()
    cache = Cache(clock)
    put(cache)
    hit = cache.lookup("static.example.com", "/a.css", {})
    assert hit is not None
    assert hit.age == 0
    assert hit.ttl == 60
    clock.now += 30
    hit = cache.lookup("static.example.com", "/a.css", {})
    assert hit is not None
    assert hit.age == 30
    assert hit.ttl == 30
    clock.now += 30
    hit = cache.lookup("static.example.com", "/a.css", {})
    assert hit is not None
    assert hit.ttl == 0


def test_key_is_host_path_and_query() -> None:
    """Another host, path or query string is another entry; host case does not matter."""
    cache = Cache(Clock())
    put(cache, "/a.css?v=1")
    assert cache.lookup("STATIC.example.com", "/a.css?v=1", {}) is not None
    assert cache.lookup("static.example.com", "/a.css?v=2", {}) is None
    assert cache.lookup("static.example.com", "/a.css", {}) is None
    assert cache.lookup("www.example.com", "/a.css?v=1", {}) is None


def test_vary_keeps_variants_apart() -> None:
    """Vary: Accept-Encoding stores one variant per encoding (§4.1)."""
    cache = Cache(Clock())
    put(cache, request={"Accept-Encoding": "gzip"}, vary="Accept-Encoding", body=b"gz")
    put(cache, request={}, vary="Accept-Encoding", body=b"plain")
    gz = cache.lookup("static.example.com", "/a.css", {"Accept-Encoding": "gzip"})
    plain = cache.lookup("static.example.com", "/a.css", {})
    assert gz is not None
    assert gz.entry.body == b"gz"
    assert plain is not None
    assert plain.entry.body == b"plain"
    assert cache.lookup("static.example.com", "/a.css", {"Accept-Encoding": "br"}) is None
    # Whitespace differences are normalized away.
    put(cache, request={"Accept-Encoding": "gzip, br"}, vary="accept-encoding", body=b"x")
    hit = cache.lookup("static.example.com", "/a.css", {"Accept-Encoding": "gzip,br"})
    assert hit is not None
    assert hit.entry.body == b"x"


def test_replacing_a_variant() -> None:
    """Storing the same URL and variant again replaces it; byte count follows."""
    cache = Cache(Clock())
    put(cache, body=b"1234")
    put(cache, body=b"12")
    assert len(cache) == 1
    assert cache.size_bytes == 2


def test_lru_eviction_and_object_limit() -> None:
    """Past max_entries the least recently used URL goes; oversize bodies are not kept."""
    cache = Cache(Clock(), max_entries=2, max_object_bytes=10)
    put(cache, "/1")
    put(cache, "/2")
    assert cache.lookup("static.example.com", "/1", {}) is not None  # /1 now recent
    put(cache, "/3")
    assert cache.lookup("static.example.com", "/2", {}) is None
    assert cache.lookup("static.example.com", "/1", {}) is not None
    assert cache.stats.evictions == 1
    put(cache, "/big", body=b"x" * 11)
    assert cache.lookup("static.example.com", "/big", {}) is None


def test_purge() -> None:
    """purge drops every variant of a URL."""
    cache = Cache(Clock())
    put(cache, request={"Accept-Encoding": "gzip"}, vary="Accept-Encoding")
    put(cache, vary="Accept-Encoding")
    assert cache.purge("static.example.com", "/a.css") == 2
    assert cache.size_bytes == 0


def test_update_freshens_in_place() -> None:
    """update() swaps the stored entry's headers and times, keeping the body (§4.3.4)."""
    clock = Clock()
    cache = Cache(clock)
    put(cache, max_age=10)
    clock.now += 100
    hit = cache.lookup("static.example.com", "/a.css", {})
    assert hit is not None
    assert hit.ttl < 0
    new = cache.update(
        "static.example.com",
        "/a.css",
        hit.entry,
        headers=(("Cache-Control", "max-age=10"),),
        request_time=clock.now,
        response_time=clock.now,
    )
    again = cache.lookup("static.example.com", "/a.css", {})
    assert again is not None
    assert again.entry is new
    assert again.ttl == 10
    assert again.entry.body == b"body"
    assert len(cache) == 1


def test_newest_variant_wins_and_url_presence() -> None:
    """has_url tells a Vary miss from a URI miss; lookups pick the newest match (§4.1)."""
    cache = Cache(Clock())
    put(cache, request={"Accept-Language": "fr"}, vary="Accept-Language")
    assert cache.has_url("static.example.com", "/a.css")
    assert cache.lookup("static.example.com", "/a.css", {"Accept-Language": "de"}) is None
    assert not cache.has_url("static.example.com", "/b.css")


def test_worked_out_once_matches_the_rules_and_follows_updates() -> None:
    """An entry's stored age and lifetime equal freshness.py's; a 304 update recomputes."""
    from services.cdn.freshness import current_age, freshness_lifetime

    clock = Clock()
    cache = Cache(clock)
    headers = (
        ("Cache-Control", "max-age=60"),
        ("Age", "5"),
        ("Date", formatdate(T0 - 2, usegmt=True)),
        ("Via", "1.1 a"),
        ("Via", "1.1 b"),
    )
    entry = cache.store(
        "h", "/x", {}, status=200, headers=headers, body=b"b", request_time=T0 - 1, response_time=T0
    )
    assert entry is not None
    clock.now += 7
    hit = cache.age_of(entry)
    fields = entry.header_map()
    assert hit.age == current_age(fields, request_time=T0 - 1, response_time=T0, now=clock.now)
    assert hit.lifetime == freshness_lifetime(fields, response_time=T0, status=200) == 60
    assert entry.prior == {"age": "5", "via": "1.1 a, 1.1 b"}
    assert ("Age", "5") not in entry.kept_headers
    newer = cache.update(
        "h",
        "/x",
        entry,
        headers=(("Cache-Control", "max-age=600"),),
        request_time=clock.now,
        response_time=clock.now,
    )
    assert cache.age_of(newer).lifetime == 600
    assert cache.age_of(newer).age == 0

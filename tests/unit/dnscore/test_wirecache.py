"""The packed-reply cache: keyed on the bytes after the ID, per transport, bounded, aged."""

from services.dnscore.wirecache import WireCache

QUERY = b"\x12\x34" + b"\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03com\x00\x00\x06\x00\x01"
REPLY = b"\x12\x34" + b"reply-body"
FIELDS = {"qname": "com.", "qtype": "SOA", "rcode": "NOERROR"}


def with_id(wire: bytes, qid: int) -> bytes:
    return qid.to_bytes(2, "big") + wire[2:]


def test_a_query_with_another_id_hits_and_gets_the_tail_and_fields() -> None:
    """The key ignores the 2-byte ID; a hit returns the reply after its ID and the log fields."""
    cache = WireCache()
    cache.put(QUERY, "udp", REPLY, FIELDS, 0.0)
    hit = cache.get(with_id(QUERY, 0xBEEF), "udp", 0.0)
    assert hit is not None
    assert hit.tail == b"reply-body"
    assert hit.fields == FIELDS


def test_any_other_byte_after_the_id_misses() -> None:
    """A query differing in one byte after the ID (a flag, the case of a label) is a miss."""
    cache = WireCache()
    cache.put(QUERY, "udp", REPLY, FIELDS, 0.0)
    upper = QUERY.replace(b"com", b"Com")
    assert cache.get(upper, "udp", 0.0) is None


def test_each_transport_has_its_own_table() -> None:
    """A reply stored for UDP (maybe truncated) is never returned for TCP, and back."""
    cache = WireCache()
    cache.put(QUERY, "udp", REPLY, FIELDS, 0.0)
    assert cache.get(QUERY, "tcp", 0.0) is None
    cache.put(QUERY, "tcp", b"\x00\x00tcp-body", FIELDS, 0.0)
    udp = cache.get(QUERY, "udp", 0.0)
    tcp = cache.get(QUERY, "tcp", 0.0)
    assert udp is not None
    assert tcp is not None
    assert (udp.tail, tcp.tail) == (b"reply-body", b"tcp-body")


def test_a_full_table_is_emptied_before_the_next_entry() -> None:
    """At the size bound the whole table is cleared, not one entry evicted; the new one is kept."""
    cache = WireCache(size=2)
    first, second, third = (with_id(QUERY, 0) + bytes([n]) for n in range(3))
    cache.put(first, "udp", REPLY, FIELDS, 0.0)
    cache.put(second, "udp", REPLY, FIELDS, 0.0)
    cache.put(third, "udp", REPLY, FIELDS, 0.0)
    assert cache.get(first, "udp", 0.0) is None
    assert cache.get(second, "udp", 0.0) is None
    assert cache.get(third, "udp", 0.0) is not None


def test_the_size_bound_is_per_transport() -> None:
    """Filling the UDP table does not empty the TCP one."""
    cache = WireCache(size=1)
    cache.put(QUERY, "tcp", REPLY, FIELDS, 0.0)
    cache.put(QUERY, "udp", REPLY, FIELDS, 0.0)
    cache.put(QUERY + b"x", "udp", REPLY, FIELDS, 0.0)
    assert cache.get(QUERY, "tcp", 0.0) is not None


def test_max_age_limits_reuse_to_less_than_the_age() -> None:
    """With max_age an entry is reused while younger than max_age, not at max_age or after."""
    cache = WireCache(max_age=1.0)
    cache.put(QUERY, "udp", REPLY, FIELDS, 100.0)
    assert cache.get(QUERY, "udp", 100.999) is not None
    assert cache.get(QUERY, "udp", 101.0) is None


def test_without_max_age_entries_never_expire() -> None:
    """With no max_age (the authoritative server) an entry is reused however old it is."""
    cache = WireCache()
    cache.put(QUERY, "udp", REPLY, FIELDS, 0.0)
    assert cache.get(QUERY, "udp", 1e9) is not None


def test_storing_again_restarts_the_age() -> None:
    """A reply packed again for the same query replaces the old entry and its time."""
    cache = WireCache(max_age=1.0)
    cache.put(QUERY, "udp", REPLY, FIELDS, 100.0)
    cache.put(QUERY, "udp", b"\x00\x00newer", FIELDS, 105.0)
    hit = cache.get(QUERY, "udp", 105.5)
    assert hit is not None
    assert hit.tail == b"newer"


def test_clear_forgets_every_transport() -> None:
    """clear() (a zone reload, a resolver flush) empties the UDP and the TCP table."""
    cache = WireCache()
    cache.put(QUERY, "udp", REPLY, FIELDS, 0.0)
    cache.put(QUERY, "tcp", REPLY, FIELDS, 0.0)
    cache.clear()
    assert cache.get(QUERY, "udp", 0.0) is None
    assert cache.get(QUERY, "tcp", 0.0) is None

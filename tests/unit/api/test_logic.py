"""The API's I/O-free parts: paging, merge patch, validators, rate limit, idempotency, faults."""

from __future__ import annotations

import random

import pytest

from services.api.faults import FaultConfig, decide
from services.api.idempotency import parse_key
from services.api.mergepatch import merge_patch
from services.api.paging import BadPageParameter, Page, link_header, parse_page
from services.api.preconditions import etag_of, if_match_ok
from services.api.ratelimit import RateLimiter


# RFC 7396 Appendix A test cases.
@pytest.mark.parametrize(
    ("target", "patch", "result"),
    [
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        (["a", "b"], ["c", "d"], ["c", "d"]),
        ({"a": "b"}, ["c"], ["c"]),
        ({"a": "foo"}, None, None),
        ({"a": "foo"}, "bar", "bar"),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ],
)
def test_merge_patch_rfc7396_examples(target: object, patch: object, result: object) -> None:
    """Every example of RFC 7396 Appendix A gives the listed result."""
    assert merge_patch(target, patch) == result


def test_merge_patch_does_not_mutate() -> None:
    """The target is left as it was."""
    target = {"a": {"b": 1}}
    merge_patch(target, {"a": {"b": None}})
    assert target == {"a": {"b": 1}}


def test_paging_defaults_and_links() -> None:
    """No parameters: page 1 of 20; the first page has no prev, the last no next."""
    assert parse_page({}) == Page(1, 20)
    assert link_header("/u", Page(1, 20), 5) == (
        '</u?page=1&per_page=20>; rel="first", </u?page=1&per_page=20>; rel="last"'
    )
    assert 'rel="next"' not in link_header("/u", Page(3, 2), 5)


def test_paging_rejects_non_ascii_digits() -> None:
    """Unicode digits like '²' are not page numbers."""
    with pytest.raises(BadPageParameter):
        parse_page({"page": "²"})


def test_etag_and_if_match() -> None:
    """ETags are strong and stable; If-Match takes lists and *, never weak tags."""
    tag = etag_of({"b": 1, "a": 2})
    assert tag == etag_of({"a": 2, "b": 1})
    assert tag.startswith('"')
    assert if_match_ok(f'"x", {tag}', tag)
    assert if_match_ok("*", tag)
    assert not if_match_ok(f"W/{tag}", tag)
    assert not if_match_ok("*", None)


def test_rate_limiter_refills() -> None:
    """Burst then refusal with Retry-After, refill with time, rate 0 means no limit."""
    now = [0.0]
    limiter = RateLimiter(rate=2, burst=3, clock=lambda: now[0])
    assert [limiter.check("k") for _ in range(4)] == [None, None, None, 1]
    now[0] = 0.5
    assert limiter.check("k") is None
    assert limiter.check("k") == 1
    assert RateLimiter(rate=0, burst=0, clock=lambda: 0).check("k") is None


def test_rate_limiter_memory_is_bounded() -> None:
    """Beyond max_keys the least recently seen bucket is forgotten."""
    limiter = RateLimiter(rate=1, burst=1, clock=lambda: 0, max_keys=2)
    for key in "abc":
        limiter.check(key)
    assert limiter.check("a") is None  # forgotten, so a fresh bucket


@pytest.mark.parametrize(
    ("header", "key"),
    [
        ('"abc-123"', "abc-123"),
        ("abc", "abc"),
        ('""', None),
        ("a" * 256, None),
        ("ü", None),
    ],
)
def test_parse_key(header: str, key: str | None) -> None:
    """Idempotency-Key is an sf-string; bare tokens pass; empty, long or non-ASCII do not."""
    assert parse_key(header) == key


def test_fault_decisions() -> None:
    """drop_rate 1 always drops (never also errors); error_rate 0 never errors."""
    rng = random.Random(1)
    assert all(decide(FaultConfig(drop_rate=1, error_rate=1), rng).drop for _ in range(20))
    assert not any(decide(FaultConfig(latency_ms=5), rng).error for _ in range(20))
    assert decide(FaultConfig(latency_ms=250), rng).latency == 0.25


def test_fault_config_defaults_and_errors() -> None:
    """Omitted fields take defaults; booleans are not numbers."""
    config, errors = FaultConfig.from_json({"error_rate": 0.5})
    assert errors == []
    assert config.status == 503
    assert config.active
    _, errors = FaultConfig.from_json({"status": True, "latency_ms": -1, "retry_after": 1.5})
    assert sorted(f for f, _ in errors) == ["latency_ms", "retry_after", "status"]
    assert not FaultConfig().active

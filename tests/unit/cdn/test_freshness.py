"""services.cdn.freshness: RFC 9111 storage, freshness and age rules as a table."""

from __future__ import annotations

import pytest

from services.cdn.freshness import (
    current_age,
    etag_matches,
    freshness_lifetime,
    parse_cache_control,
    storable,
    usable,
)

DATE = "Tue, 14 Nov 2023 22:13:20 GMT"  # 1_700_000_000
T0 = 1_700_000_000.0


def test_parse_cache_control() -> None:
    """Names are case-insensitive, quoted arguments unquoted, commas inside quotes kept."""
    assert parse_cache_control('Public, MAX-AGE=60, private="Set-Cookie, X", no-store') == {
        "public": None, "max-age": "60", "private": "Set-Cookie, X", "no-store": None}
    assert parse_cache_control(None) == {}


@pytest.mark.parametrize(("cc", "extra_res", "extra_req", "ok", "why"), [
    ("public, max-age=60", {}, {}, True, "fresh for 60s"),
    ("max-age=60", {}, {}, True, "fresh"),
    ("s-maxage=10, max-age=0", {}, {}, True, "fresh for 10s"),
    ("no-store, max-age=60", {}, {}, False, "no-store"),
    ("private, max-age=60", {}, {}, False, "private"),
    ("no-cache, max-age=60", {}, {}, False, "no-cache"),
    ("max-age=60", {}, {"Cache-Control": "no-store"}, False, "request says no-store"),
    ("max-age=60", {}, {"Authorization": "Bearer x"}, False, "Authorization"),
    ("public, max-age=60", {}, {"Authorization": "Bearer x"}, True, "fresh"),
    ("s-maxage=60", {}, {"Authorization": "Bearer x"}, True, "fresh"),
    ("public, max-age=60", {"Set-Cookie": "a=b"}, {}, False, "cookie"),
    ("public, max-age=60", {"Vary": "*"}, {}, False, "Vary: *"),
    ("public", {}, {}, False, "no explicit freshness"),
    (None, {"Expires": "Tue, 14 Nov 2023 22:14:20 GMT", "Date": DATE}, {}, True, "fresh for 60s"),
    (None, {"Expires": "0", "Date": DATE}, {}, False, "stale"),
    ("max-age=0", {}, {}, False, "stale"),
    ("max-age=abc", {}, {}, False, "stale"),
])
def test_storable(cc: str | None, extra_res: dict[str, str], extra_req: dict[str, str],
                  ok: bool, why: str) -> None:
    """A shared cache stores exactly what RFC 9111 §3 and the edge's policy allow."""
    response = {**({"Cache-Control": cc} if cc else {}), **extra_res}
    decision = storable("GET", 200, extra_req, response)
    assert decision.ok is ok and why in decision.reason


def test_only_get_200_is_stored() -> None:
    """POST and non-200 statuses are not stored, whatever Cache-Control says."""
    assert not storable("POST", 200, {}, {"Cache-Control": "max-age=60"}).ok
    assert not storable("GET", 404, {}, {"Cache-Control": "max-age=60"}).ok


def test_lifetime_precedence() -> None:
    """s-maxage beats max-age beats Expires (§4.2.1)."""
    res = {"Cache-Control": "max-age=30, s-maxage=90", "Expires": "Tue, 14 Nov 2023 23:00:00 GMT",
           "Date": DATE}
    assert freshness_lifetime(res, response_time=T0) == 90
    del res["Cache-Control"]
    assert freshness_lifetime(res, response_time=T0) == 2800
    assert freshness_lifetime({}, response_time=T0) is None


def test_current_age_counts_upstream_age_and_residence() -> None:
    """Age = max(apparent, Age + delay) + resident time (§4.2.3)."""
    res = {"Date": DATE, "Age": "5"}
    assert current_age(res, request_time=T0, response_time=T0 + 1, now=T0 + 11) == 16
    # A Date far in the past makes the apparent age dominate.
    assert current_age({"Date": DATE}, request_time=T0 + 100, response_time=T0 + 100,
                       now=T0 + 100) == 100


@pytest.mark.parametrize(("req", "age", "ok"), [
    ({}, 10, True), ({}, 60, False), ({"Cache-Control": "no-cache"}, 0, False),
    ({"Cache-Control": "max-age=5"}, 10, False), ({"Cache-Control": "max-age=20"}, 10, True),
    ({"Cache-Control": "min-fresh=55"}, 10, False),
])
def test_usable(req: dict[str, str], age: float, ok: bool) -> None:
    """A stored response serves while fresh, unless request directives refuse it (§5.2.1)."""
    assert usable(req, age=age, lifetime=60).ok is ok


def test_etag_matches() -> None:
    """If-None-Match uses weak comparison and '*' matches any stored ETag."""
    assert etag_matches('"a"', '"a"') and etag_matches('W/"a"', '"a"')
    assert etag_matches('"x", "a"', 'W/"a"') and not etag_matches('"b"', '"a"')
    assert etag_matches("*", '"a"') and not etag_matches("*", None)

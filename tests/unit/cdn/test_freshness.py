"""services.cdn.freshness: Cache-Control parsing, lifetimes and ages (RFC 9111 §4.2)."""

from __future__ import annotations

import pytest

from services.cdn.freshness import (
    age_value,
    combined,
    current_age,
    freshness_lifetime,
    parse_cache_control,
)

DATE = "Tue, 14 Nov 2023 22:13:20 GMT"  # 1_700_000_000
T0 = 1_700_000_000.0
DAY_BEFORE = "Mon, 13 Nov 2023 22:13:20 GMT"  # T0 - 86400
TEN_DAYS_BEFORE = "Sat, 04 Nov 2023 22:13:20 GMT"  # T0 - 864000


def test_parse_cache_control() -> None:
    """Names are case-insensitive, quoted arguments unquoted, commas inside quotes kept (§5.2)."""
    assert parse_cache_control('Public, MAX-AGE=60, private="Set-Cookie, X", no-store') == {
        "public": None,
        "max-age": "60",
        "private": "Set-Cookie, X",
        "no-store": None,
    }
    assert parse_cache_control('max-age="3600"') == {"max-age": "3600"}
    assert parse_cache_control('extension="max-age=3600", max-age=1')["max-age"] == "1"
    assert parse_cache_control(None) == {}


def test_combined_joins_repeated_fields() -> None:
    """Repeated fields are one comma-separated list (RFC 9110 §5.3)."""
    merged = combined([("Cache-Control", "public"), ("cache-control", "max-age=5")])
    assert merged["Cache-Control"] == "public, max-age=5"


# RFC 9111 §4.2.1 (explicit: s-maxage > max-age > Expires - Date), §5.3 (invalid
# Expires is expired), §1.2.2 (invalid delta-seconds), §4.2.2 (heuristic: 10% of
# Date - Last-Modified, only for heuristically cacheable statuses or public).
@pytest.mark.parametrize(
    ("status", "headers", "lifetime"),
    [
        (200, {"Cache-Control": "max-age=30, s-maxage=90"}, 90),
        (
            200,
            {
                "Cache-Control": "max-age=30",
                "Expires": "Tue, 14 Nov 2023 23:00:00 GMT",
                "Date": DATE,
            },
            30,
        ),
        (200, {"Expires": "Tue, 14 Nov 2023 23:00:00 GMT", "Date": DATE}, 2800),
        (200, {"Expires": "0", "Date": DATE}, 0),
        (200, {"Cache-Control": "max-age=abc"}, 0),
        (200, {"Cache-Control": "max-age=003600"}, 3600),
        (200, {"Cache-Control": "max-age=99999999999"}, 2**31),
        (200, {"Last-Modified": DAY_BEFORE, "Date": DATE}, 8640),
        (404, {"Last-Modified": DAY_BEFORE, "Date": DATE}, 8640),
        (200, {"Last-Modified": TEN_DAYS_BEFORE, "Date": DATE}, 86400),  # capped at a day
        (302, {"Last-Modified": DAY_BEFORE, "Date": DATE}, None),  # not heuristically cacheable
        (302, {"Last-Modified": DAY_BEFORE, "Date": DATE, "Cache-Control": "public"}, 8640),
        (200, {"Date": DATE}, None),
    ],
)
def test_lifetime(status: int, headers: dict[str, str], lifetime: float | None) -> None:
    """Freshness lifetime: explicit first, heuristic only where §4.2.2 allows."""
    assert freshness_lifetime(headers, response_time=T0, status=status) == lifetime


# RFC 9111 §4.2.3: age = max(apparent_age, Age + response_delay) + resident_time.
@pytest.mark.parametrize(
    ("headers", "req_t", "res_t", "now", "age"),
    [
        ({"Date": DATE, "Age": "5"}, T0, T0 + 1, T0 + 11, 16),
        ({"Date": DATE}, T0 + 100, T0 + 100, T0 + 100, 100),  # apparent age dominates
        ({"Date": DATE, "Age": "abc"}, T0, T0, T0 + 3, 2**31 + 3),  # invalid Age: oldest
        ({"Date": DATE, "Age": "7, 9"}, T0, T0, T0, 2**31),  # a list is invalid
        ({}, T0, T0 + 2, T0 + 2, 2),  # response delay alone
    ],
)
def test_current_age(
    headers: dict[str, str], req_t: float, res_t: float, now: float, age: float
) -> None:
    """Age counts upstream caches, transit time and time spent in this cache."""
    assert current_age(headers, request_time=req_t, response_time=res_t, now=now) == age


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("12", 12),
        (None, 0),
        ("-3", 2**31),
        ("7200.0", 2**31),
        ("0, 0", 2**31),
        ("7200;foo=bar", 2**31),
        ("abc", 2**31),
        (" 5 ", 5),
    ],
)
def test_age_value(value: str | None, seconds: float) -> None:
    """Age is one delta-seconds (§5.1); anything else is taken as the oldest age (§1.2.2)."""
    assert age_value(value) == seconds

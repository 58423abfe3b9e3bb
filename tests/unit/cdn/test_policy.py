"""services.cdn.policy: what a shared cache stores, serves, serves stale, invalidates."""

from __future__ import annotations

import pytest

from services.cdn.policy import (
    Use,
    evaluate,
    invalidated_targets,
    request_directives,
    stale_if_error,
    storable,
    stored_fields,
)

DATE = "Tue, 14 Nov 2023 22:13:20 GMT"
LM = "Mon, 13 Nov 2023 22:13:20 GMT"


# RFC 9111 §3 (storing), §3.5 (Authorization), §5.2.1.5/§5.2.2.5 (no-store),
# §5.2.2.7 (private), §5.2.2.4 (no-cache: store, always revalidate), §4.1 (Vary: *),
# §4.2.2 (heuristic statuses), §5.2.2.3 (must-understand); Set-Cookie is the edge's
# policy (§7.3 leaves it open).
@pytest.mark.parametrize(
    ("status", "cc", "extra_res", "extra_req", "ok", "why"),
    [
        (200, "public, max-age=60", {}, {}, True, "fresh for 60s"),
        (200, "s-maxage=10, max-age=0", {}, {}, True, "fresh for 10s"),
        (200, "no-store, max-age=60", {}, {}, False, "no-store"),
        (200, "private, max-age=60", {}, {}, False, "private"),
        (200, 'private="X-User", max-age=60', {}, {}, True, "fresh"),
        (200, "no-cache, max-age=60", {}, {}, True, "revalidated"),
        (200, "max-age=60", {}, {"Cache-Control": "no-store"}, False, "request says no-store"),
        (200, "max-age=60", {}, {"Authorization": "Bearer x"}, False, "Authorization"),
        (200, "public, max-age=60", {}, {"Authorization": "Bearer x"}, True, "fresh"),
        (200, "s-maxage=60", {}, {"Authorization": "Bearer x"}, True, "fresh"),
        (200, "must-revalidate, max-age=60", {}, {"Authorization": "Bearer x"}, True, "fresh"),
        (200, "max-age=60", {"Set-Cookie": "a=b"}, {}, False, "cookie"),
        (200, "public, max-age=60", {"Set-Cookie": "a=b"}, {}, True, "fresh"),
        (200, "max-age=60", {"Vary": "*"}, {}, False, "Vary: *"),
        (200, "max-age=60", {"Vary": "Accept, *"}, {}, False, "Vary: *"),
        (200, None, {"Last-Modified": LM, "Date": DATE}, {}, True, "heuristic"),
        (200, None, {"ETag": '"a"'}, {}, True, "revalidated with its validator"),
        (200, None, {}, {}, False, "no validator"),
        (200, "max-age=0", {}, {}, False, "no validator"),
        (301, None, {"Last-Modified": LM, "Date": DATE}, {}, True, "heuristic"),
        (404, "max-age=60", {}, {}, True, "fresh"),
        (410, None, {"Last-Modified": LM, "Date": DATE}, {}, True, "heuristic"),
        (302, "max-age=60", {}, {}, True, "fresh"),
        (302, None, {"Last-Modified": LM, "Date": DATE}, {}, False, "explicit freshness"),
        (500, None, {"Last-Modified": LM}, {}, False, "explicit freshness"),
        (206, "max-age=60", {}, {}, False, "not cached"),
        (304, "max-age=60", {}, {}, False, "not cached"),
        (201, "max-age=60", {}, {}, True, "fresh"),
        (599, "max-age=60", {}, {}, True, "fresh"),
        (599, "public", {"Last-Modified": LM, "Date": DATE}, {}, True, "heuristic"),
        (599, "max-age=60, must-understand", {}, {}, False, "must-understand"),
        (200, "max-age=60, must-understand", {}, {}, True, "fresh"),
    ],
)
def test_storable(
    status: int,
    cc: str | None,
    extra_res: dict[str, str],
    extra_req: dict[str, str],
    ok: bool,
    why: str,
) -> None:
    """A shared cache stores exactly what RFC 9111 §3 and the edge's policy allow."""
    response = {**({"Cache-Control": cc} if cc else {}), **extra_res}
    decision = storable("GET", status, extra_req, response)
    assert decision.ok is ok
    assert why in decision.reason


def test_only_get_is_stored() -> None:
    """Other methods are not stored, whatever Cache-Control says."""
    assert not storable("POST", 200, {}, {"Cache-Control": "max-age=60"}).ok


def test_stored_fields() -> None:
    """Qualified private/no-cache name fields a shared cache must drop (§5.2.2.4, §5.2.2.7)."""
    assert stored_fields('private="X-User, X-Id", no-cache="X-Tmp"') == {
        "set-cookie",
        "x-user",
        "x-id",
        "x-tmp",
    }
    assert stored_fields("max-age=5") == {"set-cookie"}


def test_pragma_only_without_cache_control() -> None:
    """Pragma: no-cache is no-cache only when Cache-Control is absent (§5.4)."""
    assert "no-cache" in request_directives({"Pragma": "no-cache"})
    assert "no-cache" not in request_directives(
        {"Pragma": "no-cache", "Cache-Control": "max-age=60"}
    )


# RFC 9111 §4.2 (fresh while age < lifetime), §5.2.1.1 max-age, §5.2.1.2 max-stale,
# §5.2.1.3 min-fresh, §5.2.1.4 no-cache, §5.4 Pragma, §5.2.2.2 must-revalidate,
# §5.2.2.8 proxy-revalidate, §5.2.2.10 s-maxage; RFC 5861 §3 stale-while-revalidate.
@pytest.mark.parametrize(
    ("req", "res_cc", "age", "use"),
    [
        ({}, "max-age=60", 10, Use.FRESH),
        ({}, "max-age=60", 60, Use.VALIDATE),
        ({"Cache-Control": "no-cache"}, "max-age=60", 0, Use.VALIDATE),
        ({"Pragma": "no-cache"}, "max-age=60", 0, Use.VALIDATE),
        ({}, "no-cache, max-age=60", 0, Use.VALIDATE),
        ({"Cache-Control": "max-age=5"}, "max-age=60", 10, Use.VALIDATE),
        ({"Cache-Control": "max-age=20"}, "max-age=60", 10, Use.FRESH),
        ({"Cache-Control": "min-fresh=55"}, "max-age=60", 10, Use.VALIDATE),
        ({"Cache-Control": "max-stale"}, "max-age=60", 500, Use.STALE),
        ({"Cache-Control": "max-stale=30"}, "max-age=60", 80, Use.STALE),
        ({"Cache-Control": "max-stale=30"}, "max-age=60", 100, Use.VALIDATE),
        ({"Cache-Control": "max-stale"}, "max-age=60, must-revalidate", 80, Use.VALIDATE),
        ({"Cache-Control": "max-stale"}, "max-age=60, proxy-revalidate", 80, Use.VALIDATE),
        ({"Cache-Control": "max-stale"}, "s-maxage=60", 80, Use.VALIDATE),
        ({}, "max-age=60, stale-while-revalidate=30", 80, Use.STALE_REVALIDATE),
        ({}, "max-age=60, stale-while-revalidate=30", 95, Use.VALIDATE),
        ({}, "max-age=60, stale-while-revalidate=30, must-revalidate", 80, Use.VALIDATE),
    ],
)
def test_evaluate(req: dict[str, str], res_cc: str, age: float, use: Use) -> None:
    """How a stored response may serve a request, given both sides' directives."""
    assert evaluate(req, {"Cache-Control": res_cc}, age=age, lifetime=60).use is use


# RFC 5861 §4 stale-if-error (response or request), limited by RFC 9111 §4.2.4.
@pytest.mark.parametrize(
    ("req", "res_cc", "staleness", "ok"),
    [
        ({}, "max-age=1, stale-if-error=60", 30, True),
        ({}, "max-age=1, stale-if-error=60", 90, False),
        ({"Cache-Control": "stale-if-error=100"}, "max-age=1", 90, True),
        ({}, "max-age=1", 1, False),
        ({}, "max-age=1, stale-if-error=60, must-revalidate", 30, False),
    ],
)
def test_stale_if_error(req: dict[str, str], res_cc: str, staleness: float, ok: bool) -> None:
    """A stale response stands in for an error only within stale-if-error."""
    assert stale_if_error(req, {"Cache-Control": res_cc}, staleness=staleness).ok is ok


# RFC 9111 §4.4: unsafe methods with a non-error status invalidate the target URI,
# and Location / Content-Location when they are same-origin.
@pytest.mark.parametrize(
    ("method", "status", "res", "targets"),
    [
        ("POST", 200, {}, ["/a"]),
        ("PUT", 201, {"Location": "/b?x=1"}, ["/a", "/b?x=1"]),
        ("DELETE", 204, {"Content-Location": "https://www.example.com/c"}, ["/a", "/c"]),
        ("POST", 303, {"Location": "https://other.example/d"}, ["/a"]),
        ("PATCH", 200, {"Location": "e"}, ["/a", "/e"]),
        ("POST", 500, {"Location": "/b"}, []),
        ("GET", 200, {}, []),
        ("OPTIONS", 200, {}, []),
    ],
)
def test_invalidated_targets(
    method: str, status: int, res: dict[str, str], targets: list[str]
) -> None:
    """Which stored URLs an unsafe request invalidates."""
    assert (
        invalidated_targets(
            method, status, public_host="www.example.com", target="/a", response=res
        )
        == targets
    )

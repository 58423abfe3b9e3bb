"""services.cdn.routing: route parsing, host matching and header rewriting."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict

from services.cdn.routing import (
    RouteError,
    Router,
    loop_detected,
    parse_resolve,
    parse_route,
    upstream_request_headers,
)


def test_route_and_target() -> None:
    """A route keeps the upstream's name and port; the target keeps the raw path."""
    route = parse_route("WWW.example.com=https://origin.example.com:8443")
    assert route.public_host == "www.example.com"
    assert route.upstream_label == "origin.example.com:8443"
    assert (
        str(route.target("/a%20b?q=1&r=%2F")) == "https://origin.example.com:8443/a%20b?q=1&r=%2F"
    )
    assert parse_route("x=https://o.example").upstream_label == "o.example:443"


@pytest.mark.parametrize("spec", ["nohost", "=https://a", "a=http://b", "a=https://b/?q=1"])
def test_bad_routes(spec: str) -> None:
    """Routes without a host, or to a non-https upstream, are rejected."""
    with pytest.raises(RouteError):
        parse_route(spec)


def test_router_matches_host_header_forms() -> None:
    """Host with port, upper case or trailing dot still matches; others do not."""
    router = Router([parse_route("www.example.com=https://origin.example.com")])
    assert router.match("WWW.example.com.:443") is not None
    assert router.match("static.example.com") is None
    with pytest.raises(RouteError):
        Router([parse_route("a=https://b"), parse_route("A=https://c")])


def test_parse_resolve() -> None:
    """--resolve takes curl's HOST:PORT:ADDRESS, IPv6 in brackets allowed."""
    assert parse_resolve("origin.example.com:8443:127.0.0.1") == (
        "origin.example.com",
        8443,
        "127.0.0.1",
    )
    assert parse_resolve("a:1:[::1]") == ("a", 1, "::1")
    with pytest.raises(RouteError):
        parse_resolve("a:b:c")


def test_upstream_headers() -> None:
    """Hop-by-hop fields go, X-Forwarded-* and Via are added, a client's XFH is replaced."""
    incoming = CIMultiDict(
        [
            ("Host", "www.example.com"),
            ("Connection", "keep-alive, X-Secret"),
            ("X-Secret", "1"),
            ("Keep-Alive", "timeout=5"),
            ("Accept", "*/*"),
            ("X-Forwarded-For", "203.0.113.7"),
            ("X-Forwarded-Host", "evil.example"),
            ("Cookie", "a=1"),
            ("Cookie", "b=2"),
        ]
    )
    out = upstream_request_headers(
        incoming, public_host="www.example.com", client_ip="198.51.100.100"
    )
    assert "Host" not in out
    assert "Connection" not in out
    assert "X-Secret" not in out
    assert "Keep-Alive" not in out
    assert out["X-Forwarded-For"] == "203.0.113.7, 198.51.100.100"
    assert out["X-Forwarded-Host"] == "www.example.com"
    assert out["X-Forwarded-Proto"] == "https"
    assert out["Via"] == "1.1 edge.edgecdn.net"
    assert out.getall("Cookie") == ["a=1", "b=2"]


def test_loop_detection() -> None:
    """A request that already carries the edge's Via is a loop."""
    assert loop_detected({"Via": "1.0 proxy, 1.1 edge.edgecdn.net"})
    assert not loop_detected({"Via": "1.1 other"})
    assert not loop_detected({})


def test_early_data_is_told_to_the_origin() -> None:
    """A request the edge took in 0-RTT early data (its HTTP/3 layer adds Early-Data: 1)
    goes to the origin with Early-Data: 1, as RFC 8470 section 5.1 asks of an
    intermediary, so the origin too can answer 425 to what must not be replayed."""
    incoming = CIMultiDict([("Host", "www.example.com"), ("Early-Data", "1")])
    out = upstream_request_headers(incoming, public_host="www.example.com", client_ip=None)
    assert out["Early-Data"] == "1"

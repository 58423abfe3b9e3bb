"""The edge in front of real origin and API servers, all over TLS on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from multidict import CIMultiDict

StartEdge = Callable[..., Awaitable[TestServer]]  # the start_edge fixture in conftest.py


class Clock:
    """Wall time frozen at creation; the test moves it by hand."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


async def fetch(
    edge: TestServer,
    trust: ssl.SSLContext,
    host: str,
    path: str,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: Any = None,
) -> tuple[int, CIMultiDict[str], bytes]:
    """One request to the edge, as a browser would send it for ``host``."""
    async with (
        aiohttp.ClientSession() as session,
        session.request(
            method,
            f"https://127.0.0.1:{edge.port}{path}",
            ssl=trust,
            server_hostname=host,
            headers={"Host": host, **(headers or {})},
            json=body,
        ) as resp,
    ):
        return resp.status, resp.headers.copy(), await resp.read()


async def test_static_asset_miss_then_hit(
    start_edge: StartEdge, origin: TestServer, trust: ssl.SSLContext
) -> None:
    """First GET of a static asset is a MISS, the second a HIT whose Age is the time it
    spent in the cache (by the edge's clock) and with the same body."""
    assert origin.port is not None
    clock = Clock()
    edge = await start_edge(
        {"static.example.com": ("origin.example.com", origin.port)}, clock=clock
    )
    status, first, body1 = await fetch(edge, trust, "static.example.com", "/css/site.css")
    assert status == 200
    assert first["X-Cache"] == "MISS"
    assert "Age" not in first
    assert first["Via"] == "1.1 edge.edgecdn.net"
    # The clock is frozen during the fetch and the origin's Date (whole seconds) is not
    # later than it, so the stored age starts under 1 s: after 42 s it is 42 (RFC 9111
    # §4.2.3 resident time, sent in whole seconds, §5.1). Well inside max-age=3600.
    clock.now += 42
    status, second, body2 = await fetch(edge, trust, "static.example.com", "/css/site.css")
    assert status == 200
    assert second["X-Cache"] == "HIT"
    assert second["Age"] == "42"
    assert body2 == body1
    assert second["ETag"] == first["ETag"]


async def test_page_reaches_origin_with_forwarded_headers(
    edge: TestServer, trust: ssl.SSLContext
) -> None:
    """The origin sees its own name in Host and the public one in X-Forwarded-Host."""
    status, headers, body = await fetch(edge, trust, "www.example.com", "/whoami")
    seen = json.loads(body)
    assert status == 200
    assert headers["X-Cache"] == "BYPASS"  # no-store
    assert seen["headers"]["Host"].startswith("origin.example.com:")
    assert seen["headers"]["X-Forwarded-Host"] == "www.example.com"
    assert seen["headers"]["X-Forwarded-Proto"] == "https"
    assert seen["headers"]["X-Forwarded-For"] == "127.0.0.1"
    assert seen["headers"]["Via"] == "1.1 edge.edgecdn.net"


async def test_conditional_and_head_from_cache(edge: TestServer, trust: ssl.SSLContext) -> None:
    """HEAD fills the cache; a matching If-None-Match then gets 304 from the edge."""
    status, head, body = await fetch(edge, trust, "static.example.com", "/img/logo.svg", "HEAD")
    assert status == 200
    assert body == b""
    assert head["X-Cache"] == "MISS"
    status, again, _ = await fetch(
        edge, trust, "static.example.com", "/img/logo.svg", headers={"If-None-Match": head["ETag"]}
    )
    assert status == 304
    assert again["X-Cache"] == "HIT"


async def test_login_then_protected_get(edge: TestServer, trust: ssl.SSLContext) -> None:
    """Through the edge: login gives a token, /api/me works with it, is never cached."""
    status, headers, body = await fetch(
        edge,
        trust,
        "api.example.com",
        "/api/login",
        "POST",
        body={"username": "alice", "password": "wonderland"},
    )
    assert status == 200
    assert headers["X-Cache"] == "BYPASS"
    token = json.loads(body)["access_token"]
    for _ in range(2):
        status, headers, body = await fetch(
            edge, trust, "api.example.com", "/api/me", headers={"Authorization": f"Bearer {token}"}
        )
        assert status == 200
        assert json.loads(body)["username"] == "alice"
        assert headers["X-Cache"] == "BYPASS"


async def test_protected_without_token(edge: TestServer, trust: ssl.SSLContext) -> None:
    """Without a token the API's 401 and its Bearer challenge come through the edge."""
    status, headers, body = await fetch(edge, trust, "api.example.com", "/api/me")
    assert status == 401
    assert headers["WWW-Authenticate"].startswith("Bearer")
    assert json.loads(body)["status"] == 401


async def test_unknown_host_is_421(edge: TestServer, trust: ssl.SSLContext) -> None:
    """A Host the edge has no route for gets 421 naming the host."""
    status, _, body = await fetch(edge, trust, "edge.edgecdn.net", "/")
    assert status == 421
    assert b"'edge.edgecdn.net'" in body


async def test_health_for_any_host(edge: TestServer, trust: ssl.SSLContext) -> None:
    """/__edge/health is answered by the edge itself, whatever the Host."""
    for host in ("www.example.com", "edge.edgecdn.net"):
        status, headers, body = await fetch(edge, trust, host, "/__edge/health")
        assert status == 200
        assert json.loads(body)["status"] == "ok"
        assert "X-Cache" not in headers


async def test_upstream_refused_is_502(start_edge: StartEdge, trust: ssl.SSLContext) -> None:
    """An upstream port with nothing listening gives 502 saying it cannot connect."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again before the request: connection refused
    edge = await start_edge({"www.example.com": ("origin.example.com", port)})
    status, headers, body = await fetch(edge, trust, "www.example.com", "/")
    assert status == 502
    assert b"cannot connect" in body
    assert headers["X-Cache"] == "MISS"


async def test_upstream_wrong_certificate_is_502(
    start_edge: StartEdge, api: TestServer, trust: ssl.SSLContext
) -> None:
    """An upstream whose certificate does not name it gives 502 saying TLS failed."""
    assert api.port is not None
    edge = await start_edge({"www.example.com": ("origin.example.com", api.port)})
    status, _, body = await fetch(edge, trust, "www.example.com", "/")
    assert status == 502
    assert b"TLS certificate" in body
    assert b"verification" in body


async def test_upstream_timeout_is_504(
    start_edge: StartEdge, hanging_upstream: TestServer, trust: ssl.SSLContext
) -> None:
    """An upstream that never answers gives 504 once the edge's timeout passes."""
    assert hanging_upstream.port is not None
    edge = await start_edge(
        {"www.example.com": ("origin.example.com", hanging_upstream.port)}, timeout=0.3
    )
    status, _, body = await fetch(edge, trust, "www.example.com", "/")
    assert status == 504
    assert b"did not answer in time" in body


async def request_records(
    caplog: pytest.LogCaptureFixture, count: int, timeout: float = 5.0
) -> list[logging.LogRecord]:
    """The first ``count`` "request" events that carry a cache field, once logged.

    aiohttp writes the access log after the response, so the client can have its
    answer a loop turn before the line exists: yield to the loop until it does."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        records = [
            r
            for r in caplog.records
            if getattr(r, "event", None) == "request" and getattr(r, "cache", None)
        ]
        if len(records) >= count or loop.time() > deadline:
            return records
        await asyncio.sleep(0)


async def test_access_log_has_cache_fields(
    edge: TestServer, trust: ssl.SSLContext, caplog: pytest.LogCaptureFixture
) -> None:
    """A MISS logs cache status, upstream and the positive upstream_ms spent within the
    request; the HIT that follows went nowhere and logs no upstream_ms."""
    with caplog.at_level(logging.INFO):
        started = time.perf_counter()
        await fetch(edge, trust, "static.example.com", "/js/app.js")
        elapsed_ms = (time.perf_counter() - started) * 1000
        await fetch(edge, trust, "static.example.com", "/js/app.js")
        records = await request_records(caplog, 2)
    assert len(records) == 2, records
    miss, hit = (vars(r) for r in records)  # the event's fields, as the JSON line has them
    assert miss["cache"] == "MISS"
    assert miss["status"] == 200
    assert miss["upstream"].startswith("origin.example.com:")
    # A real TLS exchange with the origin takes time, and no more than the whole request.
    assert 0 < miss["upstream_ms"] <= elapsed_ms
    assert hit["cache"] == "HIT"
    assert hit["status"] == 200
    assert hit["upstream"].startswith("origin.example.com:")
    assert "upstream_ms" not in hit

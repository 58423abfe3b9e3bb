"""The edge in front of real origin and API servers, all over TLS on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from multidict import CIMultiDict

StartEdge = Callable[..., Awaitable[TestServer]]  # the start_edge fixture in conftest.py


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


async def test_static_asset_miss_then_hit(edge: TestServer, trust: ssl.SSLContext) -> None:
    """First GET of a static asset is a MISS, the second a HIT with Age and the same body."""
    status, first, body1 = await fetch(edge, trust, "static.example.com", "/css/site.css")
    assert status == 200 and first["X-Cache"] == "MISS" and "Age" not in first
    assert first["Via"] == "1.1 edge.edgecdn.net"
    status, second, body2 = await fetch(edge, trust, "static.example.com", "/css/site.css")
    assert status == 200 and second["X-Cache"] == "HIT" and int(second["Age"]) >= 0
    assert body2 == body1 and second["ETag"] == first["ETag"]


async def test_page_reaches_origin_with_forwarded_headers(
    edge: TestServer, trust: ssl.SSLContext
) -> None:
    """The origin sees its own name in Host and the public one in X-Forwarded-Host."""
    status, headers, body = await fetch(edge, trust, "www.example.com", "/whoami")
    seen = json.loads(body)
    assert status == 200 and headers["X-Cache"] == "BYPASS"  # no-store
    assert seen["headers"]["Host"].startswith("origin.example.com:")
    assert seen["headers"]["X-Forwarded-Host"] == "www.example.com"
    assert seen["headers"]["X-Forwarded-Proto"] == "https"
    assert seen["headers"]["X-Forwarded-For"] == "127.0.0.1"
    assert seen["headers"]["Via"] == "1.1 edge.edgecdn.net"


async def test_conditional_and_head_from_cache(edge: TestServer, trust: ssl.SSLContext) -> None:
    """HEAD fills the cache; a matching If-None-Match then gets 304 from the edge."""
    status, head, body = await fetch(edge, trust, "static.example.com", "/img/logo.svg", "HEAD")
    assert status == 200 and body == b"" and head["X-Cache"] == "MISS"
    status, again, _ = await fetch(
        edge, trust, "static.example.com", "/img/logo.svg", headers={"If-None-Match": head["ETag"]}
    )
    assert status == 304 and again["X-Cache"] == "HIT"


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
    assert status == 200 and headers["X-Cache"] == "BYPASS"
    token = json.loads(body)["access_token"]
    for _ in range(2):
        status, headers, body = await fetch(
            edge, trust, "api.example.com", "/api/me", headers={"Authorization": f"Bearer {token}"}
        )
        assert status == 200 and json.loads(body)["username"] == "alice"
        assert headers["X-Cache"] == "BYPASS"


async def test_protected_without_token(edge: TestServer, trust: ssl.SSLContext) -> None:
    """Without a token the API's 401 and its Bearer challenge come through the edge."""
    status, headers, body = await fetch(edge, trust, "api.example.com", "/api/me")
    assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer")
    assert json.loads(body)["status"] == 401


async def test_unknown_host_is_421(edge: TestServer, trust: ssl.SSLContext) -> None:
    """A Host the edge has no route for gets 421 naming the host."""
    status, _, body = await fetch(edge, trust, "edge.edgecdn.net", "/")
    assert status == 421 and b"'edge.edgecdn.net'" in body


async def test_health_for_any_host(edge: TestServer, trust: ssl.SSLContext) -> None:
    """/__edge/health is answered by the edge itself, whatever the Host."""
    for host in ("www.example.com", "edge.edgecdn.net"):
        status, headers, body = await fetch(edge, trust, host, "/__edge/health")
        assert status == 200 and json.loads(body)["status"] == "ok"
        assert "X-Cache" not in headers


async def test_upstream_refused_is_502(start_edge: StartEdge, trust: ssl.SSLContext) -> None:
    """An upstream port with nothing listening gives 502 saying it cannot connect."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again before the request: connection refused
    edge = await start_edge({"www.example.com": ("origin.example.com", port)})
    status, headers, body = await fetch(edge, trust, "www.example.com", "/")
    assert status == 502 and b"cannot connect" in body and headers["X-Cache"] == "MISS"


async def test_upstream_wrong_certificate_is_502(
    start_edge: StartEdge, api: TestServer, trust: ssl.SSLContext
) -> None:
    """An upstream whose certificate does not name it gives 502 saying TLS failed."""
    assert api.port is not None
    edge = await start_edge({"www.example.com": ("origin.example.com", api.port)})
    status, _, body = await fetch(edge, trust, "www.example.com", "/")
    assert status == 502 and b"TLS certificate" in body and b"verification" in body


async def test_upstream_timeout_is_504(
    start_edge: StartEdge, hanging_upstream: TestServer, trust: ssl.SSLContext
) -> None:
    """An upstream that never answers gives 504 once the edge's timeout passes."""
    assert hanging_upstream.port is not None
    edge = await start_edge(
        {"www.example.com": ("origin.example.com", hanging_upstream.port)}, timeout=0.3
    )
    status, _, body = await fetch(edge, trust, "www.example.com", "/")
    assert status == 504 and b"did not answer in time" in body


async def test_access_log_has_cache_fields(
    edge: TestServer, trust: ssl.SSLContext, caplog: pytest.LogCaptureFixture
) -> None:
    """Each proxied request logs cache status, upstream and upstream_ms."""
    with caplog.at_level(logging.INFO):
        await fetch(edge, trust, "static.example.com", "/js/app.js")
    records = [
        r
        for r in caplog.records
        if getattr(r, "event", None) == "request" and getattr(r, "cache", None)
    ]
    assert records, "no request event with a cache field"
    record = records[-1]
    assert getattr(record, "cache") == "MISS"
    assert getattr(record, "upstream").startswith("origin.example.com:")
    assert getattr(record, "upstream_ms") >= 0 and getattr(record, "status") == 200

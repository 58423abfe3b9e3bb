"""The edge's caching against a scripted upstream on 127.0.0.1 (TLS), clock injected.

The upstream is a tiny aiohttp app whose answers each test sets per path; it
counts the requests it gets, so each test proves how often the edge went up.
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from multidict import CIMultiDict, CIMultiDictProxy

from services.cdn.cache import key
from services.cdn.proxy import EDGE
from services.common.tls import server_context

StartEdge = Callable[..., Awaitable[TestServer]]
HOST = "www.example.com"


class Clock:
    """Wall time frozen at creation; the test moves it by hand."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"v1"


Script = Reply | Callable[[web.Request], Reply]


@dataclass
class Upstream:
    """Answers by path from ``replies``; counts and records what it receives."""

    replies: dict[str, Script] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    seen: list[CIMultiDictProxy[str]] = field(default_factory=list)
    gate: asyncio.Event | None = None
    server: TestServer | None = None

    async def handle(self, request: web.Request) -> web.Response:
        self.counts[request.path] += 1
        self.seen.append(request.headers)
        if self.gate is not None:
            await self.gate.wait()
        script = self.replies.get(request.path, Reply(404, {}, b"nothing here"))
        reply = script(request) if callable(script) else script
        return web.Response(
            status=reply.status,
            headers=reply.headers,
            body=None if reply.status == 304 else reply.body,
        )

    @property
    def port(self) -> int:
        assert self.server is not None
        assert self.server.port is not None
        return self.server.port


@pytest.fixture
def make_upstream(certs: Path, servers: list[TestServer]) -> Callable[[], Awaitable[Upstream]]:
    async def make() -> Upstream:
        upstream = Upstream()
        app = web.Application()
        app.router.add_route("*", "/{p:.*}", upstream.handle)
        server = TestServer(app, host="127.0.0.1", port=0)
        await server.start_server(
            ssl=server_context(certs / "origin.crt", certs / "origin.key", env={})
        )
        servers.append(server)
        upstream.server = server
        return upstream

    return make


@pytest.fixture
async def upstream(make_upstream: Callable[[], Awaitable[Upstream]]) -> Upstream:
    return await make_upstream()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def edge(start_edge: StartEdge, upstream: Upstream, clock: Clock) -> TestServer:
    return await start_edge({HOST: ("origin.example.com", upstream.port)}, clock=clock)


async def fetch(
    edge: TestServer,
    trust: ssl.SSLContext,
    path: str,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: Any = None,
) -> tuple[int, CIMultiDict[str], bytes]:
    """One request to the edge for www.example.com."""
    async with (
        aiohttp.ClientSession() as session,
        session.request(
            method,
            f"https://127.0.0.1:{edge.port}{path}",
            ssl=trust,
            server_hostname=HOST,
            headers={"Host": HOST, **(headers or {})},
            json=body,
        ) as resp,
    ):
        return resp.status, resp.headers.copy(), await resp.read()


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll ``condition`` until true or fail after ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again: connection refused


async def test_hit_has_age_and_cache_status(
    edge: TestServer, upstream: Upstream, trust: ssl.SSLContext, clock: Clock
) -> None:
    """A HIT carries the computed Age (§4.2.3), Date, Via and Cache-Status (RFC 9211)."""
    upstream.replies["/a"] = Reply(headers={"Cache-Control": "max-age=100", "Age": "5"})
    _, first, _ = await fetch(edge, trust, "/a")
    assert first["X-Cache"] == "MISS"
    assert "fwd=uri-miss" in first["Cache-Status"]
    assert "stored" in first["Cache-Status"]
    assert "Date" in first
    clock.now += 30
    _, hit, body = await fetch(edge, trust, "/a")
    assert hit["X-Cache"] == "HIT"
    assert body == b"v1"
    assert upstream.counts["/a"] == 1
    assert 35 <= int(hit["Age"]) <= 37
    assert hit["Cache-Status"].startswith("weblab-edge; hit")
    assert hit["Via"] == "1.1 edge.edgecdn.net"


async def test_revalidation_304_is_revalidated(
    edge: TestServer, upstream: Upstream, trust: ssl.SSLContext, clock: Clock
) -> None:
    """Stale + ETag: one conditional request, 304 freshens the entry -> REVALIDATED (§4.3.4)."""

    def script(request: web.Request) -> Reply:
        if request.headers.get("If-None-Match") == '"v1"':
            return Reply(304, {"ETag": '"v1"', "Cache-Control": "max-age=100", "X-New": "y"})
        return Reply(headers={"ETag": '"v1"', "Cache-Control": "max-age=10"})

    upstream.replies["/r"] = script
    await fetch(edge, trust, "/r")
    clock.now += 60
    status, headers, body = await fetch(edge, trust, "/r")
    assert status == 200
    assert body == b"v1"
    assert headers["X-Cache"] == "REVALIDATED"
    assert headers["X-New"] == "y"
    assert "fwd-status=304" in headers["Cache-Status"]
    assert upstream.counts["/r"] == 2
    assert upstream.seen[-1]["If-None-Match"] == '"v1"'
    _, again, _ = await fetch(edge, trust, "/r")
    assert again["X-Cache"] == "HIT"
    assert upstream.counts["/r"] == 2


async def test_no_cache_is_stored_and_revalidated(
    edge: TestServer, upstream: Upstream, trust: ssl.SSLContext
) -> None:
    """Response no-cache: stored, but every use asks the upstream (§5.2.2.4)."""
    upstream.replies["/nc"] = lambda r: (
        Reply(304, {"ETag": '"n"'})
        if r.headers.get("If-None-Match") == '"n"'
        else Reply(headers={"ETag": '"n"', "Cache-Control": "no-cache"})
    )
    assert (await fetch(edge, trust, "/nc"))[1]["X-Cache"] == "MISS"
    _, headers, body = await fetch(edge, trust, "/nc")
    assert headers["X-Cache"] == "REVALIDATED"
    assert body == b"v1"
    assert upstream.counts["/nc"] == 2


async def test_changed_content_replaces(
    edge: TestServer, upstream: Upstream, trust: ssl.SSLContext, clock: Clock
) -> None:
    """A 200 answer to revalidation replaces the stored response (§4.3.3)."""
    upstream.replies["/c"] = Reply(headers={"ETag": '"1"', "Cache-Control": "max-age=10"})
    await fetch(edge, trust, "/c")
    upstream.replies["/c"] = Reply(
        headers={"ETag": '"2"', "Cache-Control": "max-age=10"}, body=b"v2"
    )
    clock.now += 60
    _, headers, body = await fetch(edge, trust, "/c")
    assert body == b"v2"
    assert headers["X-Cache"] == "MISS"
    assert (await fetch(edge, trust, "/c"))[2] == b"v2"


async def test_stale_if_error_on_500_and_refused(
    start_edge: StartEdge,
    upstream: Upstream,
    servers: list[TestServer],
    trust: ssl.SSLContext,
    clock: Clock,
) -> None:
    """Stale content stands in for a 500 and for a refused connection (RFC 5861 §4)."""
    edge = await start_edge({HOST: ("origin.example.com", upstream.port)}, clock=clock)
    upstream.replies["/s"] = Reply(headers={"Cache-Control": "max-age=10, stale-if-error=600"})
    await fetch(edge, trust, "/s")
    clock.now += 60
    upstream.replies["/s"] = Reply(500, {}, b"broken")
    status, headers, body = await fetch(edge, trust, "/s")
    assert status == 200
    assert body == b"v1"
    assert headers["X-Cache"] == "STALE"
    assert "fwd-status=500" in headers["Cache-Status"]
    assert upstream.server is not None
    servers.remove(upstream.server)
    await upstream.server.close()
    status, headers, body = await fetch(edge, trust, "/s")
    assert status == 200
    assert body == b"v1"
    assert headers["X-Cache"] == "STALE"
    clock.now += 1000  # past stale-if-error: the error shows
    status, headers, body = await fetch(edge, trust, "/s")
    assert status == 502
    assert b"cannot connect" in body


async def test_stale_while_revalidate(
    edge: TestServer, upstream: Upstream, trust: ssl.SSLContext, clock: Clock
) -> None:
    """Within stale-while-revalidate: STALE now, refreshed in the background (RFC 5861 §3)."""
    upstream.replies["/w"] = Reply(
        headers={"Cache-Control": "max-age=10, stale-while-revalidate=600"}
    )
    await fetch(edge, trust, "/w")
    upstream.replies["/w"] = Reply(headers={"Cache-Control": "max-age=100"}, body=b"v2")
    clock.now += 60
    _, headers, body = await fetch(edge, trust, "/w")
    assert headers["X-Cache"] == "STALE"
    assert body == b"v1"
    await until(lambda: upstream.counts["/w"] == 2)
    await until(lambda: not edge.app[EDGE].background)
    _, headers, body = await fetch(edge, trust, "/w")
    assert headers["X-Cache"] == "HIT"
    assert body == b"v2"
    assert upstream.counts["/w"] == 2


async def test_collapsed_forwarding(
    edge: TestServer, upstream: Upstream, trust: ssl.SSLContext
) -> None:
    """N concurrent misses of one URL make exactly one upstream request."""
    upstream.replies["/slow"] = Reply(headers={"Cache-Control": "max-age=100"})
    upstream.gate = asyncio.Event()
    n = 8
    tasks = [asyncio.ensure_future(fetch(edge, trust, "/slow")) for _ in range(n)]
    collapser = edge.app[EDGE].collapser
    await until(
        lambda: upstream.counts["/slow"] == 1 and collapser.waiting(key(HOST, "/slow")) == n - 1
    )
    upstream.gate.set()
    results = await asyncio.gather(*tasks)
    assert upstream.counts["/slow"] == 1
    assert all(r[2] == b"v1" for r in results)
    caches = Counter(r[1]["X-Cache"] for r in results)
    assert caches == {"MISS": 1, "HIT": n - 1}
    assert sum("collapsed" in r[1]["Cache-Status"] for r in results) == n - 1


async def test_invalidation_after_post(
    edge: TestServer, upstream: Upstream, trust: ssl.SSLContext
) -> None:
    """A successful POST invalidates its URI and the Location it names (§4.4)."""
    upstream.replies["/item"] = Reply(headers={"Cache-Control": "max-age=100"})
    upstream.replies["/other"] = Reply(headers={"Cache-Control": "max-age=100"})
    for path in ("/item", "/other", "/item", "/other"):
        await fetch(edge, trust, path)
    assert upstream.counts == {"/item": 1, "/other": 1}
    upstream.replies["/item"] = lambda r: (
        Reply(201, {"Location": "/other"}, b"made")
        if r.method == "POST"
        else Reply(headers={"Cache-Control": "max-age=100"})
    )
    status, headers, _ = await fetch(edge, trust, "/item", "POST", body={"a": 1})
    assert status == 201
    assert headers["X-Cache"] == "BYPASS"
    for path in ("/item", "/other"):
        assert (await fetch(edge, trust, path))[1]["X-Cache"] == "MISS"
    upstream.replies["/item"] = lambda r: Reply(
        500 if r.method == "DELETE" else 200, {"Cache-Control": "max-age=100"}
    )
    await fetch(edge, trust, "/item", "DELETE")  # an error does not invalidate
    assert (await fetch(edge, trust, "/item"))[1]["X-Cache"] == "HIT"


async def test_purge_api_and_method(
    edge: TestServer, upstream: Upstream, trust: ssl.SSLContext
) -> None:
    """POST /__edge/purge {"url"} and PURGE <path> drop every variant, saying how many."""
    upstream.replies["/p"] = Reply(headers={"Cache-Control": "max-age=100"})
    await fetch(edge, trust, "/p")
    status, _, body = await fetch(
        edge, trust, "/__edge/purge", "POST", body={"url": f"https://{HOST}/p"}
    )
    assert status == 200
    assert json.loads(body) == {"purged": 1, "host": HOST, "target": "/p"}
    assert (await fetch(edge, trust, "/p"))[1]["X-Cache"] == "MISS"
    status, _, body = await fetch(edge, trust, "/p", "PURGE")
    assert status == 200
    assert json.loads(body)["purged"] == 1
    status, _, body = await fetch(edge, trust, "/__edge/purge", "POST", body={"nope": 1})
    assert status == 400
    assert b"url" in body


async def test_vary(edge: TestServer, upstream: Upstream, trust: ssl.SSLContext) -> None:
    """Vary keeps one variant per Accept-Language; Vary: * is never reused (§4.1)."""
    upstream.replies["/v"] = lambda r: Reply(
        headers={"Cache-Control": "max-age=100", "Vary": "Accept-Language"},
        body=r.headers.get("Accept-Language", "none").encode(),
    )
    for lang in ("en", "fr", "en", "fr"):
        _, headers, body = await fetch(edge, trust, "/v", headers={"Accept-Language": lang})
        assert body == lang.encode()
    assert headers["X-Cache"] == "HIT"
    assert upstream.counts["/v"] == 2
    upstream.replies["/star"] = Reply(headers={"Cache-Control": "max-age=100", "Vary": "*"})
    for _ in range(2):
        assert (await fetch(edge, trust, "/star"))[1]["X-Cache"] == "BYPASS"
    assert upstream.counts["/star"] == 2


async def test_cookie_and_authorization_bypass(
    edge: TestServer, upstream: Upstream, trust: ssl.SSLContext
) -> None:
    """Set-Cookie responses and Authorization requests are not cached unless public (§3.5)."""
    upstream.replies["/ck"] = Reply(headers={"Cache-Control": "max-age=100", "Set-Cookie": "s=1"})
    upstream.replies["/au"] = Reply(headers={"Cache-Control": "max-age=100"})
    upstream.replies["/pub"] = Reply(
        headers={"Cache-Control": "public, max-age=100", "Set-Cookie": "s=1"}
    )
    auth = {"Authorization": "Bearer t"}
    for _ in range(2):
        assert (await fetch(edge, trust, "/ck"))[1]["X-Cache"] == "BYPASS"
        assert (await fetch(edge, trust, "/au", headers=auth))[1]["X-Cache"] == "BYPASS"
    _, first, _ = await fetch(edge, trust, "/pub")
    _, second, _ = await fetch(edge, trust, "/pub")
    assert first["Set-Cookie"] == "s=1"
    assert second["X-Cache"] == "HIT"
    assert "Set-Cookie" not in second  # one client's cookie is not handed to the next


async def test_request_directives(
    edge: TestServer, upstream: Upstream, trust: ssl.SSLContext
) -> None:
    """Request no-cache / Pragma go upstream; only-if-cached never does (§5.2.1, §5.4)."""
    upstream.replies["/q"] = Reply(headers={"Cache-Control": "max-age=100"})
    await fetch(edge, trust, "/q")
    for headers in ({"Cache-Control": "no-cache"}, {"Pragma": "no-cache"}):
        assert (await fetch(edge, trust, "/q", headers=headers))[1]["X-Cache"] == "MISS"
    assert upstream.counts["/q"] == 3
    status, _, _ = await fetch(edge, trust, "/nope", headers={"Cache-Control": "only-if-cached"})
    assert status == 504
    assert upstream.counts["/nope"] == 0


async def test_failover_and_round_robin(
    start_edge: StartEdge, make_upstream: Callable[[], Awaitable[Upstream]], trust: ssl.SSLContext
) -> None:
    """Two live upstreams share the load; a refusing one is skipped and shown down."""
    a, b = await make_upstream(), await make_upstream()
    for up in (a, b):
        up.replies["/x"] = Reply(headers={"Cache-Control": "no-store"})
    edge = await start_edge(
        {HOST: [("origin.example.com", a.port), ("origin.example.com", b.port)]}
    )
    for _ in range(4):
        assert (await fetch(edge, trust, "/x"))[0] == 200
    assert a.counts["/x"] == 2
    assert b.counts["/x"] == 2
    dead = closed_port()
    edge = await start_edge({HOST: [("origin.example.com", dead), ("origin.example.com", b.port)]})
    for _ in range(3):
        assert (await fetch(edge, trust, "/x"))[0] == 200
    _, _, body = await fetch(edge, trust, "/__edge/health")
    pool = json.loads(body)["upstreams"][HOST]
    assert [m["healthy"] for m in pool] == [False, True]
    assert "cannot connect" in pool[0]["reason"]


async def test_active_health_checks(
    start_edge: StartEdge, make_upstream: Callable[[], Awaitable[Upstream]], trust: ssl.SSLContext
) -> None:
    """An upstream failing GET /healthz is marked down, then up again when it recovers."""
    a, b = await make_upstream(), await make_upstream()
    a.replies["/healthz"] = Reply(503, {}, b"sick")
    b.replies["/healthz"] = Reply(200, {}, b"ok")
    edge = await start_edge(
        {HOST: [("origin.example.com", a.port), ("origin.example.com", b.port)]},
        health_interval=0.05,
    )
    pool = edge.app[EDGE].pools[HOST]
    await until(lambda: [m.healthy for m in pool.members] == [False, True])
    b.replies["/x"] = Reply(headers={"Cache-Control": "no-store"})
    for _ in range(3):
        assert (await fetch(edge, trust, "/x"))[0] == 200
    assert a.counts["/x"] == 0
    assert b.counts["/x"] == 3
    a.replies["/healthz"] = Reply(200, {}, b"ok")
    await until(lambda: all(m.healthy for m in pool.members))


async def test_all_upstreams_down(start_edge: StartEdge, trust: ssl.SSLContext) -> None:
    """Nothing stored and every upstream refusing: 502 naming each failure."""
    edge = await start_edge(
        {HOST: [("origin.example.com", closed_port()), ("origin.example.com", closed_port())]}
    )
    status, headers, body = await fetch(edge, trust, "/")
    assert status == 502
    assert b"every upstream of www.example.com failed" in body
    assert body.count(b"cannot connect") == 2
    assert headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    "raw",
    [
        b"POST / HTTP/1.1\r\nHost: www.example.com\r\nContent-Length: 4\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: www.example.com\r\nContent-Length: 4\r\n"
        b"Content-Length: 5\r\n\r\nabcde",
        b"POST / HTTP/1.0\r\nHost: www.example.com\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: www.example.com\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
        b"0\r\n\r\n",
    ],
)
async def test_smuggling_refused(
    edge: TestServer, upstream: Upstream, trust: ssl.SSLContext, raw: bytes
) -> None:
    """Ambiguous framing over a raw TLS socket gets 400/501 and nothing is forwarded."""
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", edge.port, ssl=trust, server_hostname=HOST
    )
    writer.write(raw)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(200), 5)
    writer.close()
    assert answer.split(b"\r\n")[0].split(b" ")[1] in (b"400", b"501")
    assert sum(upstream.counts.values()) == 0

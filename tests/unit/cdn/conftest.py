"""An in-process lab on 127.0.0.1: origin and API behind the edge, real TLS everywhere."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from services.api.app import make_app as make_api
from services.api.store import UserStore
from services.api.tokens import TokenConfig
from services.cdn.app import EdgeConfig
from services.cdn.app import make_app as make_edge
from services.cdn.routing import parse_route
from services.common.httpserver import JsonAccessLogger
from services.common.tls import client_context, server_context
from services.web.app import make_app as make_origin
from services.web.content import load_site

StartEdge = Callable[..., Awaitable[TestServer]]


async def start(app: web.Application, ctx: ssl.SSLContext) -> TestServer:
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server(ssl=ctx, access_log_class=JsonAccessLogger)
    return server


@pytest.fixture
async def servers(certs: Path, tmp_path: Path) -> AsyncIterator[list[TestServer]]:
    """Started servers, closed (last first) at teardown."""
    started: list[TestServer] = []
    yield started
    for server in reversed(started):
        await server.close()


@pytest.fixture
async def origin(certs: Path, servers: list[TestServer]) -> TestServer:
    server = await start(
        make_origin(load_site()), server_context(certs / "origin.crt", certs / "origin.key", env={})
    )
    servers.append(server)
    return server


@pytest.fixture
async def api(certs: Path, tmp_path: Path, servers: list[TestServer]) -> TestServer:
    tokens = TokenConfig(secret=b"edge-test-secret", clock=time.time)
    server = await start(
        make_api(UserStore.open(tmp_path / "api.sqlite3"), tokens),
        server_context(certs / "api.crt", certs / "api.key", env={}),
    )
    servers.append(server)
    return server


@pytest.fixture
def start_edge(certs: Path, servers: list[TestServer]) -> StartEdge:
    """Start an edge with routes ``public=upstream-name:port[,...]`` pinned to 127.0.0.1."""

    async def start_edge(
        routes: dict[str, tuple[str, int] | list[tuple[str, int]]],
        *,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
        health_interval: float = 0.0,
    ) -> TestServer:
        upstreams = {public: up if isinstance(up, list) else [up] for public, up in routes.items()}
        config = EdgeConfig(
            routes=tuple(
                parse_route(f"{public}=" + ",".join(f"https://{n}:{p}" for n, p in ups))
                for public, ups in upstreams.items()
            ),
            upstream_tls=client_context(certs / "ca.crt", env={}),
            clock=clock,
            pins={(n, p): "127.0.0.1" for ups in upstreams.values() for n, p in ups},
            upstream_timeout=timeout,
            health_interval=health_interval,
        )
        server = await start(
            make_edge(config), server_context(certs / "edge.crt", certs / "edge.key", env={})
        )
        servers.append(server)
        return server

    return start_edge


@pytest.fixture
async def edge(start_edge: StartEdge, origin: TestServer, api: TestServer) -> TestServer:
    """The lab's three public names routed as in compose.yaml."""
    assert origin.port is not None
    assert api.port is not None
    return await start_edge(
        {
            "www.example.com": ("origin.example.com", origin.port),
            "static.example.com": ("origin.example.com", origin.port),
            "api.example.com": ("api-origin.example.com", api.port),
        }
    )


@pytest.fixture
async def hanging_upstream(certs: Path, servers: list[TestServer]) -> AsyncIterator[TestServer]:
    """An upstream that accepts the request and never answers (until teardown)."""
    release = asyncio.Event()

    async def hang(request: web.Request) -> web.Response:
        await release.wait()
        return web.Response(text="late")

    app = web.Application()
    app.router.add_get("/{p:.*}", hang)
    server = await start(app, server_context(certs / "origin.crt", certs / "origin.key", env={}))
    servers.append(server)
    yield server
    release.set()

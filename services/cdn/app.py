"""The edge application: configuration, the pooled upstream session, local endpoints."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

from services.cdn.cache import Cache
from services.cdn.proxy import EDGE, RESERVED_PREFIX, Edge, handle
from services.cdn.resolve import PinnedResolver
from services.cdn.routing import Route, Router


@dataclass(frozen=True)
class EdgeConfig:
    routes: tuple[Route, ...]
    upstream_tls: ssl.SSLContext  # trusts the lab root only
    clock: Callable[[], float]
    pins: Mapping[tuple[str, int], str] = field(default_factory=dict)
    upstream_timeout: float = 10.0
    connect_timeout: float = 3.0
    max_connections: int = 100
    cache_entries: int = 1000


async def health(request: web.Request) -> web.Response:
    """Answered by the edge itself, whatever the Host: the edge is up and configured."""
    edge = request.app[EDGE]
    cache = edge.cache
    return web.json_response(
        {"status": "ok", "service": "cdn",
         "routes": {h: str(r.upstream) for h, r in sorted(edge.router.routes.items())},
         "cache": {"entries": len(cache), "bytes": cache.size_bytes, "hits": cache.stats.hits,
                   "misses": cache.stats.misses, "evictions": cache.stats.evictions}},
        headers={"Cache-Control": "no-store"})


async def reserved(request: web.Request) -> web.Response:
    return web.Response(status=404, text=f"404 Not Found: {request.path} is not an edge "
                                         f"endpoint (try {RESERVED_PREFIX}health)\n")


def make_app(config: EdgeConfig) -> web.Application:
    app = web.Application()

    async def upstream_session(app: web.Application) -> AsyncIterator[None]:
        # One session, one connection pool for all upstreams: TLS sessions and
        # keep-alive connections are reused across client requests.
        connector = aiohttp.TCPConnector(ssl=config.upstream_tls, limit=config.max_connections,
                                         resolver=PinnedResolver(config.pins))
        timeout = aiohttp.ClientTimeout(total=config.upstream_timeout,
                                        sock_connect=config.connect_timeout)
        # auto_decompress off: bytes pass through as the origin encoded them;
        # no default Accept/Accept-Encoding/User-Agent: the client's own are forwarded.
        async with aiohttp.ClientSession(
                connector=connector, timeout=timeout, auto_decompress=False, trust_env=False,
                skip_auto_headers=("Accept", "Accept-Encoding", "User-Agent")) as session:
            app[EDGE] = Edge(router=Router(config.routes),
                             cache=Cache(config.clock, max_entries=config.cache_entries),
                             session=session, clock=config.clock)
            yield

    app.cleanup_ctx.append(upstream_session)
    app.router.add_get(RESERVED_PREFIX + "health", health)
    app.router.add_route("*", RESERVED_PREFIX + "{rest:.*}", reserved)
    app.router.add_route("*", "/{path:.*}", handle)
    return app

"""The edge application: configuration, the pooled upstream session, local endpoints."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web
from yarl import URL

from services.cdn.cache import Cache
from services.cdn.framing import framing_problem
from services.cdn.health import probe_forever
from services.cdn.proxy import EDGE, RESERVED_PREFIX, Edge, handle
from services.cdn.resolve import PinnedResolver
from services.cdn.respond import edge_error
from services.cdn.routing import Route, Router
from services.cdn.upstreams import Pool
from services.cdn.wsconnect import Dialer
from services.common.errorpage import ERROR_PAGE, ErrorPage
from services.common.h2tunnel import TUNNEL_PROTOCOLS
from services.common.httpserver import LOG_FIELDS


@dataclass(frozen=True)
class EdgeConfig:
    routes: tuple[Route, ...]
    upstream_tls: ssl.SSLContext | None  # trusts the lab root only; None: plain HTTP
    clock: Callable[[], float]
    pins: Mapping[tuple[str, int], str] = field(default_factory=dict)
    upstream_timeout: float = 10.0
    connect_timeout: float = 2.0  # under ARP's 3 s give-up: a gone host times out, always 504
    max_connections: int = 100
    cache_entries: int = 1000
    health_interval: float = 5.0  # active checks; 0 turns them off
    health_path: str = "/healthz"
    scheme: str = "https"  # what clients speak to the edge (X-Forwarded-Proto)


async def health(request: web.Request) -> web.Response:
    """Answered by the edge itself, whatever the Host: the edge is up and configured."""
    edge = request.app[EDGE]
    cache = edge.cache
    return web.json_response(
        {
            "status": "ok",
            "service": "cdn",
            "routes": {h: r.upstream_label for h, r in sorted(edge.router.routes.items())},
            "upstreams": {h: pool.status() for h, pool in sorted(edge.pools.items())},
            "cache": {
                "entries": len(cache),
                "bytes": cache.size_bytes,
                "hits": cache.stats.hits,
                "misses": cache.stats.misses,
                "evictions": cache.stats.evictions,
                "invalidations": cache.stats.invalidations,
            },
        },
        headers={"Cache-Control": "no-store"},
    )


async def purge(request: web.Request) -> web.Response:
    """``POST /__edge/purge {"url": "https://www.example.com/a.css"}``: drop every variant."""
    edge = request.app[EDGE]
    try:
        data = await request.json()
        url = URL(data["url"])
    except (ValueError, KeyError, TypeError) as e:
        return edge_error(400, f'expected JSON {{"url": "https://host/path"}}: {e}')
    route = edge.router.match(url.host or "")
    if route is None:
        return edge_error(404, f"no route for {url.host!r}")
    removed = edge.cache.purge(route.public_host, url.raw_path_qs)
    return web.json_response(
        {"purged": removed, "host": route.public_host, "target": url.raw_path_qs},
        headers={"Cache-Control": "no-store"},
    )


async def reserved(request: web.Request) -> web.Response:
    return edge_error(404, f"{request.path} is not an edge endpoint (try {RESERVED_PREFIX}health)")


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def framed(handler: Handler) -> Handler:
    """``handler`` behind the framing check: ambiguous framing is refused before anything
    is forwarded (RFC 9112 §6), and aiohttp's own errors raised inside it (413 from
    reading a body over client_max_size) become the edge's problem documents. A
    wrapper on every route rather than a middleware: the same effect (every request
    reaches a route, the last one matches any path) with less work on each request."""

    async def checked(request: web.Request) -> web.StreamResponse:
        # Every rule concerns Content-Length or Transfer-Encoding: without either (a GET,
        # most requests) there is nothing to check. request.headers holds the same
        # fields as raw_headers, names compared case-insensitively.
        fields = request.headers
        if "Content-Length" in fields or "Transfer-Encoding" in fields:
            problem = framing_problem(
                (request.version.major, request.version.minor),
                [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.raw_headers],
            )
            if problem is not None:
                status, reason = problem
                refused = edge_error(status, f"request refused: {reason}")
                # The connection is not trusted to frame another request (RFC 9112 §6.3):
                # force_close, not a Connection field only, makes aiohttp close it too.
                refused.force_close()
                return refused
        try:
            return await handler(request)
        except web.HTTPException as e:
            if e.status < 400:
                raise
            detail = e.text or e.reason
            logged = request.get(LOG_FIELDS)
            if isinstance(logged, dict):
                logged["error"] = detail
            answer = edge_error(e.status, detail)
            if "Allow" in e.headers:  # RFC 9110 §15.5.6: a 405 says what is allowed
                answer.headers["Allow"] = e.headers["Allow"]
            return answer

    return checked


def make_app(config: EdgeConfig) -> web.Application:
    app = web.Application()

    async def upstream_session(app: web.Application) -> AsyncIterator[None]:
        # One session, one connection pool for all upstreams: TLS sessions and
        # keep-alive connections are reused across client requests.
        connector = aiohttp.TCPConnector(
            ssl=config.upstream_tls or False,
            limit=config.max_connections,
            resolver=PinnedResolver(config.pins),
        )
        timeout = aiohttp.ClientTimeout(
            total=config.upstream_timeout, sock_connect=config.connect_timeout
        )
        # auto_decompress off: bytes pass through as the origin encoded them;
        # no default Accept/Accept-Encoding/User-Agent: the client's own are forwarded.
        async with aiohttp.ClientSession(
            connector=connector,
            timeout=timeout,
            auto_decompress=False,
            trust_env=False,
            skip_auto_headers=("Accept", "Accept-Encoding", "User-Agent"),
        ) as session:
            pools = {r.public_host: Pool(r.upstreams, config.clock) for r in config.routes}
            edge = Edge(
                router=Router(config.routes),
                pools=pools,
                cache=Cache(config.clock, max_entries=config.cache_entries),
                session=session,
                clock=config.clock,
                scheme=config.scheme,
                wait_timeout=config.upstream_timeout,
                dialer=Dialer(config.pins, config.upstream_tls, config.connect_timeout),
            )
            app[EDGE] = edge
            checker = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    ssl=config.upstream_tls or False,
                    limit_per_host=1,
                    resolver=PinnedResolver(config.pins),
                ),
                trust_env=False,
            )
            probes = (
                [
                    asyncio.get_running_loop().create_task(
                        probe_forever(
                            checker,
                            list(pools.values()),
                            config.health_path,
                            config.health_interval,
                        )
                    )
                ]
                if config.health_interval > 0
                else []
            )
            yield
            for task in probes + list(edge.background):
                task.cancel()
            for task in probes + list(edge.background):
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await checker.close()

    app.cleanup_ctx.append(upstream_session)
    # The errors of the layers under the app (HTTP/1 parser, HTTP/2 refusals, a handler
    # that raised) are problem documents too (services/common/errorpage.py).
    page: ErrorPage = edge_error
    app[ERROR_PAGE] = page
    # WebSockets over HTTP/2 (RFC 8441): the HTTP/2 layer announces extended CONNECT.
    app[TUNNEL_PROTOCOLS] = frozenset({"websocket"})
    app.router.add_get(RESERVED_PREFIX + "health", framed(health))
    app.router.add_post(RESERVED_PREFIX + "purge", framed(purge))
    app.router.add_route("*", RESERVED_PREFIX + "{rest:.*}", framed(reserved))
    app.router.add_route("*", "/{path:.*}", framed(handle))
    return app

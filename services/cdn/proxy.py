"""The edge's request path: route, look up the cache, fetch upstream, store, answer.

The decisions live in routing.py, freshness.py and cache.py; this module only
moves bytes between the client, the cache and one pooled upstream session.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

from services.cdn.cache import Cache, Entry
from services.cdn.freshness import etag_matches, storable
from services.cdn.routing import (
    Route,
    Router,
    append_via,
    end_to_end,
    loop_detected,
    normalize_host,
    upstream_request_headers,
)
from services.common.httpserver import LOG_FIELDS

logger = logging.getLogger(__name__)

RESERVED_PREFIX = "/__edge/"
# Validators the edge answers itself so that its own fetch fills the cache.
CONDITIONALS = ("If-None-Match", "If-Modified-Since")


@dataclass
class Edge:
    """Everything a request handler needs; built by app.make_app."""

    router: Router
    cache: Cache
    session: aiohttp.ClientSession
    clock: Callable[[], float]


EDGE: web.AppKey[Edge] = web.AppKey("edge", Edge)


def _plain(status: int, text: str, cache_status: str = "BYPASS") -> web.Response:
    return web.Response(status=status, text=text.rstrip("\n") + "\n",
                        headers={"X-Cache": cache_status, "Via": "1.1 edge.edgecdn.net",
                                 "Cache-Control": "no-store"})


def _from_entry(request: web.Request, entry: Entry, *, cache_status: str,
                age: float | None) -> web.Response:
    headers = CIMultiDict(entry.headers)
    if age is not None:  # else the upstream's own Age, if any, passes through
        headers.popall("Age", None)
        headers["Age"] = str(int(age))  # RFC 9111 §5.1: whole seconds
    headers["X-Cache"] = cache_status
    append_via(headers)
    inm = request.headers.get("If-None-Match")
    if (request.method in ("GET", "HEAD") and entry.status == 200 and inm is not None
            and etag_matches(inm, entry.header("ETag"))):
        # RFC 9110 §15.4.5: 304 repeats the fields a 200 would have sent, minus content.
        for name in ("Content-Type", "Content-Encoding", "Content-Language"):
            headers.popall(name, None)
        return web.Response(status=304, headers=headers)
    return web.Response(status=entry.status, body=entry.body, headers=headers)


async def handle(request: web.Request) -> web.StreamResponse:
    edge = request.app[EDGE]
    fields: dict[str, object] = {}
    request[LOG_FIELDS] = fields
    route = edge.router.match(request.host)
    if route is None:
        fields["cache"] = "NONE"
        # RFC 9110 §15.5.20: this server is not configured for that name.
        known = ", ".join(sorted(edge.router.routes)) or "none"
        return _plain(421, f"421 Misdirected Request: this edge has no site for "
                           f"{normalize_host(request.host)!r} (it serves: {known})")
    fields["upstream"] = route.upstream_label
    if loop_detected(request.headers):
        return _plain(508, "508 Loop Detected: this request already passed through the edge")

    cacheable_method = request.method in ("GET", "HEAD")
    target = request.raw_path
    if cacheable_method:
        hit = edge.cache.lookup(route.public_host, target, request.headers)
        if hit is not None and hit.decision.ok:
            edge.cache.stats.hits += 1
            fields.update(cache="HIT", reason=hit.decision.reason, age=int(hit.age))
            return _from_entry(request, hit.entry, cache_status="HIT", age=hit.age)
        fields["reason"] = hit.decision.reason if hit else "not in cache"
    return await _forward(request, edge, route, fields)


async def _forward(request: web.Request, edge: Edge, route: Route,
                   fields: dict[str, object]) -> web.StreamResponse:
    cacheable_method = request.method in ("GET", "HEAD")
    headers = upstream_request_headers(request.headers, public_host=route.public_host,
                                       client_ip=request.remote)
    if cacheable_method:
        # Fetch the full response so it can be stored; the edge itself answers the
        # client's conditionals from it. HEAD goes up as GET for the same reason.
        for name in CONDITIONALS:
            headers.popall(name, None)
    method = "GET" if request.method == "HEAD" else request.method
    body = await request.read() if request.can_read_body else None
    url = route.target(request.raw_path)
    request_time = edge.clock()
    started = asyncio.get_running_loop().time()
    try:
        async with edge.session.request(method, url, headers=headers, data=body,
                                        allow_redirects=False) as upstream:
            payload = await upstream.read()
            status, raw_headers = upstream.status, upstream.headers
    except TimeoutError as e:
        fields.update(cache="MISS", error=f"timeout: {e!r}")
        return _plain(504, f"504 Gateway Timeout: {route.upstream_label} did not answer "
                           f"in time", "MISS")
    except aiohttp.ClientConnectorCertificateError as e:
        fields.update(cache="MISS", error=str(e.certificate_error))
        return _plain(502, f"502 Bad Gateway: TLS certificate of {route.upstream_label} "
                           f"failed verification: {e.certificate_error}", "MISS")
    except aiohttp.ClientSSLError as e:
        fields.update(cache="MISS", error=str(e))
        return _plain(502, f"502 Bad Gateway: TLS handshake with {route.upstream_label} "
                           f"failed: {e}", "MISS")
    except aiohttp.ClientConnectorError as e:
        fields.update(cache="MISS", error=str(e.os_error))
        return _plain(502, f"502 Bad Gateway: cannot connect to {route.upstream_label}: "
                           f"{e.os_error.strerror or e.os_error}", "MISS")
    except aiohttp.ClientError as e:
        fields.update(cache="MISS", error=repr(e))
        return _plain(502, f"502 Bad Gateway: {route.upstream_label} broke the exchange: "
                           f"{type(e).__name__}", "MISS")
    finally:
        fields["upstream_ms"] = round((asyncio.get_running_loop().time() - started) * 1000, 3)
    response_time = edge.clock()
    kept = end_to_end(raw_headers)
    decision = storable("GET" if cacheable_method else request.method, status, request.headers,
                        raw_headers)
    cache_status = "MISS" if decision.ok else "BYPASS"
    fields.update(cache=cache_status, reason=decision.reason, upstream_status=status)
    entry = Entry(status=status, headers=tuple(kept.items()), body=payload,
                  request_time=request_time, response_time=response_time, vary=())
    if decision.ok:
        entry = edge.cache.store(route.public_host, request.raw_path, request.headers,
                                 status=status, headers=entry.headers, body=payload,
                                 request_time=request_time,
                                 response_time=response_time) or entry
        edge.cache.stats.misses += 1
    # For GET/HEAD the client's own If-None-Match is answered from this response.
    return _from_entry(request, entry, cache_status=cache_status, age=None)

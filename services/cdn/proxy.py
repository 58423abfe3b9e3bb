"""The edge's request path: route, look up the cache, fetch upstream, store, answer.

The decisions live in policy.py, freshness.py, validation.py and cache.py;
this module only sequences them around the upstream exchange (forward.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

from services.cdn.cache import Cache, Entry, Hit, key
from services.cdn.cachestatus import Outcome
from services.cdn.collapse import Collapser
from services.cdn.forward import Fetched, UpstreamError, exchange
from services.cdn.freshness import combined
from services.cdn.policy import (
    ERROR_STATUSES,
    Use,
    Verdict,
    evaluate,
    invalidated_targets,
    request_directives,
    stale_if_error,
    storable,
    stored_fields,
)
from services.cdn.respond import edge_error, from_entry
from services.cdn.routing import Route, Router, loop_detected, upstream_request_headers
from services.cdn.upstreams import Pool
from services.cdn.validation import conditional_headers, freshen
from services.cdn.websocket import is_upgrade, tunnel, tunnel_extended
from services.cdn.wsconnect import Dialer
from services.common.h2tunnel import tunnel_of
from services.common.hosts import normalize_host
from services.common.httpserver import LOG_FIELDS
from services.common.logs import log_event

logger = logging.getLogger(__name__)

RESERVED_PREFIX = "/__edge/"
# Client validators the edge answers itself, so that its own fetch fills the cache.
CONDITIONALS = ("If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since", "If-Range")
# RFC 9211 §2.8: why a stale response was served.
STALE_DETAIL = {Use.STALE: "max-stale", Use.STALE_REVALIDATE: "stale-while-revalidate"}


@dataclass
class Edge:
    """Everything a request handler needs; built by app.make_app."""

    router: Router
    pools: dict[str, Pool]  # by public host
    cache: Cache
    session: aiohttp.ClientSession
    clock: Callable[[], float]
    collapser: Collapser = field(default_factory=Collapser)
    background: set[asyncio.Task[None]] = field(default_factory=set)
    scheme: str = "https"
    wait_timeout: float = 10.0
    dialer: Dialer = field(default_factory=Dialer)  # raw connections for RFC 8441 WebSockets


EDGE: web.AppKey[Edge] = web.AppKey("edge", Edge)


@dataclass(frozen=True)
class Result:
    entry: Entry
    outcome: Outcome
    age: float | None  # None: pass the upstream's own Age


async def handle(request: web.Request) -> web.StreamResponse:
    edge = request.app[EDGE]
    fields: dict[str, object] = {}
    request[LOG_FIELDS] = fields
    route = edge.router.match(request.host)
    if route is None:
        fields["cache"] = "NONE"
        # RFC 9110 §15.5.20: this server is not configured for that name.
        known = ", ".join(sorted(edge.router.routes)) or "none"
        return edge_error(
            421,
            f"this edge has no site for {normalize_host(request.host)!r} (it serves: {known})",
        )
    fields["upstream"] = route.upstream_label
    if "Via" in request.headers and loop_detected(request.headers):
        return edge_error(508, "this request already passed through the edge")
    if request.method == "PURGE":
        removed = edge.cache.purge(route.public_host, request.raw_path)
        fields.update(cache="PURGE", purged=removed)
        return web.json_response(
            {"purged": removed, "host": route.public_host, "target": request.raw_path},
            headers={"Cache-Control": "no-store"},
        )
    h2_tunnel = tunnel_of(request)
    if h2_tunnel is not None:  # only :protocol websocket gets this far (TUNNEL_PROTOCOLS)
        return await tunnel_extended(request, h2_tunnel, edge.dialer, route,
                                     edge.pools[route.public_host], fields, edge.scheme,
                                     edge.wait_timeout)  # fmt: skip
    if is_upgrade(request):
        return await tunnel(
            request, edge.session, route, edge.pools[route.public_host], fields, edge.scheme
        )
    if request.method in ("GET", "HEAD"):
        return await _cached(request, edge, route, fields)
    return await _pass(request, edge, route, fields)


def _ms_since(started: float) -> float:
    # perf_counter, not loop.time(): uvloop's clock moves in whole milliseconds.
    return round((time.perf_counter() - started) * 1000, 3)


def _log(fields: dict[str, object], result: Result, reason: str) -> None:
    fields.update(cache=result.outcome.x_cache, reason=reason, cache_status=result.outcome.header())


def _verdict(req: Mapping[str, str], hit: Hit | None) -> Verdict | None:
    if hit is None:
        return None
    return evaluate(req, hit.entry.header_map(), age=hit.age, lifetime=hit.lifetime)


async def _cached(
    request: web.Request, edge: Edge, route: Route, fields: dict[str, object]
) -> web.StreamResponse:
    host, target, req = route.public_host, request.raw_path, request.headers
    k = key(host, target)
    hit = edge.cache.lookup(host, target, req)
    verdict = _verdict(req, hit)
    collapsed = False
    # Another request is already fetching this URL: wait for it, look again.
    needs_origin = verdict is None or verdict.use is Use.VALIDATE
    if needs_origin and await edge.collapser.wait(k, edge.wait_timeout):
        hit, collapsed = edge.cache.lookup(host, target, req), True
        verdict = _verdict(req, hit)
    if hit is not None and verdict is not None:
        fields["reason"] = verdict.reason
        if verdict.use is not Use.VALIDATE:
            stale = verdict.use is not Use.FRESH
            if verdict.use is Use.STALE_REVALIDATE:
                _revalidate_later(edge, route, target, req, hit, request.remote)
            outcome = Outcome(
                "STALE" if stale else "HIT",
                hit=True,
                ttl=hit.ttl,
                collapsed=collapsed,
                detail=STALE_DETAIL.get(verdict.use),
            )
            edge.cache.stats.hits += 1
            fields.update(cache=outcome.x_cache, age=int(hit.age), cache_status=outcome.header())
            return from_entry(request, hit.entry, outcome, age=hit.age, now=edge.clock())
    if "only-if-cached" in request_directives(req):
        # Nothing goes upstream, so no fwd: the cache answered the request itself.
        return edge_error(
            504,
            "only-if-cached and nothing usable is stored (RFC 9111 §5.2.1.7)",
            Outcome("MISS"),
        )
    fwd = (
        "stale"
        if hit is not None
        else "vary-miss"
        if edge.cache.has_url(host, target)
        else "uri-miss"
    )
    started = time.perf_counter()
    if edge.collapser.in_flight(k) is None:
        with edge.collapser.lead(k):
            result = await _refresh(edge, route, target, req, hit, request.remote, fwd)
    else:
        result = await _refresh(edge, route, target, req, hit, request.remote, fwd)
    fields["upstream_ms"] = _ms_since(started)
    if isinstance(result, UpstreamError):
        fields.update(cache="MISS", error=result.message)
        return edge_error(result.status, result.message, Outcome("MISS", fwd=fwd))
    fields.setdefault("reason", fwd)
    _log(fields, result, str(fields["reason"]))
    return from_entry(request, result.entry, result.outcome, age=result.age, now=edge.clock())


def _revalidate_later(
    edge: Edge, route: Route, target: str, req: Mapping[str, str], hit: Hit, remote: str | None
) -> None:
    """RFC 5861 §3: refresh in the background, once per URL at a time."""
    k = key(route.public_host, target)
    if edge.collapser.in_flight(k) is not None:
        return
    headers = CIMultiDict(req)

    async def run() -> None:
        with edge.collapser.lead(k):
            result = await _refresh(edge, route, target, headers, hit, remote, "stale")
        outcome = result.message if isinstance(result, UpstreamError) else result.outcome.header()
        log_event(
            logger,
            "background_revalidation",
            host=route.public_host,
            target=target,
            outcome=outcome,
        )

    task = asyncio.get_running_loop().create_task(run())
    edge.background.add(task)
    task.add_done_callback(edge.background.discard)


async def _refresh(
    edge: Edge,
    route: Route,
    target: str,
    req: Mapping[str, str],
    hit: Hit | None,
    remote: str | None,
    fwd: str,
) -> Result | UpstreamError:
    """Fetch, or revalidate what is stored, and update the cache (§4.3)."""
    host = route.public_host
    headers = upstream_request_headers(req, public_host=host, client_ip=remote, proto=edge.scheme)
    for name in CONDITIONALS:
        headers.popall(name, None)
    if hit is not None:
        headers.update(conditional_headers(hit.entry.header_map()))
    try:
        # HEAD goes up as GET too, so that the answer can fill the cache.
        fetched = await exchange(
            edge.session,
            route,
            edge.pools[host],
            method="GET",
            target=target,
            headers=headers,
            body=None,
            clock=edge.clock,
        )
    except UpstreamError as e:
        return _stale_or(edge, req, hit, e, e.status)
    if fetched.status in ERROR_STATUSES and hit is not None:
        stale = _stale_or(edge, req, hit, None, fetched.status)
        if isinstance(stale, Result):
            return stale
    if fetched.status == 304 and hit is not None:
        excluded = stored_fields(hit.entry.header_map().get("Cache-Control"))
        entry = edge.cache.update(
            host,
            target,
            hit.entry,
            headers=freshen(hit.entry.headers, fetched.headers, excluded),
            request_time=fetched.request_time,
            response_time=fetched.response_time,
        )
        fresh = edge.cache.age_of(entry)
        return Result(
            entry,
            Outcome("REVALIDATED", fwd="stale", fwd_status=304, ttl=fresh.ttl, stored=True),
            fresh.age,
        )
    return _store(edge, host, target, req, fetched, fwd)


def _stale_or(
    edge: Edge, req: Mapping[str, str], hit: Hit | None, error: UpstreamError | None, status: int
) -> Result | UpstreamError:
    """Serve stale in place of an upstream error when stale-if-error allows (RFC 5861 §4)."""
    if hit is not None:
        now = edge.cache.age_of(hit.entry)
        decision = stale_if_error(
            req, hit.entry.header_map(), staleness=max(0.0, now.age - now.lifetime)
        )
        if decision.ok:
            return Result(
                hit.entry,
                Outcome(
                    "STALE", fwd="stale", fwd_status=status, ttl=now.ttl, detail="stale-if-error"
                ),
                now.age,
            )
    return error or UpstreamError(status, f"{status} from upstream")


def _store(
    edge: Edge, host: str, target: str, req: Mapping[str, str], fetched: Fetched, fwd: str
) -> Result:
    """Keep a full response when RFC 9111 §3 allows; the client gets it as received."""
    response = combined(fetched.headers)
    decision = storable("GET", fetched.status, req, response)
    entry = Entry(
        status=fetched.status,
        headers=fetched.headers,
        body=fetched.body,
        request_time=fetched.request_time,
        response_time=fetched.response_time,
        vary=(),
    )
    if not decision.ok:
        return Result(entry, Outcome("BYPASS", fwd=fwd, fwd_status=fetched.status), None)
    excluded = stored_fields(response.get("Cache-Control"))
    kept = tuple((n, v) for n, v in fetched.headers if n.lower() not in excluded)
    stored = edge.cache.store(
        host,
        target,
        req,
        status=fetched.status,
        headers=kept,
        body=fetched.body,
        request_time=fetched.request_time,
        response_time=fetched.response_time,
    )
    edge.cache.stats.misses += 1
    ttl = edge.cache.age_of(stored).ttl if stored is not None else None
    return Result(
        entry,
        Outcome("MISS", fwd=fwd, fwd_status=fetched.status, ttl=ttl, stored=stored is not None),
        None,
    )


async def _pass(
    request: web.Request, edge: Edge, route: Route, fields: dict[str, object]
) -> web.StreamResponse:
    """Other methods go upstream as they are; success invalidates (RFC 9111 §4.4)."""
    host = route.public_host
    headers = upstream_request_headers(
        request.headers, public_host=host, client_ip=request.remote, proto=edge.scheme
    )
    body = await request.read() if request.can_read_body else None
    started = time.perf_counter()
    try:
        fetched = await exchange(
            edge.session,
            route,
            edge.pools[host],
            method=request.method,
            target=request.raw_path,
            headers=headers,
            body=body,
            clock=edge.clock,
        )
    except UpstreamError as e:
        fields.update(cache="BYPASS", error=e.message)
        return edge_error(e.status, e.message, Outcome("BYPASS", fwd="bypass"))
    finally:
        fields["upstream_ms"] = _ms_since(started)
    removed = 0
    for target in invalidated_targets(
        request.method,
        fetched.status,
        public_host=host,
        target=request.raw_path,
        response=combined(fetched.headers),
    ):
        removed += edge.cache.purge(host, target)
    outcome = Outcome("BYPASS", fwd="bypass", fwd_status=fetched.status)
    fields.update(
        cache="BYPASS",
        reason=f"method {request.method}",
        invalidated=removed,
        upstream_status=fetched.status,
    )
    entry = Entry(
        status=fetched.status,
        headers=fetched.headers,
        body=fetched.body,
        request_time=fetched.request_time,
        response_time=fetched.response_time,
        vary=(),
    )
    return from_entry(request, entry, outcome, age=None, now=edge.clock())

"""The JSON API: wiring of routes, middlewares and shared state (handlers live beside)."""

from __future__ import annotations

import email.utils
import functools
import hashlib
import json
import random
import time
from collections.abc import AsyncIterator

from aiohttp import web

from services.api import admin, auth, users
from services.api.auth import authenticate
from services.api.events import EventHub
from services.api.idempotency import IdempotencyStore
from services.api.openapi import document
from services.api.problems import ApiProblem, problem, problem_middleware
from services.api.ratelimit import RateLimiter
from services.api.refresh import RefreshTokens
from services.api.state import (
    CONFIG,
    EVENTS,
    FAULTS,
    IDEMPOTENCY,
    LIMITER,
    REFRESH,
    STORE,
    TOKENS,
    ApiConfig,
    FaultSwitch,
)
from services.api.store import UserStore
from services.api.tokens import TokenConfig
from services.common.errorpage import ERROR_PAGE, ErrorPage
from services.common.hsts import add_hsts


async def me(request: web.Request) -> web.Response:
    who = authenticate(request)
    user = request.app[STORE].get(who.username)
    assert user is not None  # authenticate() checked it
    return web.json_response(user.to_json(), headers={"Cache-Control": "no-store"})


async def info(request: web.Request) -> web.Response:
    """Public and cacheable: lets the edge show a HIT on the API name too."""
    return web.json_response(
        {"name": "weblab demo API", "login": "/api/login", "openapi": "/api/openapi.json"},
        headers={"Cache-Control": "public, max-age=30"},
    )


async def openapi(request: web.Request) -> web.Response:
    """The API's description: validators for revalidation, gzip when asked (RFC 9110 §8.8)."""
    body, etag = _openapi_body()
    headers = {"Cache-Control": "public, max-age=300", "ETag": etag, "Vary": "Accept-Encoding",
               "Last-Modified": STARTED}  # fmt: skip
    if etag in [t.strip() for t in request.headers.get("If-None-Match", "").split(",")]:
        return web.Response(status=304, headers=headers)
    response = web.Response(body=body, content_type="application/json", headers=headers)
    if "gzip" in request.headers.get("Accept-Encoding", ""):
        response.enable_compression(web.ContentCoding.gzip)
    return response


@functools.cache
def _openapi_body() -> tuple[bytes, str]:
    body = json.dumps(document()).encode()
    return body, '"' + hashlib.sha256(body).hexdigest()[:20] + '"'


# The description changes only with the code: Last-Modified is when this process started.
STARTED = email.utils.formatdate(time.time(), usegmt=True)


async def healthz(request: web.Request) -> web.Response:
    request.app[STORE].count()  # the database answers
    return web.json_response(
        {"status": "ok", "service": "api"}, headers={"Cache-Control": "no-store"}
    )


async def user_events(request: web.Request) -> web.StreamResponse:
    """WebSocket: one JSON text message per user change (services.api.events)."""
    authenticate(request)
    ws = web.WebSocketResponse(heartbeat=30)
    if not ws.can_prepare(request).ok:
        raise ApiProblem(
            400,
            type_="websocket-required",
            detail="connect with a WebSocket client (Upgrade: websocket)",
        )
    await ws.prepare(request)
    hub = request.app[EVENTS]
    hub.add(ws)
    try:
        await ws.send_json({"type": "subscribed"})
        async for _message in ws:  # nothing to read; wait for the close
            pass
    finally:
        hub.discard(ws)
    return ws


def _layer_problem(status: int, detail: str) -> web.Response:
    return problem(status, detail=detail)


def make_app(
    store: UserStore, tokens: TokenConfig, config: ApiConfig | None = None
) -> web.Application:
    config = config or ApiConfig()
    app = web.Application(
        middlewares=[problem_middleware, admin.fault_middleware], client_max_size=config.max_body
    )
    app[STORE] = store
    app[TOKENS] = tokens
    app[CONFIG] = config
    app[REFRESH] = RefreshTokens(store.connection, tokens.clock)
    app[IDEMPOTENCY] = IdempotencyStore(store.connection, tokens.clock)
    app[LIMITER] = RateLimiter(rate=config.rate, burst=config.burst, clock=tokens.clock)
    app[FAULTS] = FaultSwitch(config=config.faults, rng=random.Random(config.seed))
    app[EVENTS] = EventHub()
    # The errors under the app (aiohttp's HTTP/1 parser: 400, 414, 431; the HTTP/2 and
    # HTTP/3 layers' own) are problem documents too, as every other error the API gives.
    page: ErrorPage = _layer_problem
    app[ERROR_PAGE] = page
    r = app.router
    r.add_get("/healthz", healthz)
    r.add_get("/api", info)
    r.add_get("/api/openapi.json", openapi)
    r.add_post("/api/login", auth.login)
    r.add_post("/api/token/refresh", auth.refresh)
    r.add_get("/api/me", me)
    r.add_get("/api/users", users.list_users)
    r.add_post("/api/users", users.create_user)
    r.add_route("OPTIONS", "/api/users", users.options_collection)
    r.add_get("/api/users/events", user_events)  # before {username}: first match wins
    r.add_get("/api/users/{username}", users.get_user)
    r.add_put("/api/users/{username}", users.put_user)
    r.add_patch("/api/users/{username}", users.patch_user)
    r.add_delete("/api/users/{username}", users.delete_user)
    r.add_route("OPTIONS", "/api/users/{username}", users.options_item)
    r.add_get("/__fault", admin.show_faults)
    r.add_post("/__fault", admin.set_faults)
    r.add_delete("/__fault", admin.clear_faults)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        yield
        await app[EVENTS].close_all()
        app[STORE].close()

    app.cleanup_ctx.append(lifecycle)
    add_hsts(app)
    return app

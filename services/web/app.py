"""The origin web server: static site per virtual host, dynamic pages, /healthz, /whoami."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from services.common.hsts import add_hsts
from services.common.logs import log_event
from services.web import pages
from services.web.content import Asset, Site, lookup, not_modified, public_host
from services.web.encoding import choose
from services.web.sessions import Sessions

SITE: web.AppKey[Site] = web.AppKey("site", Site)
logger = logging.getLogger(__name__)

READ_ONLY = "GET, HEAD, OPTIONS"


def _asset_response(request: web.Request, asset: Asset, status: int = 200) -> web.Response:
    coding = choose(request.headers.get("Accept-Encoding"), asset.encodings)
    body, etag = asset.variant(coding)
    headers = {
        "Cache-Control": asset.cache_control,
        "ETag": etag,
        "Last-Modified": asset.last_modified,
    }
    if asset.negotiated:
        headers["Vary"] = "Accept-Encoding"
    if asset.cors:
        headers["Access-Control-Allow-Origin"] = "*"
    if status == 200 and not_modified(request.headers, asset, etag):
        # A 304 carries the validators and Cache-Control, no body (RFC 9110 §15.4.5).
        return web.Response(status=304, headers=headers)
    headers["Content-Type"] = asset.content_type
    if coding:
        headers["Content-Encoding"] = coding
    return web.Response(status=status, body=body, headers=headers)


async def healthz(request: web.Request) -> web.Response:
    """Liveness for the compose health check: the process serves HTTPS."""
    return web.json_response(
        {"status": "ok", "service": "web"}, headers={"Cache-Control": "no-store"}
    )


async def whoami(request: web.Request) -> web.Response:
    """A dynamic page: what the origin saw of the request, never cached (no-store)."""
    seen = {
        name: request.headers.get(name)
        for name in (
            "Host",
            "X-Forwarded-Host",
            "X-Forwarded-For",
            "X-Forwarded-Proto",
            "Via",
            "User-Agent",
        )
    }
    doc = {
        "peer": request.remote,
        "public_host": public_host(request.headers),
        "headers": {k: v for k, v in seen.items() if v is not None},
    }
    return web.Response(
        text=json.dumps(doc, indent=2) + "\n",
        content_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


async def serve_file(request: web.Request) -> web.StreamResponse:
    if request.method == "OPTIONS":
        # RFC 9110 §9.3.7: Allow lists what this resource supports.
        return web.Response(status=204, headers={"Allow": READ_ONLY})
    if request.method not in ("GET", "HEAD"):
        return web.Response(
            status=405,
            text="405 Method Not Allowed: this page is read-only\n",
            headers={"Allow": READ_ONLY},
        )
    site = request.app[SITE]
    asset = lookup(site, public_host(request.headers), request.path)
    if asset is None:
        return _asset_response(request, site.not_found, status=404)
    return _asset_response(request, asset)


def _methods(allow: str) -> Callable[[web.Request], Any]:
    async def options(request: web.Request) -> web.Response:
        return web.Response(status=204, headers={"Allow": allow})

    return options


@web.middleware
async def origin_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """An exception in a handler becomes the site's real 500 page, and a log event."""
    try:
        response: web.StreamResponse = await handler(request)
    except web.HTTPException:
        raise
    except Exception as e:
        log_event(logger, "error", path=request.path, error=f"{type(e).__name__}: {e}")
        response = _asset_response(request, request.app[SITE].server_error, status=500)
    return response


def make_app(site: Site, sessions: Sessions | None = None) -> web.Application:
    app = web.Application(middlewares=[origin_middleware], client_max_size=pages.MAX_FORM)
    app[SITE] = site
    app[pages.SESSIONS] = sessions or Sessions(clock=time.time)

    # aiosignal's generic typing does not match aiohttp 3.11's handler type; runtime is fine.
    add_hsts(app)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/whoami", whoami)
    app.router.add_get("/account", pages.account)
    app.router.add_route("OPTIONS", "/account", _methods("GET, HEAD, OPTIONS"))
    app.router.add_post("/contact", pages.contact_post)
    app.router.add_route("OPTIONS", "/contact", _methods("GET, HEAD, POST, OPTIONS"))
    app.router.add_get("/contact", serve_file)
    app.router.add_get("/error", pages.error)
    app.router.add_route("*", "/{path:.*}", serve_file)
    return app

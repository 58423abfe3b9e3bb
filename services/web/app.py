"""The origin web server: static site per virtual host, /healthz, /whoami."""

from __future__ import annotations

import json

from aiohttp import web

from services.web.content import Asset, Site, lookup, not_modified, public_host

SITE: web.AppKey[Site] = web.AppKey("site", Site)

ALLOWED = "GET, HEAD"


def _asset_response(request: web.Request, asset: Asset, status: int = 200) -> web.Response:
    headers = {"Cache-Control": asset.cache_control, "ETag": asset.etag,
               "Last-Modified": asset.last_modified}
    if status == 200 and not_modified(request.headers, asset):
        # A 304 carries the validators and Cache-Control, no body (RFC 9110 §15.4.5).
        return web.Response(status=304, headers=headers)
    return web.Response(status=status, body=asset.body, content_type=None,
                        headers={**headers, "Content-Type": asset.content_type})


async def healthz(request: web.Request) -> web.Response:
    """Liveness for the compose health check: the process serves HTTPS."""
    return web.json_response({"status": "ok", "service": "web"},
                             headers={"Cache-Control": "no-store"})


async def whoami(request: web.Request) -> web.Response:
    """A dynamic page: what the origin saw of the request, never cached (no-store)."""
    seen = {name: request.headers.get(name) for name in
            ("Host", "X-Forwarded-Host", "X-Forwarded-For", "X-Forwarded-Proto", "Via",
             "User-Agent")}
    doc = {"peer": request.remote, "public_host": public_host(request.headers),
           "headers": {k: v for k, v in seen.items() if v is not None}}
    return web.Response(text=json.dumps(doc, indent=2) + "\n", content_type="application/json",
                        headers={"Cache-Control": "no-store"})


async def serve_file(request: web.Request) -> web.StreamResponse:
    if request.method not in ("GET", "HEAD"):
        return web.Response(status=405, text="405 Method Not Allowed: this site is read-only\n",
                            headers={"Allow": ALLOWED})
    site = request.app[SITE]
    asset = lookup(site, public_host(request.headers), request.path)
    if asset is None:
        return _asset_response(request, site.not_found, status=404)
    return _asset_response(request, asset)


def make_app(site: Site) -> web.Application:
    app = web.Application()
    app[SITE] = site
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/whoami", whoami)
    app.router.add_route("*", "/{path:.*}", serve_file)
    return app

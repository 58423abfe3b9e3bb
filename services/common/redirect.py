"""The plain-HTTP listener: every request is sent to HTTPS (RFC 9110 §15.4.2, 301).

``http://www.example.com/a?b`` -> ``https://www.example.com/a?b``. The host is
taken from the request (without the port: HTTPS is on 443) but only if it is a
syntactically valid name or address, so the redirect cannot be aimed anywhere
odd by a crafted Host header. Strict-Transport-Security is not sent here: it
counts only over HTTPS (RFC 6797 §7.2).
"""

from __future__ import annotations

import re

from aiohttp import web

from services.common.hosts import normalize_host

_HOST = re.compile(
    r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*"
    r"|\[[0-9a-f:.]+\]"
)


def https_location(host_header: str, path_qs: str) -> str | None:
    """The https:// URL for this request, or None when the Host is unusable."""
    host = normalize_host(host_header)
    if not host or not _HOST.fullmatch(host):
        return None
    return f"https://{host}{path_qs}"


async def to_https(request: web.Request) -> web.Response:
    location = https_location(request.headers.get("Host", ""), request.raw_path)
    if location is None:
        return web.Response(status=400, text="400 Bad Request: a Host header is required\n")
    return web.Response(
        status=301, headers={"Location": location, "Cache-Control": "public, max-age=3600"}
    )


def make_redirect_app() -> web.Application:
    app = web.Application()
    app.router.add_route("*", "/{path:.*}", to_https)
    return app

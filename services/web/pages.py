"""The origin's dynamic pages: /account (cookie, chunked), /contact (POST -> 303), /error."""

from __future__ import annotations

import html
import logging
from urllib.parse import parse_qs

from aiohttp import web

from services.common.logs import log_event
from services.web.sessions import COOKIE, Sessions, set_cookie

SESSIONS: web.AppKey[Sessions] = web.AppKey("sessions", Sessions)
logger = logging.getLogger(__name__)
FORM = "application/x-www-form-urlencoded"
MAX_FORM = 16 * 1024

_HEAD = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Your account</title>
<link rel="stylesheet" href="https://static.example.com/css/site.css"></head>
<body>
<h1>Your account</h1>
"""
_FOOT = """<p>This page is personal, so it says <code>Cache-Control: no-store</code>: neither the
edge nor the browser may keep it. It was sent in chunks (<code>Transfer-Encoding:
chunked</code>, RFC 9112 §7.1), each written as soon as it was ready.</p>
<p><a href="/">Back</a></p>
</body>
</html>
"""


async def account(request: web.Request) -> web.StreamResponse:
    """Counts visits in a server-side session; streams the page in three chunks."""
    session, new = request.app[SESSIONS].visit(request.cookies.get(COOKIE))
    response = web.StreamResponse(
        headers={"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"}
    )
    if new:
        response.headers["Set-Cookie"] = set_cookie(session.id)
    response.enable_chunked_encoding()  # no Content-Length: the length is not known up front
    await response.prepare(request)
    if request.method == "HEAD":
        return response
    await response.write(_HEAD.encode())
    if new:
        said = "This is your first visit: the origin just set a session cookie."
    else:
        said = (
            f"Visit number {session.visits} in this session. Your browser sent the "
            f"cookie <code>{COOKIE}={html.escape(session.id[:6])}&hellip;</code>."
        )
    await response.write(f"<p>{said}</p>\n".encode())
    await response.write(_FOOT.encode())
    await response.write_eof()
    return response


def _form_error(status: int, message: str) -> web.Response:
    body = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{status}'
        f"</title></head><body><h1>The form was not sent</h1><p>{html.escape(message)}</p>"
        '<p><a href="/contact">Back to the form</a></p></body></html>\n'
    )
    return web.Response(
        status=status, text=body, content_type="text/html", headers={"Cache-Control": "no-store"}
    )


async def contact_post(request: web.Request) -> web.Response:
    """POST/redirect/GET: a valid form gets 303 See Other to /thanks (RFC 9110 §15.4.4)."""
    if request.content_type != FORM:
        return _form_error(415, f"send the form as {FORM}")
    if (request.content_length or 0) > MAX_FORM:
        return _form_error(413, f"the form is larger than {MAX_FORM} bytes")
    raw = await request.read()
    fields = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
    name = fields.get("name", [""])[0].strip()
    message = fields.get("message", [""])[0].strip()
    if not name or not message or len(name) > 80 or len(message) > 2000:
        return _form_error(
            400, "name (up to 80 characters) and message (up to 2000) are both required"
        )
    log_event(logger, "contact", name=name, length=len(message))
    return web.Response(status=303, headers={"Location": "/thanks", "Cache-Control": "no-store"})


async def error(request: web.Request) -> web.Response:
    """A real failure inside a handler, for the 500 scenario."""
    raise RuntimeError("deliberate failure at /error (the 500 scenario)")

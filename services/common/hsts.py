"""Strict-Transport-Security for the lab's HTTPS sites (RFC 6797).

A year and includeSubDomains, as a production site sends it: once a browser
has seen it over HTTPS, it goes straight to https:// for the name and every
name under it, for a year, without first trying http:// (the redirect's
round trip and its exposure are gone on the second visit). The lab's own
browsers start every run with a fresh profile, so no pin outlives a run; a
user's own browser that trusts the lab CA would keep it for example.com
(RFC 6797 §12.4: clearing it is the browser's business).
"""

from __future__ import annotations

from aiohttp import web

HSTS = "max-age=31536000; includeSubDomains"


async def _add(_request: web.Request, response: web.StreamResponse) -> None:
    response.headers.setdefault("Strict-Transport-Security", HSTS)


def add_hsts(app: web.Application) -> None:
    """HSTS on every response of APP, streamed ones and errors too (over HTTPS only, §7.2)."""
    app.on_response_prepare.append(_add)  # type: ignore[arg-type]

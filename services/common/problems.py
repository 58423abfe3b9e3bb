"""Problem details (RFC 9457): the one JSON shape for an error, shared by the API and the edge.

Each service chooses its own ``type`` URIs; a failure with no meaning beyond
its status code is "about:blank", whose title is the status phrase (§4.2.1).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from aiohttp import web

CONTENT_TYPE = "application/problem+json"
BLANK = "about:blank"


def document(
    status: int,
    *,
    type_uri: str = BLANK,
    title: str | None = None,
    detail: str | None = None,
    **extensions: Any,
) -> dict[str, Any]:
    """The problem object: type, title, status, then detail and any extension members."""
    if not title:
        try:
            title = HTTPStatus(status).phrase
        except ValueError:  # a status Python does not name (an upstream's 599, say)
            title = f"HTTP status {status}"
    doc: dict[str, Any] = {"type": type_uri, "title": title, "status": status}
    if detail:
        doc["detail"] = detail
    doc.update(extensions)
    return doc


def response(
    status: int,
    *,
    type_uri: str = BLANK,
    title: str | None = None,
    detail: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> web.Response:
    """A problem+json response, never stored: an error is about this request only."""
    doc = document(status, type_uri=type_uri, title=title, detail=detail, **extensions)
    return web.Response(
        status=status,
        text=json.dumps(doc) + "\n",
        content_type=CONTENT_TYPE,
        headers={**(headers or {}), "Cache-Control": "no-store"},
    )

"""Errors as problem details (RFC 9457): one JSON shape for every failure.

Specific problem types get a URI under the API's own name; generic HTTP
failures use "about:blank", whose title is the status phrase (RFC 9457 §4.2.1).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from aiohttp import web

TYPE_BASE = "https://api.example.com/problems/"
CONTENT_TYPE = "application/problem+json"


def problem(status: int, *, detail: str | None = None, type_: str | None = None,
            title: str | None = None, headers: Mapping[str, str] | None = None,
            **extensions: Any) -> web.Response:
    """A problem+json response; ``type_`` is a slug under TYPE_BASE or None."""
    doc: dict[str, Any] = {
        "type": TYPE_BASE + type_ if type_ else "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
    }
    if detail:
        doc["detail"] = detail
    doc.update(extensions)
    return web.Response(status=status, text=json.dumps(doc) + "\n",
                        content_type=CONTENT_TYPE, headers={**(headers or {}),
                                                            "Cache-Control": "no-store"})


def field_error(field: str, detail: str) -> dict[str, str]:
    """One entry of a validation problem's "errors", as in RFC 9457 §3's example."""
    return {"pointer": f"#/{field}", "field": field, "detail": detail}


@web.middleware
async def problem_middleware(request: web.Request,
                             handler: Any) -> web.StreamResponse:
    """Turn aiohttp's own 404/405/413 into problem documents too."""
    try:
        response: web.StreamResponse = await handler(request)
    except web.HTTPException as e:
        if e.status < 400:
            raise
        headers = {k: v for k, v in e.headers.items() if k.lower() == "allow"}
        return problem(e.status, headers=headers,
                       detail=f"{request.method} {request.path} is not available here")
    return response

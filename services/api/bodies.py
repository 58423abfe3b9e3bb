"""Reading request bodies: media type (415), size (413), JSON syntax (400).

Each check answers with its own status so a client can tell what to fix:
RFC 9110 §15.5.16 (415, with Accept/Accept-Patch naming what is accepted),
§15.5.14 (413), and 400 for a body that is not JSON at all.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from services.api.problems import ApiProblem

JSON = "application/json"


async def read_json(
    request: web.Request, media_type: str = JSON, *, max_body: int
) -> tuple[Any, bytes]:
    """The parsed body and its raw bytes (for idempotency fingerprints)."""
    if request.content_type != media_type:
        # Accept-Patch (RFC 5789 §3.1) on PATCH, Accept-Post for POST-like writes.
        advertise = "Accept-Patch" if request.method == "PATCH" else "Accept-Post"
        sent = request.headers.get("Content-Type", "none")
        raise ApiProblem(
            415,
            type_="unsupported-media-type",
            detail=f"send the body as {media_type} (got {sent})",
            headers={advertise: media_type},
        )
    if request.content_length is not None and request.content_length > max_body:
        raise ApiProblem(
            413,
            type_="body-too-large",
            detail=f"the body is {request.content_length} bytes; the limit is {max_body}",
            limit=max_body,
        )
    raw = await request.read()  # aiohttp's client_max_size also stops chunked bodies
    try:
        return json.loads(raw), raw
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ApiProblem(
            400, type_="invalid-json", title="Body is not valid JSON", detail=str(e)
        ) from e


async def read_object(
    request: web.Request, media_type: str = JSON, *, max_body: int
) -> tuple[dict[str, Any], bytes]:
    """Like ``read_json``, and the body must be a JSON object."""
    body, raw = await read_json(request, media_type, max_body=max_body)
    if not isinstance(body, dict):
        raise ApiProblem(
            400,
            type_="invalid-json",
            title="Body is not a JSON object",
            detail=f"expected a JSON object, got {type(body).__name__}",
        )
    return body, raw

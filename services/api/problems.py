"""Errors as problem details (RFC 9457): one JSON shape for every failure.

Specific problem types get a URI under the API's own name; generic HTTP
failures use "about:blank", whose title is the status phrase (RFC 9457 §4.2.1).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from services.common import problems
from services.common.problems import CONTENT_TYPE as CONTENT_TYPE  # openapi.py names it

TYPE_BASE = "https://api.example.com/problems/"


def problem(
    status: int,
    *,
    detail: str | None = None,
    type_: str | None = None,
    title: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> web.Response:
    """A problem+json response; ``type_`` is a slug under TYPE_BASE or None."""
    return problems.response(
        status,
        type_uri=TYPE_BASE + type_ if type_ else problems.BLANK,
        title=title,
        detail=detail,
        headers=headers,
        **extensions,
    )


def field_error(field: str, detail: str) -> dict[str, str]:
    """One entry of a validation problem's "errors", as in RFC 9457 §3's example.

    ``pointer`` is a JSON Pointer (RFC 6901) as a URI fragment, "#/email".
    """
    escaped = field.replace("~", "~0").replace("/", "~1")
    return {"pointer": f"#/{escaped}", "field": field, "detail": detail}


class ApiProblem(Exception):
    """Raised anywhere in a handler; ``problem_middleware`` answers it as problem+json."""

    def __init__(
        self,
        status: int,
        *,
        detail: str | None = None,
        type_: str | None = None,
        title: str | None = None,
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail or title or str(status))
        self.status = status
        self.detail = detail
        self.type_ = type_
        self.title = title
        self.headers = dict(headers or {})
        self.extensions = extensions

    def response(self) -> web.Response:
        return problem(
            self.status,
            detail=self.detail,
            type_=self.type_,
            title=self.title,
            headers=self.headers,
            **self.extensions,
        )


def invalid(errors: list[tuple[str, str]]) -> ApiProblem:
    """422 with every field at fault in ``errors`` (RFC 9457 §3 extension member)."""
    return ApiProblem(
        422,
        type_="validation-error",
        title="Invalid request body",
        detail="; ".join(f"{f}: {d}" for f, d in errors),
        errors=[field_error(f, d) for f, d in errors],
    )


@web.middleware
async def problem_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """Answer ``ApiProblem`` and aiohttp's own 404/405/413 as problem documents."""
    try:
        response: web.StreamResponse = await handler(request)
    except ApiProblem as e:
        return e.response()
    except web.HTTPException as e:
        if e.status < 400:
            raise
        headers = {k: v for k, v in e.headers.items() if k.lower() == "allow"}
        # 404/405 come from the router; anything else (413 from read()) says why itself.
        detail = (
            f"{request.method} {request.path} is not available here"
            if e.status in (404, 405)
            else e.text
        )
        return problem(e.status, headers=headers, detail=detail)
    return response

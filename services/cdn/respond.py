"""Building the edge's answers: from a stored or fetched response, or its own errors."""

from __future__ import annotations

from dataclasses import replace
from email.utils import formatdate

from aiohttp import web

from services.cdn.cache import Entry
from services.cdn.cachestatus import GENERATED, Outcome
from services.cdn.onewrite import OneWriteResponse
from services.cdn.routing import VIA
from services.cdn.validation import not_modified
from services.common import problems

# Fields that describe content, left out of a 304 (RFC 9110 §15.4.5).
CONTENT_FIELDS = frozenset({"content-type", "content-encoding", "content-language"})
# An error answered before the cache or any upstream had a part in it.
BYPASS = Outcome("BYPASS")


def edge_error(status: int, detail: str, outcome: Outcome = BYPASS) -> web.Response:
    """An error the edge makes itself: a problem document (RFC 9457), never stored.

    ``outcome`` says what the cache did before giving up (``fwd`` when it tried the
    upstream); Cache-Status adds that this answer is the edge's own (RFC 9211 §2.8).
    """
    generated = replace(outcome, detail=GENERATED)
    headers = {"X-Cache": generated.x_cache, "Cache-Status": generated.header(), "Via": VIA}
    return problems.response(status, detail=detail, headers=headers)


def from_entry(
    request: web.Request, entry: Entry, outcome: Outcome, *, age: float | None, now: float
) -> web.Response:
    """The client's answer from a response; ``age`` None keeps the upstream's Age."""
    headers = list(entry.kept_headers)
    prior = entry.prior
    if age is None:
        headers.extend((n, v) for n, v in entry.headers if n.lower() == "age")
    elif age >= 1 or outcome.hit:
        headers.append(("Age", str(int(age))))  # RFC 9111 §5.1: whole seconds
    if "Date" not in entry.header_map():
        # RFC 9110 §6.6.1: a recipient of a response without Date adds one.
        headers.append(("Date", formatdate(now, usegmt=True)))
    headers.append(("X-Cache", outcome.x_cache))
    # RFC 9211 §2: each cache appends its own member, nearest the client last.
    status = outcome.header()
    headers.append(
        (
            "Cache-Status",
            f"{prior['cache-status']}, {status}" if "cache-status" in prior else status,
        )
    )
    headers.append(("Via", f"{prior['via']}, {VIA}" if "via" in prior else VIA))
    if (
        entry.status == 200
        and request.method in ("GET", "HEAD")
        and not_modified(request.headers, entry.header_map())
    ):
        # RFC 9110 §15.4.5: 304 repeats the fields a 200 would have sent, minus content.
        return OneWriteResponse(
            status=304, headers=[(n, v) for n, v in headers if n.lower() not in CONTENT_FIELDS]
        )
    return OneWriteResponse(status=entry.status, body=entry.body, headers=headers)

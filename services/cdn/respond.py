"""Building the edge's answers: from a stored or fetched response, or its own errors."""

from __future__ import annotations

from email.utils import formatdate

from aiohttp import web
from multidict import CIMultiDict

from services.cdn.cache import Entry
from services.cdn.cachestatus import Outcome
from services.cdn.routing import append_via
from services.cdn.validation import not_modified


def plain(status: int, text: str, outcome: Outcome) -> web.Response:
    """An answer the edge makes itself, never cached by anyone."""
    headers = CIMultiDict({"Cache-Control": "no-store", "X-Cache": outcome.x_cache,
                           "Cache-Status": outcome.header()})
    append_via(headers)
    return web.Response(status=status, text=text.rstrip("\n") + "\n", headers=headers)


def from_entry(request: web.Request, entry: Entry, outcome: Outcome, *,
               age: float | None, now: float) -> web.Response:
    """The client's answer from a response; ``age`` None keeps the upstream's Age."""
    headers = CIMultiDict(entry.headers)
    if age is not None:
        headers.popall("Age", None)
        if age >= 1 or outcome.hit:
            headers["Age"] = str(int(age))  # RFC 9111 §5.1: whole seconds
    if "Date" not in headers:
        # RFC 9110 §6.6.1: a recipient of a response without Date adds one.
        headers["Date"] = formatdate(now, usegmt=True)
    headers["X-Cache"] = outcome.x_cache
    prior = ", ".join(headers.popall("Cache-Status", []))
    # RFC 9211 §2: each cache appends its own member, nearest the client last.
    headers["Cache-Status"] = f"{prior}, {outcome.header()}" if prior else outcome.header()
    append_via(headers)
    if (request.method in ("GET", "HEAD") and entry.status == 200
            and not_modified(request.headers, entry.header_map())):
        # RFC 9110 §15.4.5: 304 repeats the fields a 200 would have sent, minus content.
        for name in ("Content-Type", "Content-Encoding", "Content-Language"):
            headers.popall(name, None)
        return web.Response(status=304, headers=headers)
    return web.Response(status=entry.status, body=entry.body, headers=headers)

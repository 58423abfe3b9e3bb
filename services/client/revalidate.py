"""The browser's HTTP cache: what it keeps, what a reload asks, what a 304 stands for; no I/O.

This client never reuses a response without asking first: a reload revalidates
everything it kept (RFC 9111 §4.3), so there is no freshness arithmetic here
(the edge's is services/cdn/freshness.py). What remains is which responses are
worth keeping (those with a validator, RFC 9110 §8.8), the conditional fields a
later request carries (RFC 9110 §13.1, RFC 9111 §4.3.1), and what the answer
means: a 304 says "use your copy" (RFC 9111 §4.3.4); any other response is
itself the answer (RFC 9111 §4.3.3).

Browser.fetch in browse.py does the I/O around these functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# Response fields as http.client gives them (HTTPResponse.getheaders()): in
# order, names in the server's spelling, a repeated field once per line.
Fields = Sequence[tuple[str, str]]


@dataclass(frozen=True)
class Stored:
    """What the client kept of a response to revalidate it later (RFC 9111 §4.3.1)."""

    etag: str
    last_modified: str
    content_type: str
    body: bytes


@dataclass(frozen=True)
class Outcome:
    """What a response leaves the client with: the content to use and the copy to keep."""

    body: bytes
    stored: Stored | None


def field_value(fields: Fields, name: str) -> str:
    """NAME's value, matched case-insensitively, repeated lines joined by commas
    (RFC 9110 §5.3), as http.client's getheader does; "" when absent."""
    wanted = name.lower()
    return ", ".join(value for field, value in fields if field.lower() == wanted)


def conditional_headers(stored: Stored | None) -> dict[str, str]:
    """The validators a later request for a kept response carries (RFC 9110 §13.1)."""
    # RFC 9111 §4.3.1: send the entity tag when there is one, and Last-Modified as
    # well for a request of the whole representation. A server that understands
    # If-None-Match ignores If-Modified-Since (RFC 9110 §13.1.3), so sending both
    # costs nothing and still lets a server without ETags compare dates. The
    # values go back verbatim: an entity tag is opaque to the client (§8.8.3).
    # No Cache-Control either: a cache on the way holding a fresh copy may then
    # answer the 304 itself (RFC 9111 §4.3.2).
    out: dict[str, str] = {}
    if stored is None:
        return out
    if stored.etag:
        out["If-None-Match"] = stored.etag
    if stored.last_modified:
        out["If-Modified-Since"] = stored.last_modified
    return out


def keep(status: int, fields: Fields, body: bytes) -> Stored | None:
    """The copy to keep of a response: a 200 with an ETag or a Last-Modified, else None."""
    # Everything kept is revalidated before reuse, so a response without a
    # validator could never be reused: not worth keeping. Only a 200 carries a
    # whole representation whose body can stand in for a later 304.
    etag = field_value(fields, "ETag")
    last_modified = field_value(fields, "Last-Modified")
    if status != 200 or not (etag or last_modified):
        return None
    return Stored(etag, last_modified, field_value(fields, "Content-Type"), body)


def receive(stored: Stored | None, status: int, fields: Fields, body: bytes) -> Outcome:
    """Combine a response with the copy kept from an earlier visit.

    A 304 to the conditional request stands for the kept copy: its body is the
    one to use and the copy stays as it was. Any other response is used as it
    came; it replaces the kept copy when it is worth keeping itself, and leaves
    the old one in place when not.

    This is the browser's behaviour as it was before these rules moved here, and
    it is looser than RFC 9111 in three ways: the 304's fields are not merged
    into the kept copy (§4.3.4 would update its validators and Content-Type);
    a 304 is not matched against the kept ETag before its body is reused
    (§4.3.4 selects the stored response by strong validator); and a full
    response without a validator leaves the old copy to be revalidated again,
    though §4.3.3 says a full response means that copy is no longer suitable.
    """
    if status == 304 and stored is not None:
        # A 304 ends with its header section; it has no content (RFC 9110 §15.4.5).
        return Outcome(stored.body, stored)
    fresh = keep(status, fields, body)
    return Outcome(body, fresh if fresh is not None else stored)


def representation_type(status: int, content_type: str, stored: Stored | None) -> str:
    """The Content-Type of what a response stands for: its own for a 200, the kept copy's
    for a 304 (which describes the stored representation, RFC 9111 §4.3.4), else ""."""
    if status == 200:
        return content_type
    if status == 304 and stored is not None:
        return stored.content_type
    return ""

"""services.client.revalidate: what the browser keeps, sends on a reload, and makes of a 304."""

from __future__ import annotations

import pytest

from services.client.revalidate import (
    Outcome,
    Stored,
    conditional_headers,
    field_value,
    keep,
    receive,
    representation_type,
)

LM = "Mon, 13 Nov 2023 22:13:20 GMT"
PAGE = b"<html>old</html>"
KEPT = Stored('"v1"', LM, "text/html", PAGE)


@pytest.mark.parametrize(
    ("fields", "name", "value"),
    [
        ([("ETag", '"a"')], "ETag", '"a"'),
        ([("etag", '"a"')], "ETag", '"a"'),
        ([("ETag", '"a"')], "etag", '"a"'),
        ([("X-A", "1"), ("Content-Type", "text/css"), ("x-a", "2")], "X-A", "1, 2"),
        ([("Content-Type", "text/css")], "ETag", ""),
        ([], "ETag", ""),
    ],
)
def test_field_value(fields: list[tuple[str, str]], name: str, value: str) -> None:
    """Field names match case-insensitively and repeated lines join with commas
    (RFC 9110 §5.1, §5.3); an absent field reads as ""."""
    assert field_value(fields, name) == value


@pytest.mark.parametrize(
    ("stored", "sent"),
    [
        (KEPT, {"If-None-Match": '"v1"', "If-Modified-Since": LM}),
        (Stored('"v1"', "", "text/css", b""), {"If-None-Match": '"v1"'}),
        (Stored("", LM, "text/css", b""), {"If-Modified-Since": LM}),
        (Stored('W/"v1"', "", "text/css", b""), {"If-None-Match": 'W/"v1"'}),
        (Stored("", "", "text/css", b""), {}),
        (None, {}),
    ],
)
def test_conditional_headers(stored: Stored | None, sent: dict[str, str]) -> None:
    """A reload sends the kept ETag as If-None-Match and Last-Modified as If-Modified-Since,
    verbatim, weak tags included, and nothing else (no Cache-Control, RFC 9111 §4.3.1-2)."""
    assert conditional_headers(stored) == sent


@pytest.mark.parametrize(
    ("status", "fields", "kept"),
    [
        (
            200,
            [("Content-Type", "text/html"), ("ETag", '"v1"'), ("Last-Modified", LM)],
            Stored('"v1"', LM, "text/html", b"body"),
        ),
        (200, [("Etag", '"v1"')], Stored('"v1"', "", "", b"body")),
        (200, [("last-modified", LM)], Stored("", LM, "", b"body")),
        (200, [("Content-Type", "text/html")], None),
        (200, [("ETag", "")], None),
        (304, [("ETag", '"v1"')], None),
        (206, [("ETag", '"v1"')], None),
        (404, [("ETag", '"v1"'), ("Last-Modified", LM)], None),
    ],
)
def test_keep(status: int, fields: list[tuple[str, str]], kept: Stored | None) -> None:
    """Only a 200 with an ETag or a Last-Modified is kept, with its Content-Type and body: a
    copy without a validator could never be revalidated (RFC 9110 §8.8)."""
    assert keep(status, fields, b"body") == kept


def test_keep_joins_repeated_etag_lines() -> None:
    """Repeated validator lines are kept joined, as http.client's getheader reads them
    (RFC 9110 §5.3)."""
    kept = keep(200, [("ETag", '"a"'), ("ETag", '"b"')], b"")
    assert kept is not None
    assert kept.etag == '"a", "b"'


@pytest.mark.parametrize(
    ("stored", "status", "fields", "body", "outcome"),
    [
        # RFC 9111 §4.3.4: a 304 stands for the kept copy; the 304 has no content.
        (KEPT, 304, [("ETag", '"v1"')], b"", Outcome(PAGE, KEPT)),
        (KEPT, 304, [], b"", Outcome(PAGE, KEPT)),
        # A 304 with nothing kept (not to a conditional of ours) is used as it came.
        (None, 304, [("ETag", '"v1"')], b"", Outcome(b"", None)),
        # §4.3.3: a full response is the answer and, with a validator, the new copy.
        (
            KEPT,
            200,
            [("Content-Type", "text/html"), ("ETag", '"v2"')],
            b"new",
            Outcome(b"new", Stored('"v2"', "", "text/html", b"new")),
        ),
        (
            None,
            200,
            [("Last-Modified", LM)],
            b"new",
            Outcome(b"new", Stored("", LM, "", b"new")),
        ),
        # A full response without a validator is used, but the old copy stays kept.
        (KEPT, 200, [("Content-Type", "text/html")], b"new", Outcome(b"new", KEPT)),
        (None, 200, [("Content-Type", "text/html")], b"new", Outcome(b"new", None)),
        # Neither an error nor another status touches the kept copy.
        (KEPT, 404, [("ETag", '"v9"')], b"gone", Outcome(b"gone", KEPT)),
        (KEPT, 500, [], b"", Outcome(b"", KEPT)),
    ],
)
def test_receive(
    stored: Stored | None,
    status: int,
    fields: list[tuple[str, str]],
    body: bytes,
    outcome: Outcome,
) -> None:
    """A 304 yields the kept body and copy (RFC 9111 §4.3.4); any other response its own body,
    replacing the kept copy only when it is worth keeping itself (§4.3.3)."""
    assert receive(stored, status, fields, body) == outcome


def test_receive_does_not_merge_304_fields() -> None:
    """The 304's own validators and Content-Type do not replace the kept ones: the copy is kept
    exactly as it was (narrower than RFC 9111 §4.3.4, as the browser has always behaved)."""
    update = [("ETag", '"v1"'), ("Last-Modified", "Tue, 14 Nov 2023 22:13:20 GMT")]
    update.append(("Content-Type", "text/plain"))
    assert receive(KEPT, 304, update, b"").stored is KEPT


@pytest.mark.parametrize(
    ("status", "content_type", "stored", "shown"),
    [
        (200, "text/html; charset=utf-8", None, "text/html; charset=utf-8"),
        (200, "text/css", KEPT, "text/css"),
        (304, "", KEPT, "text/html"),
        (304, "text/plain", KEPT, "text/html"),
        (304, "text/html", None, ""),
        (206, "text/html", None, ""),
        (404, "text/html", KEPT, ""),
    ],
)
def test_representation_type(
    status: int, content_type: str, stored: Stored | None, shown: str
) -> None:
    """A 200 is what its Content-Type says; a 304 is the kept copy, whatever it carries (RFC 9111
    §4.3.4); no other status (206 or an error) gives the browser a page to parse."""
    assert representation_type(status, content_type, stored) == shown

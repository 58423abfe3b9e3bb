"""services.cdn.validation: conditionals up and down, 304 freshening (RFC 9111 §4.3)."""

from __future__ import annotations

import pytest

from services.cdn.validation import (
    conditional_headers,
    etag_matches,
    freshen,
    not_modified,
)

LM = "Mon, 13 Nov 2023 22:13:20 GMT"
LATER = "Tue, 14 Nov 2023 22:13:20 GMT"
EARLIER = "Sun, 12 Nov 2023 22:13:20 GMT"


def test_etag_matches() -> None:
    """If-None-Match uses weak comparison and '*' matches any stored ETag (RFC 9110 §13.1.2)."""
    assert etag_matches('"a"', '"a"')
    assert etag_matches('W/"a"', '"a"')
    assert etag_matches('"x", "a"', 'W/"a"')
    assert not etag_matches('"b"', '"a"')
    assert etag_matches("*", '"a"')
    assert not etag_matches("*", None)


def test_conditional_headers() -> None:
    """The edge revalidates with the stored ETag and Last-Modified (§4.3.1)."""
    assert conditional_headers({"ETag": '"v1"', "Last-Modified": LM}) == {
        "If-None-Match": '"v1"',
        "If-Modified-Since": LM,
    }
    assert conditional_headers({}) == {}


def test_freshen() -> None:
    """A 304's fields replace the stored ones; content-describing fields and old Age do not
    (§3.2)."""
    stored = (
        ("Content-Type", "text/css"),
        ("Cache-Control", "max-age=1"),
        ("X-A", "1"),
        ("X-A", "2"),
        ("Age", "50"),
        ("Content-Encoding", "gzip"),
    )
    update = (
        ("Cache-Control", "max-age=100"),
        ("X-A", "3"),
        ("Content-Length", "0"),
        ("X-New", "n"),
        ("X-Secret", "s"),
        ("ETag", '"other"'),
    )
    out = freshen(stored, update, frozenset({"x-secret"}))
    assert dict(out)["Cache-Control"] == "max-age=100"
    assert [v for n, v in out if n == "X-A"] == ["3"]
    assert ("Content-Type", "text/css") in out
    assert ("Content-Encoding", "gzip") in out
    assert ("X-New", "n") in out
    assert ("ETag", '"other"') not in out
    assert all(n not in ("Age", "Content-Length", "X-Secret") for n, _ in out)


# RFC 9110 §13.1.1-§13.1.3 and §13.2.2 precedence; RFC 9111 §4.3.2.
@pytest.mark.parametrize(
    ("req", "stored", "result"),
    [
        ({"If-None-Match": '"a"'}, {"ETag": '"a"'}, True),
        ({"If-None-Match": '"b"'}, {"ETag": '"a"', "Last-Modified": LM}, False),
        (
            {"If-None-Match": '"b"', "If-Modified-Since": LATER},
            {"ETag": '"a"', "Last-Modified": LM},
            False,
        ),
        ({"If-Modified-Since": LATER}, {"Last-Modified": LM}, True),
        ({"If-Modified-Since": LM}, {"Last-Modified": LM}, True),
        ({"If-Modified-Since": EARLIER}, {"Last-Modified": LM}, False),
        ({"If-Modified-Since": LATER}, {"Date": LM}, True),
        ({"If-Modified-Since": "garbage"}, {"Last-Modified": LM}, False),
        ({}, {"ETag": '"a"'}, False),
    ],
)
def test_not_modified(req: dict[str, str], stored: dict[str, str], result: bool) -> None:
    """The edge answers a client's conditional from what it stores."""
    assert not_modified(req, stored) is result

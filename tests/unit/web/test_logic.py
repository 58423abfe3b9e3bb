"""The origin's I/O-free parts: coding negotiation, sessions, fingerprints, redirects."""

from __future__ import annotations

import pytest

from services.common.redirect import https_location
from services.web.encoding import choose, compress, parse_accept_encoding
from services.web.fingerprint import fingerprinted, rewrite
from services.web.sessions import Sessions, set_cookie

BOTH = {"gzip": b"g", "br": b"b"}


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("identity", None),
        ("gzip", "gzip"),
        ("GZIP", "gzip"),
        ("gzip;q=0", None),
        ("*", "br"),
        ("*;q=0.1, gzip;q=0.5", "gzip"),
        ("br;q=0.4, gzip;q=0.9", "gzip"),
        ("gzip, br", "br"),
        ("deflate", None),
        ("gzip;q=abc", None),
    ],
)
def test_choose_coding(header: str | None, expected: str | None) -> None:
    """Accept-Encoding with q-values (RFC 9110 §12.5.3); ties go to the server's preference."""
    pytest.importorskip("brotli")
    assert choose(header, BOTH) == expected


def test_parse_accept_encoding() -> None:
    """Codings are lower-cased and weighted; a missing q means 1."""
    assert parse_accept_encoding("gzip;q=0.5, BR") == {"gzip": 0.5, "br": 1.0}


def test_small_bodies_are_not_compressed() -> None:
    """Below the size threshold there is nothing to gain: no variants."""
    assert compress(b"tiny") == {}
    assert "gzip" in compress(b"a" * 1000)


def test_gzip_output_is_stable() -> None:
    """The same body always compresses to the same bytes (mtime 0), so ETags are stable."""
    assert compress(b"x" * 500)["gzip"] == compress(b"x" * 500)["gzip"]


def test_fingerprint_and_rewrite() -> None:
    """Names gain a content hash; absolute and url() references are rewritten."""
    name = fingerprinted("/css/site.css", b"body{}")
    assert name.startswith("/css/site.")
    assert name.endswith(".css")
    assert len(name) == 22
    text = b'<link href="https://static.example.com/css/site.css"> url(/css/site.css)'
    out = rewrite(text, {"/css/site.css": name})
    assert out == f'<link href="https://static.example.com{name}"> url({name})'.encode()


def test_sessions_count_and_expire() -> None:
    """A known cookie counts visits; an unknown or idle one starts a new session."""
    now = [0.0]
    sessions = Sessions(clock=lambda: now[0], idle=60)
    first, new = sessions.visit(None)
    assert new
    assert first.visits == 1
    again, new = sessions.visit(first.id)
    assert not new
    assert again.visits == 2
    assert sessions.visit("forged-value")[1]
    now[0] = 61
    assert sessions.visit(first.id)[1]


def test_cookie_attributes() -> None:
    """Set-Cookie carries Secure, HttpOnly and SameSite=Lax (RFC 6265 §4.1.2)."""
    assert set_cookie("abc") == "sid=abc; Path=/; Secure; HttpOnly; SameSite=Lax"


@pytest.mark.parametrize(
    ("host", "path", "expected"),
    [
        ("www.example.com", "/a?b=1", "https://www.example.com/a?b=1"),
        ("WWW.Example.com:80", "/", "https://www.example.com/"),
        ("[::1]:80", "/x", "https://[::1]/x"),
        ("", "/", None),
        ("evil.com/path", "/", None),
        ("a b", "/", None),
    ],
)
def test_https_location(host: str, path: str, expected: str | None) -> None:
    """Same host (port dropped) and path on https; malformed hosts get no redirect."""
    assert https_location(host, path) == expected

"""services.web.content: virtual hosts, cache policy and conditional requests, no server."""

from __future__ import annotations

import pytest

from services.common.hosts import normalize_host
from services.web.content import (
    ASSET_CACHE,
    HTML_CACHE,
    IMMUTABLE_CACHE,
    load_site,
    lookup,
    make_asset,
    not_modified,
    public_host,
)
from services.web.fingerprint import fingerprinted

SITE = load_site()


def test_www_serves_index_for_root() -> None:
    """/ on www.example.com is the HTML page, short-lived in caches."""
    asset = lookup(SITE, "www.example.com", "/")
    assert asset is not None
    assert asset.content_type.startswith("text/html")
    assert asset.cache_control == HTML_CACHE
    assert b"What happens when you open this page" in asset.body


def test_page_references_fingerprinted_assets_that_exist() -> None:
    """The page names CSS, JS, images and the font by fingerprint; each is immutable."""
    page = lookup(SITE, "www.example.com", "/")
    assert page is not None
    for path, ctype in (
        ("/css/site.css", "text/css"),
        ("/js/app.js", "text/javascript"),
        ("/img/logo.svg", "image/svg+xml"),
        ("/img/globe-16.png", "image/png"),
        ("/font/weblab-icons.woff2", "font/woff2"),
    ):
        fingered = SITE.renames[path]
        assert f"https://static.example.com{fingered}".encode() in page.body
        assert f"https://static.example.com{path}".encode() not in page.body
        asset = lookup(SITE, "static.example.com", fingered)
        assert asset is not None
        assert asset.content_type.startswith(ctype)
        assert asset.cache_control == IMMUTABLE_CACHE
        plain = lookup(SITE, "static.example.com", path)
        assert plain is not None
        assert plain.cache_control == ASSET_CACHE


def test_css_names_the_fingerprinted_font() -> None:
    """The stylesheet's @font-face points at the font's fingerprinted URL."""
    css = lookup(SITE, "static.example.com", SITE.renames["/css/site.css"])
    assert css is not None
    assert SITE.renames["/font/weblab-icons.woff2"].encode() in css.body
    assert fingerprinted("/css/site.css", css.body) == SITE.renames["/css/site.css"]


def test_font_is_woff2_with_cors() -> None:
    """The font is real WOFF2 (signature wOF2) and allowed cross-origin."""
    font = lookup(SITE, "static.example.com", "/font/weblab-icons.woff2")
    assert font is not None
    assert font.body[:4] == b"wOF2"
    assert font.cors
    assert font.encodings == {}  # already Brotli inside: never compressed again


def test_pretty_urls() -> None:
    """/contact and /thanks serve their .html files; /contact.x does not."""
    assert lookup(SITE, "www.example.com", "/contact") is not None
    assert lookup(SITE, "www.example.com", "/thanks") is not None
    assert lookup(SITE, "www.example.com", "/contact.x") is None


def test_vhosts_are_separate() -> None:
    """The stylesheet is not on www, the page is not on static, unknown hosts get nothing."""
    assert lookup(SITE, "www.example.com", "/css/site.css") is None
    assert lookup(SITE, "static.example.com", "/index.html") is None
    assert lookup(SITE, "evil.example.net", "/") is None


def test_forwarded_host_wins_over_host() -> None:
    """Behind the edge, X-Forwarded-Host names the site; Host is the origin's own name."""
    assert (
        public_host({"Host": "origin.example.com", "X-Forwarded-Host": "Static.Example.com:443"})
        == "static.example.com"
    )
    assert public_host({"Host": "WWW.example.com.:8443"}) == "www.example.com"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("www.example.com", "www.example.com"),
        ("WWW.EXAMPLE.COM:443", "www.example.com"),
        ("www.example.com.", "www.example.com"),
        ("[::1]:443", "[::1]"),
        ("", ""),
    ],
)
def test_normalize_host(value: str, expected: str) -> None:
    """Host values compare case-insensitively, without port or trailing dot."""
    assert normalize_host(value) == expected


ASSET = make_asset(b"x", ".css", 1_700_000_000, ASSET_CACHE)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, False),
        ({"If-None-Match": ASSET.etag}, True),
        ({"If-None-Match": f'"other", W/{ASSET.etag}'}, True),  # weak comparison (§13.1.2)
        ({"If-None-Match": '"other"'}, False),
        ({"If-None-Match": "*"}, True),
        ({"If-Modified-Since": ASSET.last_modified}, True),
        ({"If-Modified-Since": "Sat, 01 Jan 2000 00:00:00 GMT"}, False),
        ({"If-Modified-Since": "not a date"}, False),
        # If-None-Match present: If-Modified-Since is ignored (RFC 9110 §13.1.3).
        ({"If-None-Match": '"other"', "If-Modified-Since": ASSET.last_modified}, False),
    ],
)
def test_not_modified(headers: dict[str, str], expected: bool) -> None:
    """Conditional GET follows RFC 9110 §13.2.2 precedence and comparison rules."""
    assert not_modified(headers, ASSET) is expected

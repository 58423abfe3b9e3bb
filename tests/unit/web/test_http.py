"""The origin's HTTP behaviour over real TLS: codings, validators, methods, pages, cookies."""

from __future__ import annotations

import asyncio
import gzip
import ssl

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from multidict import CIMultiDict

from services.web.content import load_site

SITE = load_site()
CSS = SITE.renames["/css/site.css"]


async def request(
    server: TestServer,
    trust: ssl.SSLContext,
    method: str,
    host: str,
    path: str,
    headers: dict[str, str] | None = None,
    data: bytes | None = None,
    session: aiohttp.ClientSession | None = None,
) -> tuple[int, CIMultiDict[str], bytes]:
    """One request; bodies are read raw (not decoded) so codings can be checked.

    static.example.com is reached as the edge does: origin.example.com + X-Forwarded-Host.
    """
    own = session is None
    session = session or aiohttp.ClientSession(auto_decompress=False)
    sent = {"Host": host, "Accept-Encoding": "identity"}
    if host == "static.example.com":
        sent = {**sent, "Host": "origin.example.com", "X-Forwarded-Host": host}
    try:
        async with session.request(
            method,
            f"https://127.0.0.1:{server.port}{path}",
            ssl=trust,
            server_hostname=sent["Host"],
            allow_redirects=False,
            data=data,
            headers={**sent, **(headers or {})},
        ) as resp:
            return resp.status, resp.headers.copy(), await resp.read()
    finally:
        if own:
            await session.close()


async def test_gzip_when_asked(origin: TestServer, trust: ssl.SSLContext) -> None:
    """Accept-Encoding: gzip gives a gzip body that decodes to the asset, with Vary."""
    status, headers, body = await request(
        origin, trust, "GET", "static.example.com", CSS, {"Accept-Encoding": "gzip"}
    )
    assert status == 200
    assert headers["Content-Encoding"] == "gzip"
    assert headers["Vary"] == "Accept-Encoding"
    assert gzip.decompress(body) == SITE.trees["static"][CSS].body


async def test_br_preferred_when_equal(origin: TestServer, trust: ssl.SSLContext) -> None:
    """With br and gzip both acceptable, br is sent (smaller); q-values can override."""
    brotli = pytest.importorskip("brotli")
    _, headers, body = await request(
        origin, trust, "GET", "static.example.com", CSS, {"Accept-Encoding": "gzip, br"}
    )
    assert headers["Content-Encoding"] == "br"
    assert brotli.decompress(body) == SITE.trees["static"][CSS].body
    _, headers, _ = await request(
        origin, trust, "GET", "static.example.com", CSS, {"Accept-Encoding": "br;q=0.5, gzip"}
    )
    assert headers["Content-Encoding"] == "gzip"


async def test_identity_without_accept_encoding(origin: TestServer, trust: ssl.SSLContext) -> None:
    """No Accept-Encoding: the plain body, still Vary: Accept-Encoding, a different ETag."""
    _, plain, body = await request(
        origin, trust, "GET", "static.example.com", CSS, {"Accept-Encoding": "identity"}
    )
    _, zipped, _ = await request(
        origin, trust, "GET", "static.example.com", CSS, {"Accept-Encoding": "gzip"}
    )
    assert "Content-Encoding" not in plain
    assert plain["Vary"] == "Accept-Encoding"
    assert body == SITE.trees["static"][CSS].body
    assert plain["ETag"] != zipped["ETag"]


async def test_fingerprinted_asset_is_immutable(origin: TestServer, trust: ssl.SSLContext) -> None:
    """A fingerprinted name is cached a year, immutable; the HTML only a minute."""
    _, headers, _ = await request(origin, trust, "GET", "static.example.com", CSS)
    assert headers["Cache-Control"] == "public, max-age=31536000, immutable"
    _, headers, _ = await request(origin, trust, "GET", "www.example.com", "/")
    assert headers["Cache-Control"] == "public, max-age=5, stale-if-error=86400"


async def test_font_served_with_cors(origin: TestServer, trust: ssl.SSLContext) -> None:
    """The WOFF2 font: font/woff2, Access-Control-Allow-Origin, never re-compressed."""
    path = SITE.renames["/font/weblab-icons.woff2"]
    status, headers, body = await request(
        origin, trust, "GET", "static.example.com", path, {"Accept-Encoding": "gzip, br"}
    )
    assert status == 200
    assert headers["Content-Type"] == "font/woff2"
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert body[:4] == b"wOF2"
    assert "Content-Encoding" not in headers


async def test_if_modified_since_gives_304(origin: TestServer, trust: ssl.SSLContext) -> None:
    """If-Modified-Since equal to Last-Modified: 304 without a body."""
    _, headers, _ = await request(origin, trust, "GET", "www.example.com", "/")
    status, _, body = await request(
        origin,
        trust,
        "GET",
        "www.example.com",
        "/",
        {"If-Modified-Since": headers["Last-Modified"]},
    )
    assert status == 304
    assert body == b""


async def test_gzip_etag_revalidates(origin: TestServer, trust: ssl.SSLContext) -> None:
    """The gzip variant's ETag gets 304 when gzip is asked for again."""
    _, headers, _ = await request(
        origin, trust, "GET", "static.example.com", CSS, {"Accept-Encoding": "gzip"}
    )
    status, _, _ = await request(
        origin,
        trust,
        "GET",
        "static.example.com",
        CSS,
        {"Accept-Encoding": "gzip", "If-None-Match": headers["ETag"]},
    )
    assert status == 304


async def test_head_and_options(origin: TestServer, trust: ssl.SSLContext) -> None:
    """HEAD: GET's headers, no body. OPTIONS: 204 with Allow."""
    status, headers, body = await request(origin, trust, "HEAD", "www.example.com", "/")
    assert status == 200
    assert body == b""
    assert headers["ETag"]
    status, headers, _ = await request(origin, trust, "OPTIONS", "www.example.com", "/")
    assert status == 204
    assert headers["Allow"] == "GET, HEAD, OPTIONS"
    status, headers, _ = await request(origin, trust, "OPTIONS", "www.example.com", "/contact")
    assert status == 204
    assert "POST" in headers["Allow"]


async def test_hsts_everywhere(origin: TestServer, trust: ssl.SSLContext) -> None:
    """Strict-Transport-Security on pages, 404s, 500s and the streamed account page."""
    for path in ("/", "/nope", "/error", "/account"):
        _, headers, _ = await request(origin, trust, "GET", "www.example.com", path)
        assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains", path


async def test_error_route_is_a_real_500(origin: TestServer, trust: ssl.SSLContext) -> None:
    """/error raises inside the handler; the client gets the 500 page, no-store."""
    status, headers, body = await request(origin, trust, "GET", "www.example.com", "/error")
    assert status == 500
    assert b"500 Internal Server Error" in body
    assert headers["Cache-Control"] == "no-store"


async def test_contact_post_redirect_get(origin: TestServer, trust: ssl.SSLContext) -> None:
    """A valid form POST gets 303 See Other to /thanks, which is a page."""
    status, headers, _ = await request(
        origin,
        trust,
        "POST",
        "www.example.com",
        "/contact",
        data=b"name=Ann&message=Hi",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 303
    assert headers["Location"] == "/thanks"
    status, _, body = await request(origin, trust, "GET", "www.example.com", "/thanks")
    assert status == 200
    assert b"Thank you" in body


@pytest.mark.parametrize(
    ("body", "ctype", "status"),
    [
        (b"name=&message=Hi", "application/x-www-form-urlencoded", 400),
        (b'{"name": "Ann"}', "application/json", 415),
    ],
)
async def test_contact_bad_form(
    origin: TestServer, trust: ssl.SSLContext, body: bytes, ctype: str, status: int
) -> None:
    """An empty field is 400, a JSON body 415: an HTML page says what to fix."""
    got, _, page = await request(
        origin,
        trust,
        "POST",
        "www.example.com",
        "/contact",
        data=body,
        headers={"Content-Type": ctype},
    )
    assert got == status
    assert b"The form was not sent" in page


async def test_account_cookie_counts_visits(origin: TestServer, trust: ssl.SSLContext) -> None:
    """First visit sets a Secure HttpOnly SameSite=Lax cookie; the second is counted."""
    jar = aiohttp.CookieJar(unsafe=True)  # the cookie is for www.example.com; we dial an IP
    async with aiohttp.ClientSession(cookie_jar=jar) as session:
        status, headers, body = await request(
            origin, trust, "GET", "www.example.com", "/account", session=session
        )
        assert status == 200
        assert b"first visit" in body
        cookie = headers["Set-Cookie"]
        for attribute in ("Secure", "HttpOnly", "SameSite=Lax", "Path=/"):
            assert attribute in cookie
        assert headers["Cache-Control"] == "no-store"
        _, again, body = await request(
            origin, trust, "GET", "www.example.com", "/account", session=session
        )
        assert b"Visit number 2" in body
        assert "Set-Cookie" not in again


async def raw_exchange(server: TestServer, trust: ssl.SSLContext, requests: list[bytes]) -> bytes:
    """Send requests one after another on ONE TLS connection; return all bytes read."""
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", server.port, ssl=trust, server_hostname="www.example.com"
    )
    try:
        for raw in requests:
            writer.write(raw)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), timeout=5)  # deadline, not a delay
    finally:
        writer.close()


async def test_account_is_chunked(origin: TestServer, trust: ssl.SSLContext) -> None:
    """On the wire: Transfer-Encoding: chunked, no Content-Length (RFC 9112 §7.1)."""
    raw = await raw_exchange(
        origin,
        trust,
        [b"GET /account HTTP/1.1\r\nHost: www.example.com\r\nConnection: close\r\n\r\n"],
    )
    head = raw.split(b"\r\n\r\n", 1)[0].lower()
    assert b"transfer-encoding: chunked" in head
    assert b"content-length" not in head
    assert raw.endswith(b"0\r\n\r\n")


async def test_keep_alive_serves_two_requests(origin: TestServer, trust: ssl.SSLContext) -> None:
    """HTTP/1.1 keeps the connection open: two responses arrive on one connection."""
    raw = await raw_exchange(
        origin,
        trust,
        [
            b"GET /healthz HTTP/1.1\r\nHost: www.example.com\r\n\r\n",
            b"GET /healthz HTTP/1.1\r\nHost: www.example.com\r\nConnection: close\r\n\r\n",
        ],
    )
    assert raw.count(b"HTTP/1.1 200 OK") == 2

"""The origin over real TLS on 127.0.0.1: site, headers, 304, 404, health, TLS policy."""

from __future__ import annotations

import json
import ssl
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from multidict import CIMultiDict

from services.common.tls import server_context


async def get(
    server: TestServer, trust: ssl.SSLContext, host: str, path: str, **headers: str
) -> tuple[int, CIMultiDict[str], bytes]:
    """GET through a client that trusts only the lab root and checks ``host``'s name."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"https://127.0.0.1:{server.port}{path}",
            ssl=trust,
            server_hostname=host,
            headers={"Host": host, **{k.replace("_", "-"): v for k, v in headers.items()}},
        ) as resp,
    ):
        return resp.status, resp.headers.copy(), await resp.read()


async def test_page_for_www(origin: TestServer, trust: ssl.SSLContext) -> None:
    """GET / for www.example.com is the HTML page with a short max-age and validators."""
    status, headers, body = await get(origin, trust, "www.example.com", "/")
    assert status == 200
    assert b"<!doctype html>" in body
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["Cache-Control"] == "public, max-age=5, stale-if-error=86400"
    assert "ETag" in headers
    assert "Last-Modified" in headers


async def test_asset_via_forwarded_host(origin: TestServer, trust: ssl.SSLContext) -> None:
    """Reached as origin.example.com, X-Forwarded-Host selects the static site."""
    status, headers, _ = await get(
        origin, trust, "origin.example.com", "/css/site.css", X_Forwarded_Host="static.example.com"
    )
    assert status == 200
    assert headers["Cache-Control"] == "public, max-age=3600"
    assert headers["Content-Type"] == "text/css; charset=utf-8"


async def test_if_none_match_gives_304(origin: TestServer, trust: ssl.SSLContext) -> None:
    """A matching If-None-Match gets 304 with no body and the same ETag."""
    _, headers, _ = await get(
        origin, trust, "origin.example.com", "/img/logo.svg", X_Forwarded_Host="static.example.com"
    )
    status, again, body = await get(
        origin,
        trust,
        "origin.example.com",
        "/img/logo.svg",
        X_Forwarded_Host="static.example.com",
        If_None_Match=headers["ETag"],
    )
    assert status == 304
    assert body == b""
    assert again["ETag"] == headers["ETag"]


async def test_404_page(origin: TestServer, trust: ssl.SSLContext) -> None:
    """An unknown path is a 404 HTML page."""
    status, headers, body = await get(origin, trust, "www.example.com", "/nope")
    assert status == 404
    assert b"404 Not Found" in body
    assert headers["Content-Type"].startswith("text/html")


async def test_healthz(origin: TestServer, trust: ssl.SSLContext) -> None:
    """/healthz answers 200 JSON for any host."""
    status, _, body = await get(origin, trust, "origin.example.com", "/healthz")
    assert status == 200
    assert json.loads(body)["status"] == "ok"


async def test_post_is_405(origin: TestServer, trust: ssl.SSLContext) -> None:
    """The site is read-only: POST gets 405 with Allow."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"https://127.0.0.1:{origin.port}/",
            ssl=trust,
            server_hostname="www.example.com",
            headers={"Host": "www.example.com"},
        ) as resp,
    ):
        assert resp.status == 405
        assert resp.headers["Allow"] == "GET, HEAD, OPTIONS"


# Python warns when a context is pinned to TLS 1.1; that old version is the point here.
@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
async def test_tls_1_1_refused(origin: TestServer, certs: Path) -> None:
    """A client limited to TLS 1.1 cannot connect (RFC 8996)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(certs / "ca.crt")
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectorError):
            async with session.get(
                f"https://127.0.0.1:{origin.port}/", ssl=ctx, server_hostname="www.example.com"
            ):
                pass


async def test_alpn_and_keylog(certs: Path, tmp_path: Path, trust: ssl.SSLContext) -> None:
    """ALPN selects http/1.1 and SSLKEYLOGFILE receives the session secrets."""
    from aiohttp import web

    keylog = tmp_path / "keys.log"
    ctx = server_context(
        certs / "origin.crt", certs / "origin.key", env={"SSLKEYLOGFILE": str(keylog)}
    )
    seen: list[object] = []

    async def alpn(request: web.Request) -> web.Response:
        sslobj = request.transport.get_extra_info("ssl_object") if request.transport else None
        seen.append(sslobj.selected_alpn_protocol() if sslobj else None)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/", alpn)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server(ssl=ctx)
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(
                f"https://127.0.0.1:{server.port}/", ssl=trust, server_hostname="origin.example.com"
            ) as resp,
        ):
            assert resp.status == 200
    finally:
        await server.close()
    assert seen == ["http/1.1"]
    assert (
        "CLIENT_HANDSHAKE_TRAFFIC_SECRET" in keylog.read_text()
        or "CLIENT_RANDOM" in keylog.read_text()
    )

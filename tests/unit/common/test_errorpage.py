"""ERROR_PAGE: the errors of the layers under an app (HTTP/1 parser, a failed handler on
HTTP/1 and HTTP/3) come from the app's own function; without one, aiohttp's text stays."""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.http_exceptions import BadHttpMethod, LineTooLong
from aioquic.asyncio.client import connect
from aioquic.quic.configuration import QuicConfiguration

from services.common import problems
from services.common.errorpage import ERROR_PAGE, ErrorPageRunner, parser_error
from services.common.h2server import TlsSite
from services.common.h3server import H3Site
from services.common.tls import server_context
from tests.unit.common.test_h3server import Client

HOST = "www.example.com"  # on origin.crt


def page(status: int, detail: str) -> web.Response:
    return problems.response(status, detail=detail, headers={"X-Page": "app"})


async def boom(request: web.Request) -> web.Response:
    raise RuntimeError("handler bug")


@dataclass(frozen=True)
class Site:
    tcp: int
    udp: int
    with_page: bool


@pytest.fixture(params=[True, False], ids=["with-page", "without"])
async def site(request: pytest.FixtureRequest, certs: Path) -> AsyncIterator[Site]:
    """A tiny app (GET /boom raises) behind ErrorPageRunner, TlsSite and H3Site, with or
    without an ERROR_PAGE."""
    app = web.Application()
    with_page: bool = request.param
    if with_page:
        app[ERROR_PAGE] = page
    app.router.add_get("/boom", boom)
    runner = ErrorPageRunner(app)
    await runner.setup()
    logger = logging.getLogger("test.errorpage")
    cert, key = certs / "origin.crt", certs / "origin.key"
    tls = TlsSite(runner, "127.0.0.1", 0, server_context(cert, key, env={}), logger)
    await tls.start()
    quic = H3Site(runner, "127.0.0.1", 0, cert, key, logger, env={})
    await quic.start()
    assert tls.server is not None
    yield Site(tls.server.sockets[0].getsockname()[1], quic.port, with_page)
    await quic.stop()
    await tls.stop()
    await runner.cleanup()


def is_page(content_type: str | None, extra: str | None) -> bool:
    return (content_type or "").startswith(problems.CONTENT_TYPE) and extra == "app"


async def test_parser_error_uses_the_page(site: Site, trust: ssl.SSLContext) -> None:
    """An HTTP/1 request line the parser rejects: the app's 400 page, or aiohttp's text."""
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", site.tcp, ssl=trust, server_hostname=HOST
    )
    writer.write(b"NOT A REQUEST\r\n\r\n")
    answer = await asyncio.wait_for(reader.read(), 10)  # the server closes after it
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 400 ")
    assert (b"application/problem+json" in head) is site.with_page
    if site.with_page:
        assert json.loads(body)["detail"] == "Invalid method encountered: b'NOT A REQUEST'"
    else:
        assert body.startswith(b"Invalid method encountered")


async def test_handler_error_uses_the_page_on_h1_and_h3(
    site: Site, certs: Path, trust: ssl.SSLContext
) -> None:
    """A handler that raises: 500 from the app's page on HTTP/1.1 and HTTP/3, or plain text."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"https://127.0.0.1:{site.tcp}/boom", ssl=trust, server_hostname=HOST,
                    headers={"Host": HOST}) as resp,
    ):  # fmt: skip
        assert resp.status == 500
        assert (
            is_page(resp.headers.get("Content-Type"), resp.headers.get("X-Page")) is site.with_page
        )
    config = QuicConfiguration(is_client=True, alpn_protocols=["h3"], server_name=HOST)
    config.load_verify_locations(str(certs / "ca.crt"))
    async with connect("127.0.0.1", site.udp, configuration=config, create_protocol=Client) as c:
        assert isinstance(c, Client)
        reply = await c.request("GET", "/boom")
    assert reply.status == 500
    assert is_page(reply.header("content-type"), reply.header("x-page")) is site.with_page


def test_parser_error_statuses() -> None:
    """Oversized header field: 431; oversized request line: 414; other parser errors keep
    aiohttp's 400 with llhttp's message on one line."""
    assert parser_error(LineTooLong("Header value is too long", "8190", "9000"), 400) == (
        431,
        "a header field is longer than 8190 bytes",
    )
    assert parser_error(LineTooLong("request header name X-A", "8190", "9000"), 400)[0] == 431
    assert parser_error(LineTooLong("Status line is too long", "8190", "9001"), 400)[0] == 414
    bad = BadHttpMethod("", "Invalid method encountered:\n\n  b'NOT A REQUEST'\n       ^")
    assert parser_error(bad, 400) == (400, "Invalid method encountered: b'NOT A REQUEST'")
    assert parser_error(None, 500)[0] == 500

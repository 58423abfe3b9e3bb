"""HTTP/3 requests ride the handshake: with the client's Finished, or as 0-RTT when resumed.

Against the lab's HTTP/3 layer (services/common/h3server.py) on loopback; the
server's clock times what reaches it, so the client's own bookkeeping cannot
hide a late request.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

from services.client.browse import Browser
from services.common.h3server import H3Site
from tests.unit.client.conftest import LoopbackDns
from tests.unit.client.sites import browser, open_page, serve

Dns = tuple[LoopbackDns, Path, int]
PAGE = b'<html><img src="/a.png"></html>'


@dataclass
class Arrival:
    path: str
    at: float  # time.time() when the handler ran
    early_data: str  # the Early-Data field the h3 layer added


@dataclass
class Server:
    h3: H3Site
    arrivals: list[Arrival] = field(default_factory=list)


@contextlib.asynccontextmanager
async def lab_h3(certs: Path) -> AsyncIterator[Server]:
    """A page and one image over the lab's HTTP/3 layer, each request's arrival recorded."""
    app = web.Application()
    server: Server | None = None

    async def answer(request: web.Request) -> web.Response:
        assert server is not None
        server.arrivals.append(
            Arrival(request.path, time.time(), request.headers.get("Early-Data", ""))
        )
        if request.path == "/":
            return web.Response(body=PAGE, content_type="text/html")
        return web.Response(body=b"png", content_type="image/png")

    app.router.add_get("/{tail:.*}", answer)
    site = H3Site(app, "127.0.0.1", 0, certs / "edge.crt", certs / "edge.key",
                  logging.getLogger("test.client.h3early"), env={})  # fmt: skip
    async with serve(app, certs):  # sets the app up (its TCP side unused)
        await site.start()
        server = Server(site)
        try:
            yield server
        finally:
            await site.stop(grace=0.1)


def h3_browser(certs: Path, dns: Dns, server: Server) -> Browser:
    b = browser(certs, dns, 1, "3")
    b.quic.route = lambda addr: ("127.0.0.1", server.h3.port)
    return b


def opened(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "event", None) == "h3_connection_opened"]


async def test_the_first_request_leaves_with_the_finished(
    certs: Path, dns: Dns, caplog: pytest.LogCaptureFixture
) -> None:
    """The page's request reaches the server within 15 ms of the client's Finished, even when
    what the client does once connected (here a log sink taking 40 ms) is slow: the request
    was queued before the handshake and left in the Finished's flight."""
    caplog.set_level(logging.INFO, "test.client.h3early")
    async with lab_h3(certs) as server:
        b = h3_browser(certs, dns, server)

        def slow_say(event: str, **_fields: object) -> None:
            if event == "quic.established":
                time.sleep(0.040)  # a log pipe that blocks: the stall under test

        b.quic.say = slow_say
        tl = await open_page(b)
    assert tl.ok, [f.error for f in tl.fetches]
    handshake_done = opened(caplog)[0].created  # the server read the client's Finished
    page = server.arrivals[0]
    assert page.path == "/"
    assert 0 <= (page.at - handshake_done) * 1000 < 15
    assert page.early_data == ""  # a fresh connection has no 0-RTT


async def test_a_resumed_connection_sends_its_first_get_as_0rtt(
    certs: Path, dns: Dns, caplog: pytest.LogCaptureFixture
) -> None:
    """On the reload the ticket of the first visit resumes the QUIC connection and the page's
    GET goes as 0-RTT: the server runs it before the handshake completes (Early-Data: 1), the
    fetch records early_data and tls_resumed, and the image, asked after, is not early."""
    caplog.set_level(logging.INFO, "test.client.h3early")
    async with lab_h3(certs) as server:
        tl = await open_page(h3_browser(certs, dns, server), visits=2)
    assert tl.ok, [f.error for f in tl.fetches]
    assert [(f.visit, f.tls_resumed, f.early_data) for f in tl.fetches] == [
        (1, False, False),
        (1, False, False),
        (2, True, True),
        (2, True, False),
    ]
    assert [(a.path, a.early_data) for a in server.arrivals] == [
        ("/", ""),
        ("/a.png", ""),
        ("/", "1"),
        ("/a.png", ""),
    ]
    second = opened(caplog)[1]
    assert (second.resumed, second.early_data) == (True, True)  # type: ignore[attr-defined]
    assert server.arrivals[2].at <= second.created  # answered before the handshake completed
    reload = tl.fetches[2]
    assert reload.ttfb_ms >= 0.0

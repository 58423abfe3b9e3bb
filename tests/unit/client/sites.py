"""In-process HTTPS servers for the browser's tests, and a browser wired to them.

``Recorder`` is a small aiohttp site served by the lab's own TLS listener
(services/common/h2server.TlsSite: HTTP/2 or HTTP/1.x by ALPN) that remembers
every request it saw: host, path, HTTP version, the client's port (which
connection), the cookie and validators sent, and how many requests were in
flight when it arrived. Its page on www.example.com names ASSETS images on
static.example.com.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from services.client.browse import Browser, Timeline
from services.common.h2server import TlsSite
from services.common.tls import server_context
from tests.unit.client.conftest import LoopbackDns

HOLD_DEADLINE = 3.0  # how long a held asset waits for the others before answering anyway
BIG = bytes(range(256)) * 4096  # 1 MiB: sixteen times HTTP/2's initial 64 KiB window


@dataclass
class Seen:
    host: str
    path: str
    version: str  # "2.0", "1.1", "1.0" as the server parsed it
    peer: int  # the client's port: one per connection
    cookie: str
    if_none_match: str
    in_flight: int  # requests being answered when this one arrived, itself included


class Recorder:
    """The test site. HOLD > 0: assets are answered only once HOLD are in flight at once."""

    def __init__(self, assets: int = 4, hold: int = 0, big: bool = False) -> None:
        self.assets, self.hold, self.big = assets, hold, big
        self.seen: list[Seen] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.enough = asyncio.Event()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/", self.page)
        app.router.add_get("/a/{name}", self.asset)
        return app

    def _see(self, request: web.Request) -> None:
        self.seen.append(
            Seen(
                request.host.split(":")[0],
                request.path,
                f"{request.version.major}.{request.version.minor}",
                request.transport.get_extra_info("peername")[1] if request.transport else 0,
                request.headers.get("Cookie", ""),
                request.headers.get("If-None-Match", ""),
                self.in_flight,
            )
        )

    def _answer(self, request: web.Request, etag: str, body: bytes, kind: str) -> web.Response:
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(body=body, content_type=kind, headers={"ETag": etag})

    async def page(self, request: web.Request) -> web.Response:
        self._see(request)
        imgs = "".join(
            f'<img src="https://static.example.com/a/{i}.png">' for i in range(self.assets)
        )
        if self.big:
            imgs += '<img src="https://static.example.com/a/big.bin">'
        html = f"<html><body>{imgs}</body></html>".encode()
        resp = self._answer(request, '"page"', html, "text/html")
        resp.headers["Set-Cookie"] = "sid=abc123; Domain=example.com; Path=/; Secure; HttpOnly"
        return resp

    async def asset(self, request: web.Request) -> web.Response:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        self._see(request)
        try:
            if self.hold and self.in_flight >= self.hold:
                self.enough.set()
            if self.hold:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.enough.wait(), HOLD_DEADLINE)
            name = request.match_info["name"]
            body = BIG if name == "big.bin" else name.encode() * 100
            return self._answer(request, f'"{name}"', body, "application/octet-stream")
        finally:
            self.in_flight -= 1

    def of(self, host: str) -> list[Seen]:
        return [s for s in self.seen if s.host == host]


@contextlib.asynccontextmanager
async def serve(
    app: web.Application, certs: Path, alpn: list[str] | None = None
) -> AsyncIterator[int]:
    """APP over TLS on a free port with the edge's certificate; ALPN as given (default h2,
    http/1.1). Yields the port."""
    runner = web.AppRunner(app)
    await runner.setup()
    ctx = server_context(certs / "edge.crt", certs / "edge.key", env={})
    if alpn is not None:
        ctx.set_alpn_protocols(alpn)
    site = TlsSite(runner, "127.0.0.1", 0, ctx, logging.getLogger("test.client"))
    await site.start()
    assert site.server is not None
    try:
        yield site.server.sockets[0].getsockname()[1]
    finally:
        await site.stop()
        await runner.cleanup()


def browser(
    certs: Path,
    dns: tuple[LoopbackDns, Path, int],
    port: int,
    http: str = "auto",
    ca: str = "ca.crt",
    timeout: float = 10.0,
) -> Browser:
    """A browser whose lookups go to the fake DNS and whose connections all go to PORT."""
    _resolver, conf, dns_port = dns

    def dial(address: tuple[str, int], timeout: float) -> socket.socket:
        return socket.create_connection((address[0], port), timeout)

    return Browser(
        None,
        emit=False,
        http=http,
        ca_file=str(certs / ca),
        resolv_conf=str(conf),
        dns_port=dns_port,
        dial=dial,
        timeout=timeout,
    )


async def open_page(b: Browser, visits: int = 1, url: str = "https://www.example.com/") -> Timeline:
    """Run the blocking client in a thread while the servers run on the loop."""
    return await asyncio.to_thread(b.open_page, url, visits)

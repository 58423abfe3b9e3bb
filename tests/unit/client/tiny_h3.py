"""A small HTTP/3 server for the browser's tests: aioquic's own asyncio server in a thread.

Listens on 127.0.0.1, a kernel-chosen UDP port, with the certificate it is
given, and answers by path:

- ``/``            a page naming ASSETS images at ``/a/<i>.png`` on www.example.com
                   (PAGE_PORT, when set, goes in their URLs)
- ``/a/<name>``    a few bytes, with an ETag
- ``/hold/<n>/<name>``  answered only once n such requests are open at once
                   (or after HOLD_DEADLINE): proves they were concurrent
- ``/reset``       RESET_STREAM with H3_REQUEST_REJECTED, no response

Every response carries ALT_SVC when set. It records each request's path and
stream id, how many QUIC connections it accepted, and issues session tickets.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.asyncio.server import serve
from aioquic.h3.connection import H3_ALPN, ErrorCode, H3Connection
from aioquic.h3.events import HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import ProtocolNegotiated, QuicEvent
from aioquic.tls import SessionTicket

HOLD_DEADLINE = 3.0


@dataclass
class Seen:
    path: str
    stream_id: int
    connection: int  # which accepted QUIC connection, from 1


class _Proto(QuicConnectionProtocol):
    def __init__(self, *args: Any, site: TinyH3, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.site = site
        self.h3: H3Connection | None = None
        site.connections += 1
        self.number = site.connections

    def quic_event_received(self, event: QuicEvent) -> None:
        if isinstance(event, ProtocolNegotiated) and event.alpn_protocol in H3_ALPN:
            self.h3 = H3Connection(self._quic)
        if self.h3 is None:
            return
        for h3_event in self.h3.handle_event(event):
            if isinstance(h3_event, HeadersReceived):
                self.site.request(self, h3_event)

    def answer(self, stream_id: int, status: int, body: bytes, kind: str = "text/plain") -> None:
        assert self.h3 is not None
        headers = [(b":status", str(status).encode()), (b"content-type", kind.encode())]
        if self.site.alt_svc:
            headers.append((b"alt-svc", self.site.alt_svc.encode()))
        headers.append((b"etag", b'"%d"' % len(body)))
        self.h3.send_headers(stream_id, headers, end_stream=False)
        self.h3.send_data(stream_id, body, end_stream=True)
        self.transmit()


@dataclass
class TinyH3:
    cert: Path
    key: Path
    assets: int = 2
    alt_svc: str = ""
    page_port: int | None = None
    seen: list[Seen] = field(default_factory=list)
    connections: int = 0
    max_held: int = 0
    port: int = 0
    tickets: dict[bytes, SessionTicket] = field(default_factory=dict)
    _held: list[tuple[_Proto, int]] = field(default_factory=list)
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None

    def request(self, proto: _Proto, event: HeadersReceived) -> None:
        path = dict(event.headers)[b":path"].decode()
        self.seen.append(Seen(path, event.stream_id, proto.number))
        if path == "/":
            port = f":{self.page_port}" if self.page_port else ""
            imgs = "".join(
                f'<img src="https://www.example.com{port}/a/{i}.png">' for i in range(self.assets)
            )
            proto.answer(event.stream_id, 200, f"<html>{imgs}</html>".encode(), "text/html")
        elif path == "/reset":
            proto._quic.reset_stream(event.stream_id, ErrorCode.H3_REQUEST_REJECTED)
            proto.transmit()
        elif path.startswith("/hold/"):
            wanted = int(path.split("/")[2])
            self._held.append((proto, event.stream_id))
            self.max_held = max(self.max_held, len(self._held))
            if len(self._held) >= wanted:
                self._release()
            else:
                asyncio.get_running_loop().call_later(HOLD_DEADLINE, self._release)
        else:
            proto.answer(event.stream_id, 200, path.encode() * 10, "image/png")

    def _release(self) -> None:
        held, self._held = self._held, []
        for proto, stream_id in held:
            proto.answer(stream_id, 200, b"held")

    def __enter__(self) -> TinyH3:
        config = QuicConfiguration(is_client=False, alpn_protocols=H3_ALPN)
        config.load_cert_chain(self.cert, self.key)
        ready = threading.Event()
        loop = self._loop = asyncio.new_event_loop()

        async def start() -> None:
            server = await serve(
                "127.0.0.1",
                0,
                configuration=config,
                create_protocol=partial(_Proto, site=self),
                session_ticket_handler=lambda t: self.tickets.__setitem__(t.ticket, t),
                session_ticket_fetcher=self.tickets.get,
            )
            assert server._transport is not None  # the kernel-chosen port is only there
            self.port = server._transport.get_extra_info("sockname")[1]
            self._server = server
            ready.set()

        def run() -> None:
            loop.run_until_complete(start())
            loop.run_forever()
            self._server.close()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._thread = threading.Thread(target=run, name="tiny-h3", daemon=True)
        self._thread.start()
        assert ready.wait(5.0), "the test HTTP/3 server did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None
        assert self._thread is not None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5.0)

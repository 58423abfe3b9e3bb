"""HTTP/2 for the lab's aiohttp apps: one TLS port, ALPN chooses h2 or HTTP/1.1.

aiohttp has no server-side HTTP/2 (aiohttp issue 5999). This module is the
protocol layer that gives it one, the way mitmproxy puts its HTTP/2 layer on
the sans-IO ``h2`` package: ``h2`` does the framing, HPACK, flow control and
the stream state machine (RFC 9113), and this file only moves bytes and turns
each stream into an ordinary aiohttp ``Request``, answered by the same
application, middlewares and handlers that answer HTTP/1.1. So the edge's
cache, routing and headers are one code path for every version.

After the TLS handshake (RFC 7301: the server picks from the client's ALPN
list) a connection that chose ``h2`` gets an :class:`H2Protocol`; any other
gets aiohttp's own HTTP/1.x protocol, so 1.0 and 1.1 behave exactly as
before.

What a hostile client can do to an HTTP/2 server and what happens here:
a bad preface, an oversized frame or invalid HPACK is a connection error
(``h2`` sends GOAWAY with the RFC 9113 §5.4.1 code, we close and log why);
streams past SETTINGS_MAX_CONCURRENT_STREAMS are refused (§5.1.2); and
floods of RST_STREAM (the "rapid reset" attack, CVE-2023-44487), PING or
SETTINGS frames end the connection with ENHANCE_YOUR_CALM, while other
clients are served as usual. A field that is not UTF-8 (which the app's
``str`` headers cannot hold) resets only its own stream with PROTOCOL_ERROR.

An app that declares :data:`~services.common.h2tunnel.TUNNEL_PROTOCOLS` (the
edge) gets RFC 8441's extended CONNECT: the setting is announced and a
``CONNECT`` with ``:protocol websocket`` reaches the app carrying an
:class:`~services.common.h2tunnel.H2Tunnel`; other CONNECTs are refused
(h2tunnel.connect_refusal) with a log line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import zlib
from collections.abc import Callable
from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger, AbstractStreamWriter
from aiohttp.base_protocol import BaseProtocol
from aiohttp.compression_utils import ZLibCompressor
from aiohttp.http import HttpVersion
from aiohttp.http_parser import RawRequestMessage
from aiohttp.streams import EMPTY_PAYLOAD, StreamReader
from aiohttp.tcp_helpers import tcp_nodelay
from h2.errors import ErrorCodes
from hpack.exceptions import HPACKError
from hyperframe.frame import GoAwayFrame
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from services.common.answer import answer
from services.common.errorpage import own_error
from services.common.h2tunnel import TUNNEL, TUNNEL_PROTOCOLS, H2Tunnel, connect_refusal
from services.common.logs import log_event

HTTP2 = HttpVersion(2, 0)
MAX_STREAMS = 100  # SETTINGS_MAX_CONCURRENT_STREAMS we announce
BODY_LIMIT = 1 << 20  # bytes of a request body buffered before reading pauses
# Connection-specific fields must not appear in HTTP/2 (RFC 9113 §8.2.2).
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"}
)
# Control-frame floods: more than this many in FLOOD_WINDOW seconds closes the connection.
FLOOD_WINDOW = 1.0
FLOOD_LIMITS = {"reset": 100, "ping": 50, "settings": 50}
# RFC 9113 §6.9.2: every stream starts with this receive window.
STREAM_WINDOW = 65535
# TLS record sizing, as CDNs do it ("dynamic record sizing"): a record cannot be
# decrypted until all of it has arrived, so a 16 KiB record spread over twelve TCP
# segments holds every response in it until the last of them (and a lost one).
# The first MiB of a connection, and the first after a second of quiet, goes in
# records that fit one segment; bulk transfer after that in full 16 KiB records.
SMALL_RECORD = 1400  # plaintext bytes: with TLS 1.3's 22 bytes, one 1448-byte segment
SMALL_RECORD_BYTES = 1 << 20
IDLE_RESET = 1.0  # seconds of quiet after which records start small again


class _Flood:
    """Counts one kind of control frame in a sliding window (a flood detector)."""

    def __init__(self, limit: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.clock, self.times = limit, clock, list[float]()

    def hit(self) -> bool:
        """Record one frame; True when the window holds more than the limit."""
        now = self.clock()
        self.times = [t for t in self.times if now - t < FLOOD_WINDOW]
        self.times.append(now)
        return len(self.times) > self.limit


class _Stream:
    def __init__(self, stream_id: int) -> None:
        self.id = stream_id
        self.reader: StreamReader | None = None
        self.task: asyncio.Task[None] | None = None
        self.window = asyncio.Event()
        self.pending = bytearray()  # response bytes waiting for their turn (see _pump)
        self.end_pending = False
        self.waiters: list[asyncio.Future[None]] = []
        self.tunnel: H2Tunnel | None = None
        self.connect = False  # a CONNECT stream: reset once answered if the client has not ended
        self.remote_open = True

    def release(self, error: BaseException | None = None) -> None:
        for waiter in self.waiters:
            if not waiter.done():
                if error is None:
                    waiter.set_result(None)
                else:
                    waiter.set_exception(error)
        self.waiters.clear()


def request_message(headers: list[tuple[str, str]]) -> RawRequestMessage:
    """An aiohttp request message from one HEADERS block (``h2`` validated its shape).

    The pseudo-header ``:authority`` becomes ``Host`` (RFC 9113 §8.3.1), and
    split ``cookie`` fields are joined with "; " (§8.2.3) so the app sees one.
    """
    pseudo: dict[str, str] = {}
    fields: CIMultiDict[str] = CIMultiDict()
    cookies: list[str] = []
    for name, value in headers:
        if name.startswith(":"):
            pseudo[name] = value
        elif name == "cookie":
            cookies.append(value)
        else:
            fields.add(name, value)
    if cookies:
        fields["Cookie"] = "; ".join(cookies)
    if ":authority" in pseudo and "Host" not in fields:
        fields["Host"] = pseudo[":authority"]
    path = pseudo.get(":path", "/")
    raw = tuple((k.encode(), v.encode()) for k, v in fields.items())
    return RawRequestMessage(
        method=pseudo.get(":method", "GET"),
        path=path,
        version=HTTP2,
        headers=CIMultiDictProxy(fields),
        raw_headers=raw,
        should_close=False,
        compression=None,
        upgrade=False,
        chunked=False,
        url=URL(path, encoded=True),
    )


def response_headers(status_line: str, headers: CIMultiDict[str]) -> list[tuple[str, str]]:
    """``:status`` and the fields, lower-case, without the connection-specific ones."""
    status = status_line.split(" ", 2)[1]
    out = [(":status", status)]
    out += [(k.lower(), v) for k, v in headers.items() if k.lower() not in HOP_BY_HOP]
    return out


class H2Writer(AbstractStreamWriter):
    """Where aiohttp writes one response: HEADERS, then DATA frames on one stream."""

    def __init__(self, proto: H2Protocol, stream_id: int) -> None:
        self.proto, self.stream_id = proto, stream_id
        self.buffer_size = self.output_size = 0
        self.length = None
        self._compress: ZLibCompressor | None = None

    async def write_headers(self, status_line: str, headers: CIMultiDict[str]) -> None:
        self.proto.send_headers(self.stream_id, response_headers(status_line, headers))

    async def write(self, chunk: bytes | bytearray | memoryview) -> None:
        data = bytes(chunk)
        if self._compress is not None:
            data = await self._compress.compress(data)
        self.output_size += len(data)
        await self.proto.send_data(self.stream_id, data)

    async def write_eof(self, chunk: bytes = b"") -> None:
        data = bytes(chunk)
        if self._compress is not None:
            data = (await self._compress.compress(data) if data else b"") + self._compress.flush()
        self.output_size += len(data)
        if data:
            # The last DATA frame carries END_STREAM: no empty frame after the body.
            await self.proto.send_data(self.stream_id, data, end_stream=True)
        else:
            self.proto.end_stream(self.stream_id)

    async def drain(self) -> None:
        await self.proto.drain()

    def enable_compression(
        self, encoding: str = "deflate", strategy: int = zlib.Z_DEFAULT_STRATEGY
    ) -> None:
        self._compress = ZLibCompressor(
            encoding=encoding, suppress_deflate_header=True, strategy=strategy
        )

    def enable_chunking(self) -> None:
        pass  # DATA frames carry their own lengths: no chunked coding in HTTP/2 (RFC 9113 §8.2.2)


class H2Protocol(BaseProtocol):
    """One HTTP/2 connection; each stream runs through the aiohttp application."""

    def __init__(
        self,
        app: web.Application,
        logger: logging.Logger,
        access_logger: AbstractAccessLogger | None = None,
        on_close: Callable[[H2Protocol], None] | None = None,
    ) -> None:
        super().__init__(asyncio.get_running_loop())
        self.app, self.logger, self.access_logger, self.on_close = (
            app,
            logger,
            access_logger,
            on_close,
        )
        # Inbound fields are checked (a hostile client's); outbound ones are aiohttp's,
        # already valid, so they are not checked a second time.
        config = h2.config.H2Configuration(
            client_side=False,
            # Fields arrive as bytes and are decoded per stream (_request): a value that is
            # not UTF-8 then resets its stream instead of raising out of receive_data.
            header_encoding=None,
            validate_outbound_headers=False,
            normalize_outbound_headers=False,
        )
        self.conn = h2.connection.H2Connection(config=config)
        self.tunnel_protocols = app.get(TUNNEL_PROTOCOLS, frozenset[str]())
        settings = {
            h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: MAX_STREAMS,
            h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: 64 * 1024,
        }
        if self.tunnel_protocols:
            settings[h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL] = 1  # RFC 8441 §3
        self.conn.local_settings = h2.settings.Settings(client=False, initial_values=settings)
        self.streams: dict[int, _Stream] = {}
        self.floods = {kind: _Flood(limit) for kind, limit in FLOOD_LIMITS.items()}
        self.peername: Any = None
        self.ssl_context: Any = None
        self.closing = False
        # Streams with response bytes to send, in the order they became ready.
        self.ready: dict[int, _Stream] = {}
        self.wake = asyncio.Event()
        self.pump: asyncio.Task[None] | None = None
        self.small_left = SMALL_RECORD_BYTES  # bytes still to send in small records
        self.last_write = 0.0

    # -- transport side ------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        # As aiohttp does for HTTP/1.1: no Nagle. Otherwise each small write after the
        # first waits for the peer's (delayed) ACK, 40 ms a time on Linux.
        tcp_nodelay(transport, True)  # type: ignore[arg-type]
        self.peername = transport.get_extra_info("peername")
        self.ssl_context = transport.get_extra_info("sslcontext")
        self.conn.initiate_connection()
        if self.tunnel_protocols:
            # A tunnel's bytes are acknowledged only once forwarded, so one stalled tunnel
            # holds up to a stream window of the connection's. With a connection window of
            # every stream's together, a stalled tunnel never stops the others (§5.2).
            self.conn.increment_flow_control_window((MAX_STREAMS - 1) * STREAM_WINDOW)
        self.flush()
        self.pump = self._loop.create_task(self._pump())

    def connection_lost(self, exc: BaseException | None) -> None:
        if self.pump is not None:
            self.pump.cancel()
        for stream in self.streams.values():
            if stream.task is not None:
                stream.task.cancel()
            if stream.reader is not None:
                stream.reader.feed_eof()
            if stream.tunnel is not None:
                stream.tunnel.feed_reset("connection closed")
            stream.window.set()
            stream.release(ConnectionError("connection closed"))
        self.streams.clear()
        super().connection_lost(exc)
        if self.on_close is not None:
            self.on_close(self)

    def flush(self) -> None:
        data = self.conn.data_to_send()
        if not data or self.transport is None or self.transport.is_closing():
            return
        now = time.monotonic()
        if now - self.last_write > IDLE_RESET:
            self.small_left = SMALL_RECORD_BYTES
        self.last_write = now
        # Each write is one SSL_write, so one TLS record (up to 16 KiB) per chunk.
        small = min(len(data), self.small_left)
        for i in range(0, small, SMALL_RECORD):
            self.transport.write(data[i : min(i + SMALL_RECORD, small)])
        self.small_left -= small
        if small < len(data):
            self.transport.write(data[small:])

    def data_received(self, data: bytes) -> None:
        try:
            events = self.conn.receive_data(data)
        except h2.exceptions.ProtocolError as e:
            # h2 has queued GOAWAY with the error code (RFC 9113 §5.4.1): send it, close.
            code = getattr(e, "error_code", ErrorCodes.PROTOCOL_ERROR)
            if isinstance(e.__cause__, HPACKError):
                # A field block that does not decode is COMPRESSION_ERROR (RFC 9113 §4.3);
                # h2 4.x reports PROTOCOL_ERROR, so its GOAWAY is replaced by the right one.
                code = ErrorCodes.COMPRESSION_ERROR
                self.conn.data_to_send()
                last = self.conn.highest_inbound_stream_id
                frame = GoAwayFrame(0, last_stream_id=last, error_code=code)
                if self.transport is not None:
                    self.transport.write(frame.serialize())
            self._close(f"{type(e).__name__}: {e}", code)
            return
        for event in events:
            self._event(event)
            if self.closing:
                return
        self.flush()

    def _close(self, why: str, code: int, send_goaway: bool = False) -> None:
        log_event(
            self.logger,
            "h2_connection_error",
            client=self._client(),
            error=why,
            error_code=ErrorCodes(code).name if code in ErrorCodes._value2member_map_ else code,
        )
        if send_goaway:
            with contextlib.suppress(h2.exceptions.ProtocolError):
                self.conn.close_connection(error_code=code)
        self.flush()
        self.closing = True
        if self.transport is not None:
            self.transport.close()

    def _flooded(self, kind: str) -> bool:
        if self.floods[kind].hit():
            limit = FLOOD_LIMITS[kind]
            self._close(
                f"{kind} flood: over {limit} in {FLOOD_WINDOW:g} s",
                ErrorCodes.ENHANCE_YOUR_CALM,
                True,
            )
            return True
        return False

    def _event(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.RequestReceived):
            self._request(event)
        elif isinstance(event, h2.events.DataReceived):
            stream = self.streams.get(event.stream_id)
            if stream is not None and stream.tunnel is not None:
                # A tunnel's window goes back as its bytes are forwarded (H2Tunnel.read).
                stream.tunnel.feed(event.data or b"", event.flow_controlled_length or 0)
                return
            if stream is not None and stream.reader is not None:
                stream.reader.feed_data(event.data)
            # Flow control (RFC 9113 §5.2): give the window back as soon as the bytes are ours.
            self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        elif isinstance(event, h2.events.StreamEnded):
            stream = self.streams.get(event.stream_id)
            if stream is not None:
                stream.remote_open = False
                if stream.reader is not None:
                    stream.reader.feed_eof()
                if stream.tunnel is not None:
                    stream.tunnel.feed_eof()
        elif isinstance(event, h2.events.StreamReset):
            stream = self.streams.pop(event.stream_id, None)
            self.ready.pop(event.stream_id, None)
            if stream is not None:
                stream.release(ConnectionError("stream reset by the client"))
                if stream.tunnel is not None:
                    stream.tunnel.feed_reset("stream reset by the client")
                if stream.task is not None:
                    stream.task.cancel()
            self._flooded("reset")
        elif isinstance(event, h2.events.WindowUpdated | h2.events.RemoteSettingsChanged):
            for stream in self.streams.values():
                stream.window.set()
            self.wake.set()
            if isinstance(event, h2.events.RemoteSettingsChanged):
                self._flooded("settings")
        elif isinstance(event, h2.events.PingReceived):
            self._flooded("ping")
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.flush()
            self.closing = True
            if self.transport is not None:
                self.transport.close()

    # -- one stream ------------------------------------------------------------
    def _request(self, event: h2.events.RequestReceived) -> None:
        sid = event.stream_id
        try:
            headers = [(bytes(k).decode(), bytes(v).decode()) for k, v in event.headers or []]
        except UnicodeDecodeError as e:
            # The app's fields are str; a value that is not UTF-8 makes the request
            # malformed here, a stream error (RFC 9113 §8.1.1): only this stream ends.
            self._refuse_stream(sid, ErrorCodes.PROTOCOL_ERROR, f"a field is not UTF-8: {e}")
            return
        pseudo = dict(h for h in headers if h[0].startswith(":"))
        refusal: web.Response | None = None
        tunnel: H2Tunnel | None = None
        refused = connect_refusal(pseudo, self.tunnel_protocols)
        if refused is not None and refused.status is None:
            self._refuse_stream(sid, ErrorCodes.PROTOCOL_ERROR, refused.why)
            return
        if refused is not None and refused.status is not None:
            code = refused.status
            log_event(self.logger, "h2_connect_refused", client=self._client(), stream=sid,
                      status=code, error=refused.why)  # fmt: skip
            refusal = own_error(self.app, code, refused.why, f"{code} {refused.why}\n")
        elif ":protocol" in pseudo:
            tunnel = H2Tunnel(self, sid, pseudo[":protocol"])
        stream = _Stream(sid)
        stream.connect, stream.tunnel = pseudo.get(":method") == "CONNECT", tunnel
        self.streams[sid] = stream
        stream.remote_open = event.stream_ended is None
        if stream.remote_open and tunnel is None:
            stream.reader = StreamReader(self, BODY_LIMIT, loop=self._loop)
        stream.task = self._loop.create_task(self._serve(stream, request_message(headers), refusal))

    def _refuse_stream(self, stream_id: int, code: ErrorCodes, why: str) -> None:
        log_event(self.logger, "h2_stream_error", client=self._client(), stream=stream_id,
                  error=why, error_code=code.name)  # fmt: skip
        self.reset_stream(stream_id, code)

    def _client(self) -> str | None:
        return str(self.peername[0]) if self.peername else None

    def reset_stream(self, stream_id: int, code: ErrorCodes) -> None:
        """RST_STREAM with ``code``, sent at once (a stream already gone is left alone)."""
        with contextlib.suppress(h2.exceptions.ProtocolError):
            self.conn.reset_stream(stream_id, code)
        self.flush()

    async def _serve(
        self, stream: _Stream, message: RawRequestMessage, refusal: web.Response | None = None
    ) -> None:
        started = self._loop.time()
        writer = H2Writer(self, stream.id)
        payload = stream.reader if stream.reader is not None else EMPTY_PAYLOAD
        task = asyncio.current_task()
        assert task is not None
        request = self.app._make_request(message, payload, self, writer, task)  # type: ignore[arg-type]
        if stream.tunnel is not None:
            request[TUNNEL] = stream.tunnel
        try:
            await answer(
                self.app,
                request,
                logger=self.logger,
                event="h2_handler_error",
                access_logger=self.access_logger,
                started=started,
                refusal=refusal,
            )
        except (h2.exceptions.StreamClosedError, ConnectionError):
            pass  # the client reset the stream or went away: nothing more to send
        finally:
            request._finish()
            self.streams.pop(stream.id, None)
            if (
                stream.connect
                and stream.remote_open
                and (stream.tunnel is None or not stream.tunnel.remote_ended)
            ):
                # The answer is complete but the client's side of the CONNECT stream is
                # still open: ask it to stop, without error (RFC 9113 §8.1).
                self.reset_stream(stream.id, ErrorCodes.NO_ERROR)

    def send_headers(self, stream_id: int, headers: list[tuple[str, str]]) -> None:
        # Not flushed here: HEADERS leaves with the first DATA (or END_STREAM) in one write,
        # one TLS record for a small answer instead of two.
        self.conn.send_headers(stream_id, headers)

    async def send_data(self, stream_id: int, data: bytes, end_stream: bool = False) -> None:
        """Queue DATA for a stream and wait until it has gone out (see _pump)."""
        stream = self.streams.get(stream_id)
        if stream is None or self.transport is None:
            raise ConnectionError("stream closed")
        stream.pending += data
        stream.end_pending = stream.end_pending or end_stream
        waiter = self._loop.create_future()
        stream.waiters.append(waiter)
        self.ready.setdefault(stream_id, stream)
        self.wake.set()
        await waiter

    async def _pump(self) -> None:
        """Send the ready streams' DATA a frame each in turn, as HTTP/2 servers schedule.

        Without this every answer would go out whole before the next, and the
        capture would show HTTP/2 as HTTP/1.1 on one connection. Each round gives
        every ready stream one frame (at most the peer's frame size and windows,
        RFC 9113 §5.2, §6.9), and the round leaves in one write, so the DATA
        frames of several streams share TLS records: multiplexing on the wire.
        A stream whose window is empty waits for WINDOW_UPDATE; the others go on.
        """
        while True:
            await self.wake.wait()
            self.wake.clear()
            while self.ready and self.transport is not None:
                progressed = False
                for sid, stream in list(self.ready.items()):
                    room = min(
                        self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size
                    )
                    if stream.pending and room <= 0:
                        continue
                    chunk = bytes(stream.pending[:room])
                    del stream.pending[:room]
                    last = stream.end_pending and not stream.pending
                    try:
                        self.conn.send_data(sid, chunk, end_stream=last)
                    except h2.exceptions.StreamClosedError:
                        self.ready.pop(sid, None)
                        stream.release(ConnectionError("stream closed"))
                        continue
                    progressed = True
                    if not stream.pending:
                        self.ready.pop(sid, None)
                        stream.release()
                self.flush()
                await self.drain()
                if not progressed:
                    break  # every ready stream waits for its window: WINDOW_UPDATE wakes us

    def end_stream(self, stream_id: int) -> None:
        with contextlib.suppress(h2.exceptions.StreamClosedError):
            self.conn.end_stream(stream_id)
        self.flush()

    async def drain(self) -> None:
        await self._drain_helper()

    def goaway(self) -> None:
        """A graceful end (server shutdown): GOAWAY NO_ERROR, then close (RFC 9113 §6.8)."""
        with contextlib.suppress(h2.exceptions.ProtocolError):
            self.conn.close_connection()
        self.flush()
        if self.transport is not None:
            self.transport.close()


class AlpnDispatch(asyncio.Protocol):
    """Installed for each TLS connection; hands it on once ALPN has chosen the protocol."""

    def __init__(
        self, make_h1: Callable[[], asyncio.Protocol], make_h2: Callable[[], H2Protocol]
    ) -> None:
        self.make_h1, self.make_h2 = make_h1, make_h2

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        ssl_object = transport.get_extra_info("ssl_object")
        chosen = ssl_object.selected_alpn_protocol() if ssl_object is not None else None
        inner: asyncio.Protocol = self.make_h2() if chosen == "h2" else self.make_h1()
        transport.set_protocol(inner)
        inner.connection_made(transport)


class TlsSite:
    """A TLS listener for an aiohttp runner that speaks HTTP/1.x and HTTP/2."""

    def __init__(
        self,
        runner: web.AppRunner,
        host: str,
        port: int,
        ssl_context: Any,
        logger: logging.Logger,
        access_logger: AbstractAccessLogger | None = None,
    ) -> None:
        self.runner, self.host, self.port, self.ssl_context = runner, host, port, ssl_context
        self.logger, self.access_logger = logger, access_logger
        self.h2: set[H2Protocol] = set()
        self.server: asyncio.Server | None = None

    def _make_h2(self) -> H2Protocol:
        proto = H2Protocol(self.runner.app, self.logger, self.access_logger, self.h2.discard)
        self.h2.add(proto)
        return proto

    async def start(self) -> None:
        h1 = self.runner.server
        assert h1 is not None, "runner.setup() first"
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(
            lambda: AlpnDispatch(h1, self._make_h2),
            self.host,
            self.port,
            ssl=self.ssl_context,
            reuse_address=True,
        )

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        for proto in list(self.h2):
            proto.goaway()
        if self.server is not None:
            await self.server.wait_closed()

"""HTTP/3 for the lab's aiohttp apps: QUIC on UDP beside the TLS/TCP port.

The same idea as services/common/h2server.py, one layer further: aioquic's
sans-IO ``QuicConnection`` does QUIC (RFC 9000, TLS 1.3 inside it, RFC 9001)
and its ``H3Connection`` the HTTP/3 framing and QPACK (RFC 9114, RFC 9204);
this file only turns each request stream into an ordinary aiohttp
``Request``, answered by the same application, middlewares and handlers that
answer HTTP/1.1 and HTTP/2. So the edge's cache, the origin's pages and the
API's routes stay one code path for every version; h2server's
``request_message`` and ``response_headers`` build the request and the
response fields here too.

Datagrams reach connections through aioquic's ``QuicServer`` (the protocol
that ``aioquic.asyncio.serve`` installs), created here with
``create_datagram_endpoint`` directly only to keep the transport and so the
kernel-chosen port. It stays because what it does is QUIC, not HTTP: it
routes datagrams by connection ID (RFC 9000 §5.2), answers unknown versions
with Version Negotiation (§6) and creates a connection only for a full-size
Initial (§14.1, the anti-amplification rule). Rewriting that would be a
second QUIC stack; everything HTTP is in :class:`H3Protocol` below.

What a hostile client can do and what happens: a frame not allowed where it
arrives, a bad SETTINGS, a malformed request or a QPACK block that does not
decode is a connection error; ``H3Connection`` closes the connection with the
RFC 9114 §8.1 code (H3_FRAME_UNEXPECTED, H3_MESSAGE_ERROR, ...), we log what
was wrong, and every other connection goes on. QUIC bounds concurrent streams
itself (``max_streams_bidi``, 128 by default, RFC 9000 §4.6).

TLS secrets go to ``SSLKEYLOGFILE`` like every TCP context in
services/common/tls.py, so the capture decrypts QUIC too.

Resumption and 0-RTT: the site keeps the tickets it issues (tickets.py), so a
returning client resumes with a PSK handshake, no certificate sent, and may
send requests as 0-RTT early data (RFC 9001 §4.6), which aioquic accepts
whenever the ticket is found. Early data can be replayed by an attacker
(RFC 8446 §8, RFC 9114 §10.9), so a request that arrives before the handshake
completes is answered only if its method is safe (GET, HEAD, OPTIONS); any
other gets 425 Too Early from this layer (RFC 8470 §5.2) and never reaches
the app, which the client retries after the handshake. The layer decides,
not the app, because none of the lab's apps check ``Early-Data`` and a
replayed POST to the API must not run twice. A safe request answered in early
data carries ``Early-Data: 1`` into the app (RFC 8470 §5.1), so the edge, a
proxy, could tell its origin.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import zlib
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import IO, Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger, AbstractStreamWriter
from aiohttp.base_protocol import BaseProtocol
from aiohttp.compression_utils import ZLibCompressor
from aiohttp.http import HttpVersion
from aiohttp.http_parser import RawRequestMessage
from aiohttp.streams import EMPTY_PAYLOAD, StreamReader
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.asyncio.server import QuicServer
from aioquic.buffer import encode_uint_var
from aioquic.h3.connection import ErrorCode, FrameType, H3Connection, encode_frame
from aioquic.h3.events import DataReceived, H3Event, HeadersReceived
from aioquic.quic import events
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import QuicConnection, QuicConnectionState
from aioquic.quic.packet import QuicErrorCode
from multidict import CIMultiDict

from services.common.answer import answer
from services.common.h2server import request_message, response_headers
from services.common.logs import log_event
from services.common.tickets import TicketStore

HTTP3 = HttpVersion(3, 0)
ALPN = ["h3"]  # RFC 9114 §3.1
BODY_LIMIT = 1 << 20  # bytes of a request body buffered before reading would pause
SEND_HIGH_WATER = 256 * 1024  # unsent bytes of one response before write() waits
GRACE = 1.0  # seconds stop() lets in-flight requests finish after GOAWAY
ALT_SVC_MAX_AGE = 86400  # seconds a client may remember the h3 alternative (RFC 7838 §3)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})  # RFC 9110 §9.2.1: fit for early data


def quic_configuration(
    cert: Path, key: Path, env: Mapping[str, str] | None = None
) -> QuicConfiguration:
    """A server configuration: ALPN h3, ``cert`` (leaf + chain) and ``key``, key log.

    ``SSLKEYLOGFILE`` is opened for appending, as OpenSSL does for the TCP side,
    so both write to one file; the caller closes ``secrets_log_file``.
    """
    config = QuicConfiguration(is_client=False, alpn_protocols=ALPN)
    config.load_cert_chain(cert, key)
    keylog = (os.environ if env is None else env).get("SSLKEYLOGFILE")
    if keylog:
        config.secrets_log_file = open(keylog, "a")  # noqa: SIM115 - lives as long as the site
    return config


def alt_svc(port: int) -> str:
    """The Alt-Svc field value announcing HTTP/3 on ``port`` of the same host (RFC 7838 §3)."""
    return f'h3=":{port}"; ma={ALT_SVC_MAX_AGE}'


def advertise_h3(app: web.Application, port: int) -> None:
    """Add ``Alt-Svc: h3=":PORT"`` to every response ``app`` sends over TCP.

    A browser learns of HTTP/3 only this way or by DNS HTTPS records (RFC 9114
    §3.1.1). A response-prepare hook rather than a middleware: it also sees
    streamed responses and HTTP exceptions, which a middleware meets after
    their fields are sent or not at all. Call before the runner's setup().
    """
    value = alt_svc(port)

    async def add(request: web.Request, response: web.StreamResponse) -> None:
        # Replace, not keep: an answer the edge relays carries its origin's Alt-Svc,
        # which names the origin's port; the client's alternative is this listener.
        if request.version < HTTP3:
            response.headers["Alt-Svc"] = value
        else:
            response.headers.popall("Alt-Svc", None)

    # aiohttp 3.11 annotates Signal's callbacks as taking a handler, not (request, response).
    app.on_response_prepare.append(add)  # type: ignore[arg-type]


class _StreamTransport(asyncio.Transport):
    """What ``request.transport`` is over HTTP/3: the request's stream, not a socket."""

    def __init__(self, proto: H3Protocol, stream_id: int, peername: Any) -> None:
        super().__init__()
        self.extra = {"peername": peername, "stream_id": stream_id}
        self.proto, self.stream_id = proto, stream_id
        self.closing = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.extra.get(name, default)

    def is_closing(self) -> bool:
        return self.closing

    def abort(self) -> None:
        # The h3 counterpart of a TCP reset (the API's drop fault): the stream, not
        # the connection, ends with H3_INTERNAL_ERROR (RFC 9114 §4.1.1).
        self.proto.reset(self.stream_id, ErrorCode.H3_INTERNAL_ERROR)

    def close(self) -> None:
        self.abort()


class _Stream(BaseProtocol):
    """One request stream; also the ``protocol`` its aiohttp Request reads from."""

    def __init__(self, proto: H3Protocol, stream_id: int) -> None:
        super().__init__(proto._loop)
        self.id = stream_id
        self.peername = proto.peername
        self.ssl_context = proto.site_marker  # truthy: aiohttp then calls the scheme https
        self.transport = _StreamTransport(proto, stream_id, proto.peername)
        self.reader: StreamReader | None = None
        self.task: asyncio.Task[None] | None = None
        self.written = 0  # bytes handed to QUIC, headers and frames included


class H3Writer(AbstractStreamWriter):
    """Where aiohttp writes one response: HEADERS, then DATA frames on one stream."""

    def __init__(self, proto: H3Protocol, stream: _Stream) -> None:
        self.proto, self.stream = proto, stream
        self.buffer_size = self.output_size = 0
        self.length = None
        self._compress: ZLibCompressor | None = None
        self.head: list[tuple[bytes, bytes]] | None = None  # HEADERS not yet handed to QUIC

    async def write_headers(self, status_line: str, headers: CIMultiDict[str]) -> None:
        # Connection-specific fields are malformed in HTTP/3 (RFC 9114 §4.2); the
        # filter is h2server's, the list being the same as HTTP/2's. Held back until
        # the body or its end: a response without content (HEAD, 304, 204) is then one
        # HEADERS frame carrying FIN, with no empty DATA frame after it.
        self.head = [(k.encode(), v.encode()) for k, v in response_headers(status_line, headers)]

    def _head(self, end_stream: bool) -> None:
        if self.head is not None:
            head, self.head = self.head, None
            self.proto.send_headers(self.stream, head, end_stream)

    async def write(self, chunk: bytes | bytearray | memoryview) -> None:
        data = bytes(chunk)
        if self._compress is not None:
            data = await self._compress.compress(data)
        if data:
            self._head(end_stream=False)
            self.output_size += len(data)
            await self.proto.send_data(self.stream, data, end_stream=False)

    async def write_eof(self, chunk: bytes = b"") -> None:
        data = bytes(chunk)
        if self._compress is not None:
            data = (await self._compress.compress(data) if data else b"") + self._compress.flush()
        self.output_size += len(data)
        if not data and self.head is not None:
            self._head(end_stream=True)
            self.proto.transmit_soon()
            return
        self._head(end_stream=False)
        await self.proto.send_data(self.stream, data, end_stream=True)

    async def drain(self) -> None:
        await self.proto.drain(self.stream)

    def enable_compression(
        self, encoding: str = "deflate", strategy: int = zlib.Z_DEFAULT_STRATEGY
    ) -> None:
        self._compress = ZLibCompressor(
            encoding=encoding, suppress_deflate_header=True, strategy=strategy
        )

    def enable_chunking(self) -> None:
        pass  # DATA frames carry their own lengths: no chunked coding (RFC 9114 §4.1)


def _code_name(code: int) -> str | int:
    for enum in (ErrorCode, QuicErrorCode):
        if code in enum._value2member_map_:
            return enum(code).name
    return code


class H3Protocol(QuicConnectionProtocol):
    """One QUIC connection speaking HTTP/3; each request runs through the aiohttp app."""

    def __init__(
        self,
        quic: QuicConnection,
        stream_handler: Any = None,
        *,
        app: web.Application,
        logger: logging.Logger,
        access_logger: AbstractAccessLogger | None = None,
        on_close: Callable[[H3Protocol], None] | None = None,
        site_marker: object = True,
    ) -> None:
        super().__init__(quic, stream_handler)
        self.app, self.logger, self.access_logger, self.on_close = (
            app,
            logger,
            access_logger,
            on_close,
        )
        self.site_marker = site_marker
        self.http: H3Connection | None = None
        self.streams: dict[int, _Stream] = {}
        self.last_stream_id = -4  # the highest request stream accepted (for GOAWAY)
        self.peername: Any = None
        self.started = self._loop.time()
        self.closed_by: str | None = None  # who began closing: server, client
        self.sent = asyncio.Event()  # set after each transmit: writers waiting for room recheck

    # -- datagrams and QUIC events -------------------------------------------------
    def datagram_received(self, data: bytes | str, addr: Any) -> None:
        if self.peername is None:
            self.peername = addr
        super().datagram_received(data, addr)
        self._report_local_close()

    def transmit(self) -> None:
        super().transmit()
        self.sent.set()

    def close(self, error_code: int = ErrorCode.H3_NO_ERROR, reason_phrase: str = "") -> None:
        self.closed_by = self.closed_by or "server"
        super().close(error_code, reason_phrase)

    def _report_local_close(self) -> None:
        """Note who began closing, and log the reason when it is us, for an error.

        aioquic announces a close only by ConnectionTerminated, after the closing
        period (RFC 9000 §10.2); what went wrong is known at once, in the close it
        queued (``_close_event``): CLOSING state when we sent it, DRAINING when the
        peer did (aioquic has no public hook for either).
        """
        close = self._quic._close_event
        if close is None or self.closed_by is not None:
            return
        state = self._quic._state
        if state is QuicConnectionState.DRAINING:
            self.closed_by = "client"
            return
        if state is not QuicConnectionState.CLOSING:
            return
        self.closed_by = "server"
        if close.error_code in (QuicErrorCode.NO_ERROR, ErrorCode.H3_NO_ERROR):
            return
        log_event(
            self.logger,
            "h3_connection_error",
            client=self.peername[0] if self.peername else None,
            error=close.reason_phrase or "protocol error",
            error_code=_code_name(close.error_code),
            layer="h3" if close.error_code >= ErrorCode.H3_DATAGRAM_ERROR else "quic",
        )

    def quic_event_received(self, event: events.QuicEvent) -> None:
        if isinstance(event, events.ProtocolNegotiated) and event.alpn_protocol in ALPN:
            self.http = H3Connection(self._quic)
        elif isinstance(event, events.HandshakeCompleted):
            log_event(
                self.logger,
                "h3_connection_opened",
                client=self.peername[0] if self.peername else None,
                alpn=event.alpn_protocol,
                resumed=event.session_resumed,
                early_data=event.early_data_accepted,
                handshake_ms=round((self._loop.time() - self.started) * 1000, 3),
            )
        elif isinstance(event, events.ConnectionTerminated):
            self._terminated(event)
            return
        elif isinstance(event, events.StreamReset | events.StopSendingReceived):
            stream = self.streams.pop(event.stream_id, None)
            if stream is not None and stream.task is not None:
                stream.task.cancel()  # the client gave up on this request (RFC 9114 §4.1.1)
        if self.http is not None:
            for h3_event in self.http.handle_event(event):
                self._h3_event(h3_event)

    def _terminated(self, event: events.ConnectionTerminated) -> None:
        self._report_local_close()
        by = self.closed_by or ("idle" if event.reason_phrase == "Idle timeout" else "server")
        log_event(
            self.logger,
            "h3_connection_closed",
            client=self.peername[0] if self.peername else None,
            error_code=_code_name(event.error_code),
            reason=event.reason_phrase,
            by=by,
        )
        for stream in self.streams.values():
            if stream.task is not None:
                stream.task.cancel()
            if stream.reader is not None:
                stream.reader.feed_eof()
        self.streams.clear()
        self.sent.set()
        if self.on_close is not None:
            self.on_close(self)

    def _h3_event(self, event: H3Event) -> None:
        if isinstance(event, HeadersReceived):
            stream = self.streams.get(event.stream_id)
            if stream is None:
                self._request(event)
            elif event.stream_ended and stream.reader is not None:
                stream.reader.feed_eof()  # trailers end the body; the app does not see them
        elif isinstance(event, DataReceived):
            stream = self.streams.get(event.stream_id)
            if stream is not None and stream.reader is not None:
                if event.data:
                    stream.reader.feed_data(event.data)
                if event.stream_ended:
                    stream.reader.feed_eof()

    # -- one request ---------------------------------------------------------------
    def _request(self, event: HeadersReceived) -> None:
        stream = _Stream(self, event.stream_id)
        self.streams[event.stream_id] = stream
        self.last_stream_id = max(self.last_stream_id, event.stream_id)
        headers = [(k.decode(), v.decode()) for k, v in event.headers]
        # Before the client's Finished, stream data can only have come in 0-RTT
        # packets (RFC 9001 §4.6.1: 1-RTT ones are not processed until then).
        if not self._quic._handshake_complete:
            method = next((v for k, v in headers if k == ":method"), "")
            if method not in SAFE_METHODS:
                self._too_early(stream, method, event.stream_ended)
                return
            headers.append(("early-data", "1"))
        if not event.stream_ended:
            stream.reader = StreamReader(stream, BODY_LIMIT, loop=self._loop)
        message = request_message(headers)._replace(version=HTTP3)
        stream.task = self._loop.create_task(self._serve(stream, message))

    def _too_early(self, stream: _Stream, method: str, ended: bool) -> None:
        """425 Too Early for an unsafe request in 0-RTT data (RFC 8470 §5.2)."""
        assert self.http is not None
        log_event(
            self.logger,
            "h3_too_early",
            client=self.peername[0] if self.peername else None,
            method=method,
            stream_id=stream.id,
        )
        fields = [(b":status", b"425"), (b"content-length", b"0")]
        self.http.send_headers(stream.id, fields, end_stream=True)
        self.streams.pop(stream.id, None)
        if not ended:  # its body is not wanted (RFC 9114 §4.1.1)
            with contextlib.suppress(ValueError):
                self._quic.stop_stream(stream.id, ErrorCode.H3_NO_ERROR)
        self._transmit_soon()

    async def _serve(self, stream: _Stream, message: RawRequestMessage) -> None:
        started = self._loop.time()
        writer = H3Writer(self, stream)
        payload = stream.reader if stream.reader is not None else EMPTY_PAYLOAD
        task = asyncio.current_task()
        assert task is not None
        request = self.app._make_request(message, payload, stream, writer, task)  # type: ignore[arg-type]
        try:
            await answer(self.app, request, logger=self.logger, event="h3_handler_error",
                         access_logger=self.access_logger, started=started)  # fmt: skip
        except ConnectionError:
            pass  # the client reset the stream or the connection ended: nothing more to send
        finally:
            request._finish()
            if self.streams.pop(stream.id, None) is stream and not payload.is_eof():
                # Answered before the request body ended (a 413, say): ask the client
                # to stop sending it (RFC 9114 §4.1.1, STOP_SENDING with H3_NO_ERROR).
                with contextlib.suppress(ValueError):
                    self._quic.stop_stream(stream.id, ErrorCode.H3_NO_ERROR)
                    self._transmit_soon()

    def _sendable(self, stream: _Stream) -> None:
        if self.http is None or self.streams.get(stream.id) is not stream:
            raise ConnectionResetError("stream closed")

    def send_headers(
        self, stream: _Stream, fields: list[tuple[bytes, bytes]], end_stream: bool
    ) -> None:
        self._sendable(stream)
        assert self.http is not None
        self.http.send_headers(stream.id, fields, end_stream)

    def transmit_soon(self) -> None:
        self._transmit_soon()

    async def send_data(self, stream: _Stream, data: bytes, end_stream: bool) -> None:
        self._sendable(stream)
        assert self.http is not None
        self.http.send_data(stream.id, data, end_stream)
        # Payload bytes only: with the frame headers the true count is a little larger,
        # so a wait in drain() ends slightly early, never late.
        stream.written += len(data)
        self._transmit_soon()
        if stream.written - self._sent_offset(stream) > SEND_HIGH_WATER:
            await self.drain(stream)

    def _sent_offset(self, stream: _Stream) -> int:
        quic_stream = self._quic._streams.get(stream.id)
        return stream.written if quic_stream is None else quic_stream.sender.highest_offset

    async def drain(self, stream: _Stream) -> None:
        """Wait while QUIC holds more than SEND_HIGH_WATER unsent bytes of this response.

        aioquic buffers whatever it is given and sends as flow and congestion
        control allow (RFC 9000 §4, RFC 9002 §7); without this a streamed body
        for a slow client would pile up in memory.
        """
        while stream.written - self._sent_offset(stream) > SEND_HIGH_WATER:
            self._sendable(stream)
            self.sent.clear()
            await self.sent.wait()

    def reset(self, stream_id: int, code: int) -> None:
        """End one stream abruptly (RESET_STREAM + STOP_SENDING, RFC 9114 §4.1.1)."""
        stream = self.streams.pop(stream_id, None)
        with contextlib.suppress(ValueError, AssertionError):
            self._quic.reset_stream(stream_id, code)
            self._quic.stop_stream(stream_id, code)
        self._transmit_soon()
        if (
            stream is not None
            and stream.task is not None
            and stream.task is not asyncio.current_task()
        ):
            stream.task.cancel()

    def goaway(self) -> None:
        """Refuse new requests: GOAWAY with the first stream ID not yet seen (RFC 9114 §5.2)."""
        if self.http is None or self.http._local_control_stream_id is None:
            return
        frame = encode_frame(FrameType.GOAWAY, encode_uint_var(self.last_stream_id + 4))
        self._quic.send_stream_data(self.http._local_control_stream_id, frame)
        self.transmit()

    async def finish(self, grace: float) -> None:
        """Let in-flight requests end (up to ``grace`` s), then close with H3_NO_ERROR."""
        tasks = [s.task for s in self.streams.values() if s.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=grace)
        self.close(error_code=ErrorCode.H3_NO_ERROR)


class H3Site:
    """An HTTP/3 listener (UDP) for an aiohttp app, beside its TLS site on TCP."""

    def __init__(
        self,
        runner: web.AppRunner | web.Application,
        host: str,
        port: int,
        cert: Path,
        key: Path,
        logger: logging.Logger,
        access_logger: AbstractAccessLogger | None = None,
        env: Mapping[str, str] | None = None,
        tickets: TicketStore | None = None,
        retry: bool = False,
    ) -> None:
        self.app = runner.app if isinstance(runner, web.AppRunner) else runner
        # Address validation (RFC 9000 section 8.1.2): answer every Initial without a
        # token with a Retry carrying one, and keep no state until the client sends
        # it back from the same address. It costs each connection a round trip, so it
        # is off unless asked (``retry``, or WEBLAB_QUIC_RETRY=1 in the service's
        # environment); a spoofed flood then opens nothing.
        self.retry = retry or (os.environ if env is None else env).get("WEBLAB_QUIC_RETRY") == "1"
        self.tickets = TicketStore() if tickets is None else tickets
        self.host, self.requested_port, self.cert, self.key = host, port, cert, key
        self.logger, self.access_logger, self.env = logger, access_logger, env
        self.connections: set[H3Protocol] = set()
        self.transport: asyncio.DatagramTransport | None = None
        self.server: QuicServer | None = None
        self.keylog: IO[str] | None = None

    @property
    def port(self) -> int:
        """The UDP port bound (the kernel's choice when constructed with 0)."""
        assert self.transport is not None, "start() first"
        port: int = self.transport.get_extra_info("sockname")[1]
        return port

    def _protocol(self, quic: QuicConnection, stream_handler: Any = None) -> H3Protocol:
        proto = H3Protocol(
            quic,
            stream_handler,
            app=self.app,
            logger=self.logger,
            access_logger=self.access_logger,
            on_close=self.connections.discard,
            site_marker=self,
        )
        self.connections.add(proto)
        return proto

    async def start(self) -> None:
        config = quic_configuration(self.cert, self.key, self.env)
        self.keylog = config.secrets_log_file
        loop = asyncio.get_running_loop()
        transport, server = await loop.create_datagram_endpoint(
            partial(
                QuicServer,
                configuration=config,
                create_protocol=self._protocol,
                session_ticket_handler=self.tickets.add,
                session_ticket_fetcher=self.tickets.pop,
                retry=self.retry,
            ),
            local_addr=(self.host, self.requested_port),
        )
        self.transport, self.server = transport, server
        log_event(
            self.logger, "listening", host=self.host, port=self.port, transport="udp", alpn=ALPN,
            retry=self.retry,
        )  # fmt: skip

    async def stop(self, grace: float = GRACE) -> None:
        """GOAWAY to every connection, let their requests finish, close, stop listening."""
        for proto in list(self.connections):
            proto.goaway()
        await asyncio.gather(*(p.finish(grace) for p in list(self.connections)))
        if self.server is not None:
            self.server.close()
        if self.keylog is not None:
            self.keylog.close()


async def start_h3(
    runner: web.AppRunner,
    host: str,
    port: int,
    cert: Path,
    key: Path,
    logger: logging.Logger,
    access_logger: AbstractAccessLogger | None = None,
) -> H3Site:
    """Start HTTP/3 on UDP ``port`` for the app of ``runner`` (already set up); stop() it later."""
    site = H3Site(runner, host, port, cert, key, logger, access_logger)
    await site.start()
    return site

"""HTTP/2 for the browser: one connection per host, every request a stream on it at once.

HTTP/2 (RFC 9113) cuts each message into frames tagged with a stream id, so
one connection carries many exchanges interleaved: the browser sends every
request for a host's subresources at once, each on its own stream (odd ids
from 1, §5.1.1), and reads frames until every stream has ended. That replaces
HTTP/1.1's six connections per host with one, one handshake and one
congestion window.

The framing, HPACK and the stream states are the ``h2`` package's: a sans-IO
state machine that is fed the bytes read and says what to write. This module
does the socket I/O around it and keeps the per-stream timings:

- the connection starts with the client preface and a SETTINGS frame (§3.4);
  server push is refused (SETTINGS_ENABLE_PUSH 0, §6.5.2), as browsers now do;
- no more streams are opened than the server's SETTINGS_MAX_CONCURRENT_STREAMS
  allows (§5.1.2); the rest wait for a stream to end;
- flow control (§5.2): the server may send only as much DATA as the client's
  windows allow, so every DATA frame read is acknowledged, and h2 sends the
  WINDOW_UPDATE frames that reopen the stream's and the connection's windows.
  The windows stay at the initial 64 KiB (browsers raise them, Chrome the
  connection's to 15 MB), so a capture shows WINDOW_UPDATE at work;
- RST_STREAM fails that stream only (§6.4); GOAWAY (§6.8) fails every stream
  still open, as h2 ends the connection on it; the client closes with its own
  GOAWAY when the page is done.
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.errors import ErrorCodes
from h2.events import (
    ConnectionTerminated,
    DataReceived,
    Event,
    ResponseReceived,
    StreamEnded,
    StreamReset,
)
from h2.exceptions import H2Error
from h2.settings import SettingCodes, Settings

from services.client.exchange import Conn, Exchanges, Job, Response, elapsed_ms, stamp

READ_SIZE = 65536


class StreamError(RuntimeError):
    """A stream (or the whole connection) ended without a complete response."""


@dataclass
class _Stream:
    job: Job
    sent: float  # time.perf_counter() when its HEADERS went out
    status: int = 0
    fields: list[tuple[str, str]] = field(default_factory=list)
    body: bytearray = field(default_factory=bytearray)
    first_byte: float = 0.0


def _text(value: str | bytes) -> str:
    # With header_encoding set, h2 hands back str; its types also allow bytes.
    return value.decode("latin-1") if isinstance(value, bytes) else value


def _code(code: int) -> str:
    try:
        return ErrorCodes(code).name
    except ValueError:
        return str(code)


class H2Conn:
    """The HTTP/2 connection to one host: ``fetch`` as many times as needed, then ``close``."""

    def __init__(self, conn: Conn, browser: Exchanges) -> None:
        self.conn = conn
        self.browser = browser
        self.h2 = H2Connection(H2Configuration(client_side=True, header_encoding="utf-8"))
        self.h2.local_settings = Settings(
            client=True,
            initial_values={
                SettingCodes.ENABLE_PUSH: 0,
                SettingCodes.MAX_CONCURRENT_STREAMS: 100,
                SettingCodes.MAX_HEADER_LIST_SIZE: H2Connection.DEFAULT_MAX_HEADER_LIST_SIZE,
            },
        )
        self.streams: dict[int, _Stream] = {}
        self.failed: str = ""  # why the connection can carry no more streams
        self.h2.initiate_connection()  # the preface and our SETTINGS
        self._flush()

    def fetch(self, jobs: Sequence[Job]) -> None:
        """Send JOBS as concurrent streams and read until each has ended or failed."""
        waiting = deque(jobs)
        while waiting or self.streams:
            if self.failed:
                for job in waiting:
                    self._fail_early(job, self.failed)
                return
            try:
                while waiting and self._room():
                    self._open(waiting.popleft())
                self._flush()
                data = self.conn.sock.recv(READ_SIZE)
            except (OSError, H2Error) as e:  # a timeout or a reset: every open stream is lost
                self._lose(f"HTTP/2 connection failed: {e or type(e).__name__}")
                continue
            if not data:
                self._lose("the server closed the HTTP/2 connection with streams open")
                continue
            try:
                events = self.h2.receive_data(data)
            except H2Error as e:
                with contextlib.suppress(OSError):
                    self._flush()  # the GOAWAY h2 queued with the error's code (§5.4.1)
                self._lose(f"HTTP/2 protocol error from the server: {e}")
                continue
            for event in events:
                self._handle(event)

    def close(self) -> None:
        """Say goodbye with GOAWAY (NO_ERROR, §6.8) and close the socket."""
        if not self.failed:
            try:
                self.h2.close_connection()
                self._flush()
            except (OSError, H2Error):
                pass  # closing anyway: nothing left to tell the server
        self.failed = self.failed or "closed"
        self.conn.close()

    def _room(self) -> bool:
        limit = self.h2.remote_settings.max_concurrent_streams
        return bool(self.h2.open_outbound_streams < limit)

    def _open(self, job: Job) -> None:
        self.browser.begin(job)
        stream_id = self.h2.get_next_available_stream_id()
        stamp(job, self.conn)
        job.fetch.stream_id = stream_id
        # Pseudo-header fields first (RFC 9113 §8.3.1), then the rest lowercased
        # (§8.2.1); :authority stands in for Host.
        headers = [
            (":method", "GET"),
            (":scheme", "https"),
            (":authority", job.authority),
            (":path", job.path),
            *((name.lower(), value) for name, value in job.fields),
        ]
        s = self.streams[stream_id] = _Stream(job, time.perf_counter())
        self.h2.send_headers(stream_id, headers, end_stream=True)
        self._flush()
        job.fetch.send_ms = elapsed_ms(s.sent)
        # The wait for the first byte starts once the request is on the wire.
        s.sent = time.perf_counter()

    def _handle(self, event: Event) -> None:
        stream_id = getattr(event, "stream_id", None)
        s = self.streams.get(stream_id) if stream_id is not None else None
        if isinstance(event, ResponseReceived) and s is not None:
            s.first_byte = time.perf_counter()
            s.job.fetch.ttfb_ms = (s.first_byte - s.sent) * 1000
            for raw_name, raw_value in event.headers or []:
                name, value = _text(raw_name), _text(raw_value)
                if name == ":status":
                    s.status = int(value)
                elif not name.startswith(":"):
                    s.fields.append((name, value))
        elif isinstance(event, DataReceived) and event.stream_id is not None:
            if s is not None and event.data:
                s.body += event.data
            # Hand the window back: h2 sends WINDOW_UPDATE for the stream and the
            # connection once enough has been consumed (RFC 9113 §6.9).
            self.h2.acknowledge_received_data(event.flow_controlled_length or 0, event.stream_id)
        elif isinstance(event, StreamEnded) and s is not None:
            del self.streams[event.stream_id or 0]
            if s.first_byte:
                s.job.fetch.download_ms = elapsed_ms(s.first_byte)
            self.browser.done(s.job, Response(s.status, s.fields, bytes(s.body)))
        elif isinstance(event, StreamReset) and s is not None:
            del self.streams[event.stream_id or 0]
            code = _code(event.error_code or 0)
            self.browser.done(
                s.job, StreamError(f"the server reset HTTP/2 stream {event.stream_id} ({code})")
            )
        elif isinstance(event, ConnectionTerminated):
            code = _code(event.error_code or 0)
            self._lose(
                f"the server sent GOAWAY ({code}, last stream {event.last_stream_id})"
                " before this stream ended"
            )
        # Anything else (SETTINGS and their ACK, WINDOW_UPDATE, PING, which h2
        # answers itself, 1xx, trailers) needs no action here.

    def _lose(self, why: str) -> None:
        """The connection is unusable: every open stream fails with WHY."""
        self.failed = why
        streams, self.streams = self.streams, {}
        for s in streams.values():
            self.browser.done(s.job, StreamError(why))

    def _fail_early(self, job: Job, why: str) -> None:
        self.browser.begin(job)
        stamp(job, self.conn)
        self.browser.done(job, StreamError(why))

    def _flush(self) -> None:
        data = self.h2.data_to_send()
        if data:
            self.conn.sock.sendall(data)

"""HTTP/3 for the browser: one QUIC connection per host, every request a QUIC stream.

HTTP/3 (RFC 9114) maps each request onto its own client-initiated
bidirectional QUIC stream (ids 0, 4, 8, ..., RFC 9000 §2.1), so a host's
subresources go out at once as over HTTP/2, but QUIC delivers each stream's
bytes in order independently: a lost packet holds up only the streams whose
data it carried, not every stream behind it as TCP does for HTTP/2 (RFC 9114
§1, "head-of-line blocking").

Framing (HEADERS and DATA frames, §7.2) and QPACK field compression (RFC 9204)
are aioquic's ``H3Connection``, on top of the ``QuicConnection`` that
quicdial.py set up; it also opens the client's control stream with its
SETTINGS and the two QPACK streams (unidirectional, ids 2, 6, 10). This module
feeds it the QUIC events and keeps the per-stream timings:

- flow control is QUIC's (RFC 9000 §4): aioquic raises MAX_STREAM_DATA and
  MAX_DATA as data is read, so there is nothing to acknowledge by hand;
- a stream the server resets (RESET_STREAM, with an HTTP/3 error code such as
  H3_REQUEST_REJECTED, §8.1) fails that request only; a CONNECTION_CLOSE fails
  every request still open;
- the client closes with H3_NO_ERROR when the page is done (§5.2);
- ``send_early`` queues requests before the handshake (quicdial's EARLY hook):
  on a resumed connection whose ticket allows it, safe methods only go out as
  0-RTT data, which an attacker can replay (RFC 9001 §9.2, RFC 8470 §2.3);
  anything else waits, and leaves with the client's Finished.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aioquic.h3.connection import ErrorCode, H3Connection, H3Stream
from aioquic.h3.events import DataReceived, H3Event, HeadersReceived
from aioquic.quic.events import ConnectionTerminated, QuicEvent, StreamReset

from services.client.exchange import Exchanges, Job, Response, elapsed_ms, stamp
from services.client.quicdial import QuicLink, code_name

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})  # RFC 9110 §9.2.1: fit for 0-RTT


class _ClientH3(H3Connection):
    """aioquic's H3Connection, except that a response to HEAD may carry a Content-Length.

    aioquic 1.7.2 checks every response's Content-Length against its DATA and
    closes the connection with H3_MESSAGE_ERROR otherwise, but a response to
    HEAD has no content and may announce GET's length (RFC 9110 §8.6, §9.3.2).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.head_streams: set[int] = set()

    def _check_content_length(self, stream: H3Stream) -> None:
        if stream.stream_id not in self.head_streams:
            super()._check_content_length(stream)


class StreamError(RuntimeError):
    """A stream (or the whole connection) ended without a complete response."""


@dataclass
class _Stream:
    job: Job
    sent: float  # time.perf_counter() once its HEADERS were sent
    early: bool = False  # queued before the handshake completed
    status: int = 0
    fields: list[tuple[str, str]] = field(default_factory=list)
    body: bytearray = field(default_factory=bytearray)
    first_byte: float = 0.0


class H3Conn:
    """The HTTP/3 connection to one host: ``fetch`` as many times as needed, then ``close``.

    TIMEOUT bounds each wait for the server.
    """

    def __init__(self, link: QuicLink, browser: Exchanges, timeout: float = 30.0) -> None:
        self.link = link
        self.browser = browser
        self.timeout = timeout
        # Queues the control stream with its SETTINGS and the QPACK streams: they
        # leave with the next datagrams sent (the Initial's 0-RTT, the Finished's
        # flight or the first request).
        self.h3 = _ClientH3(link.quic)
        self.streams: dict[int, _Stream] = {}
        self.early: list[Job] = []  # queued before the handshake, stamped once it is done
        self.failed: str = ""  # why the connection can carry no more streams

    def send_early(self, jobs: Sequence[Job]) -> None:
        """Queue JOBS before the handshake completes: 0-RTT if allowed, else with the Finished.

        With 0-RTT keys, a job whose method is not safe is left for ``fetch``
        (after the handshake), as RFC 8470 §2.1 asks of clients.
        """
        for job in jobs:
            if self.link.early_data and job.method not in SAFE_METHODS:
                continue
            self._open(job, early=True)
            self.early.append(job)

    def fetch(self, jobs: Sequence[Job]) -> None:
        """Send JOBS as concurrent streams and read until each has ended or failed.

        A job already queued by ``send_early`` is only waited for.
        """
        for job in self.early:
            stamp(job, self.link)  # the connection's TLS is known now
            job.fetch.early_data = self.link.early_data_accepted
        early, self.early = self.early, []
        for i, job in enumerate(jobs):
            if any(job is sent for sent in early):
                continue
            if self.failed:
                for late in jobs[i:]:
                    self._fail_early(late, self.failed)
                return
            try:
                self._open(job)
            except OSError as e:
                self._lose(f"HTTP/3 connection failed: {e or type(e).__name__}")
        # QUIC limits open streams itself (MAX_STREAMS, RFC 9000 §4.6): aioquic
        # holds back a stream beyond the server's limit until one ends.
        deadline = time.monotonic() + self.timeout
        while self.streams:
            self._handle_pending()
            if not self.streams:
                return
            closing = self.link.closing()
            if closing is not None:
                self._lose(_closed(closing))
                return
            if time.monotonic() >= deadline:
                self._lose(f"no answer over HTTP/3 from {self.link.host} in {self.timeout:g} s")
                return
            before = self.link.received
            try:
                self.link.step(deadline)
            except OSError as e:  # an ICMP error, or the socket failed
                self._lose(f"HTTP/3 connection failed: {e or type(e).__name__}")
                return
            if self.link.received != before:
                deadline = time.monotonic() + self.timeout

    def close(self) -> None:
        """Close the QUIC connection with H3_NO_ERROR (RFC 9114 §5.2) and the socket."""
        code = ErrorCode.H3_NO_ERROR if not self.failed else ErrorCode.H3_INTERNAL_ERROR
        self.failed = self.failed or "closed"
        self.link.close(code)

    def _open(self, job: Job, early: bool = False) -> None:
        self.browser.begin(job)
        stream_id = self.link.quic.get_next_available_stream_id()
        if not early:
            stamp(job, self.link)
        job.fetch.stream_id = stream_id
        # Pseudo-header fields first (RFC 9114 §4.3.1), then the rest lowercased
        # (§4.2); :authority stands in for Host.
        headers = [
            (b":method", job.method.encode()),
            (b":scheme", b"https"),
            (b":authority", job.authority.encode()),
            (b":path", job.path.encode()),
            *((name.lower().encode(), value.encode("latin-1")) for name, value in job.fields),
        ]
        s = self.streams[stream_id] = _Stream(job, time.perf_counter(), early)
        if job.method == "HEAD":
            self.h3.head_streams.add(stream_id)
        self.h3.send_headers(stream_id, headers, end_stream=not job.body)
        if job.body:
            self.h3.send_data(stream_id, job.body, end_stream=True)
        self.link.transmit()
        job.fetch.send_ms = elapsed_ms(s.sent)
        # The wait for the first byte starts once the request is on the wire.
        s.sent = time.perf_counter()

    def _handle_pending(self) -> None:
        while self.link.pending:
            event = self.link.pending.popleft()
            self._quic_event(event)
            for h3_event in self.h3.handle_event(event):
                self._h3_event(h3_event)
        self.link.transmit()  # QPACK decoder acknowledgements, ACKs

    def _quic_event(self, event: QuicEvent) -> None:
        if isinstance(event, StreamReset) and event.stream_id in self.streams:
            s = self.streams.pop(event.stream_id)
            self.browser.done(
                s.job,
                StreamError(
                    f"the server reset HTTP/3 stream {event.stream_id}"
                    f" ({code_name(event.error_code)})"
                ),
            )
        elif isinstance(event, ConnectionTerminated):
            self._lose(_closed(event))

    def _h3_event(self, event: H3Event) -> None:
        if not isinstance(event, HeadersReceived | DataReceived):
            return  # a datagram, or a push promise (never asked for)
        s = self.streams.get(event.stream_id)
        if s is None:
            return  # a pushed response's stream, or one already failed
        if isinstance(event, HeadersReceived):
            self._headers(s, event)
        else:
            s.body += event.data
        if event.stream_ended:
            del self.streams[event.stream_id]
            if not s.status:
                self.browser.done(s.job, StreamError("HTTP/3 stream ended with no response"))
                return
            s.job.fetch.download_ms = elapsed_ms(s.first_byte)
            self.browser.done(s.job, Response(s.status, s.fields, bytes(s.body)))

    def _headers(self, s: _Stream, event: HeadersReceived) -> None:
        if s.status:
            return  # a HEADERS frame after the final response's is its trailers: not kept
        status, fields = 0, []
        for raw_name, raw_value in event.headers:
            name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
            if name == ":status":
                status = int(value)
            elif not name.startswith(":"):
                fields.append((name, value))
        if 100 <= status < 200:
            return  # an interim response (RFC 9114 §4.1): the final one follows
        s.status, s.fields = status, fields
        s.first_byte = time.perf_counter()
        # From the later of the request leaving and the handshake completing, so
        # that tls_ms + ttfb_ms still add up: a request queued early left with the
        # Finished, or (0-RTT, early_data) was in flight during the handshake.
        s.job.fetch.ttfb_ms = (s.first_byte - max(s.sent, self.link.established)) * 1000

    def _lose(self, why: str) -> None:
        """The connection is unusable: every open stream fails with WHY."""
        self.failed = why
        streams, self.streams = self.streams, {}
        for s in streams.values():
            self.browser.done(s.job, StreamError(why))

    def _fail_early(self, job: Job, why: str) -> None:
        self.browser.begin(job)
        stamp(job, self.link)
        self.browser.done(job, StreamError(why))


def _closed(event: ConnectionTerminated) -> str:
    reason = f": {event.reason_phrase}" if event.reason_phrase else ""
    return f"the QUIC connection was closed with {code_name(event.error_code)}{reason}"

"""``python -m bench.h3load``: an HTTP/3 load generator, run in its own process.

Debian bookworm's h2load (nghttp2 1.52) is built without ngtcp2/nghttp3, so it
cannot speak HTTP/3 (``--npn-list=h3`` only offers "h3" over TCP+TLS). This is
the same QUIC stack as the lab's browser (services/client/quicdial.py and
h3conn.py: aioquic's sans-IO ``QuicConnection`` and ``H3Connection``), driven
for load instead of for a page: many connections over one selector, each
keeping STREAMS requests in flight (h2load's ``-c`` and ``-m``), where the
browser drives one blocking connection at a time.

Two modes, each for SECONDS:

- keep-alive: CONNS connections stay open, each with STREAMS requests in
  flight; every response is answered with a new request on a new stream.
- ``--handshakes``: every connection is a new one (new UDP port, no session
  ticket, so a full TLS 1.3 handshake inside QUIC, RFC 9001 §4), carries one
  GET and is closed with H3_NO_ERROR (RFC 9114 §5.2); CONNS of them at a time.
  This is ``openssl s_time -new -www`` for QUIC.

It prints one JSON object: requests done and failed, handshakes, wall time,
p50/p99 latency, and the client's own CPU (utime+stime from /proc, so the
bench can say which side is the bottleneck). Like h2load and ``s_time`` it
does not check the certificate: the bench's warm-up fetch already has, and
the check would add client CPU to every handshake.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import socket
import ssl
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from aioquic.h3.connection import H3_ALPN, ErrorCode, H3Connection
from aioquic.h3.events import DataReceived, HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import QuicConnection
from aioquic.quic.events import ConnectionTerminated, HandshakeCompleted

from harness.accounting import cpu_seconds

RECV_SIZE = 65536
BATCH = 64  # datagrams read from one socket before answering (quicdial.BATCH)


@dataclass
class Totals:
    """What one run did."""

    requests: int = 0
    failed: int = 0
    handshakes: int = 0
    body_bytes: int = 0
    latencies: list[float] = field(default_factory=list)  # seconds, request sent -> end
    errors: list[str] = field(default_factory=list)  # the first few, for the report

    def fail(self, why: str, count: int = 1) -> None:
        self.failed += count
        if len(self.errors) < 5:
            self.errors.append(why)


@dataclass
class Conn:
    """One QUIC connection and the requests open on it (stream id -> time sent)."""

    sock: socket.socket
    quic: QuicConnection
    h3: H3Connection | None = None
    open: dict[int, float] = field(default_factory=dict)
    status: dict[int, int] = field(default_factory=dict)
    done: bool = False


class Load:
    """CONNS connections to ADDR, asking AUTHORITY for PATH, STREAMS at a time on each."""

    def __init__(
        self, addr: tuple[str, int], authority: str, path: str, streams: int, once: bool
    ) -> None:
        self.addr, self.streams, self.once = addr, streams, once
        self.headers = [
            (b":method", b"GET"),
            (b":scheme", b"https"),
            (b":authority", authority.encode()),
            (b":path", path.encode()),
            (b"user-agent", b"weblab-h3load"),
        ]
        self.server_name = authority.rsplit(":", 1)[0]
        self.sel = selectors.DefaultSelector()
        self.conns: list[Conn] = []
        self.totals = Totals()

    def dial(self) -> Conn:
        """A new connection: its Initial is sent at once (RFC 9000 §7)."""
        config = QuicConfiguration(
            is_client=True,
            alpn_protocols=H3_ALPN,
            server_name=self.server_name,
            verify_mode=ssl.CERT_NONE,
            idle_timeout=30.0,
        )
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setblocking(False)
        sock.connect(self.addr)
        conn = Conn(sock, QuicConnection(configuration=config))
        conn.quic.connect(self.addr, now=time.monotonic())
        self.sel.register(sock, selectors.EVENT_READ, conn)
        self.conns.append(conn)
        self.transmit(conn)
        return conn

    def transmit(self, conn: Conn) -> None:
        for data, _ in conn.quic.datagrams_to_send(now=time.monotonic()):
            try:
                conn.sock.send(data)
            except BlockingIOError:
                return  # the socket buffer is full: QUIC's loss recovery resends
            except OSError as e:  # ICMP port unreachable from an earlier datagram
                self.drop(conn, f"{type(e).__name__}: {e}")
                return

    def ask(self, conn: Conn) -> None:
        assert conn.h3 is not None
        stream_id = conn.quic.get_next_available_stream_id()
        conn.h3.send_headers(stream_id, self.headers, end_stream=True)
        conn.open[stream_id] = time.perf_counter()

    def drop(self, conn: Conn, why: str) -> None:
        """The connection is over; its open requests fail with WHY."""
        if conn.done:
            return
        conn.done = True
        if conn.open:
            self.totals.fail(why, len(conn.open))
            conn.open.clear()
        self.sel.unregister(conn.sock)
        conn.sock.close()
        self.conns.remove(conn)

    def close(self, conn: Conn) -> None:
        conn.open.clear()  # unanswered at the end of the run: not a failure
        conn.quic.close(error_code=ErrorCode.H3_NO_ERROR)
        self.transmit(conn)
        self.drop(conn, "closed")

    def handle(self, conn: Conn) -> None:
        """Act on what the connection has to say, then send what follows."""
        while (event := conn.quic.next_event()) is not None:
            if isinstance(event, HandshakeCompleted):
                self.totals.handshakes += 1
                conn.h3 = H3Connection(conn.quic)
                for _ in range(self.streams):
                    self.ask(conn)
            elif isinstance(event, ConnectionTerminated):
                self.drop(conn, f"connection closed: 0x{event.error_code:x} {event.reason_phrase}")
                return
            if conn.h3 is None:
                continue
            for h3_event in conn.h3.handle_event(event):
                if not isinstance(h3_event, HeadersReceived | DataReceived):
                    continue  # nothing else is asked for
                if isinstance(h3_event, HeadersReceived):
                    for name, value in h3_event.headers:
                        if name == b":status":
                            conn.status[h3_event.stream_id] = int(value)
                else:
                    self.totals.body_bytes += len(h3_event.data)
                if h3_event.stream_ended:
                    self.answered(conn, h3_event.stream_id)
                    if conn.done:
                        return
        self.transmit(conn)

    def answered(self, conn: Conn, stream_id: int) -> None:
        sent = conn.open.pop(stream_id, None)
        status = conn.status.pop(stream_id, 0)
        if sent is None:
            return
        if status == 200:
            self.totals.requests += 1
            self.totals.latencies.append(time.perf_counter() - sent)
        else:
            self.totals.fail(f"status {status}")
        if self.once:
            self.close(conn)
            self.dial()
        else:
            self.ask(conn)

    def run(self, conns: int, seconds: float) -> float:
        """Keep CONNS connections busy for SECONDS; the wall time it took."""
        start = time.monotonic()
        deadline = start + seconds
        for _ in range(conns):
            self.dial()
        while (now := time.monotonic()) < deadline:
            timers = [t for c in self.conns if (t := c.quic.get_timer()) is not None]
            wake = min([deadline, *timers])
            for key, _ in self.sel.select(max(wake - now, 0)):
                conn = key.data
                self.receive(conn)
                if not conn.done:
                    self.handle(conn)
            now = time.monotonic()
            for conn in list(self.conns):
                timer = conn.quic.get_timer()
                if timer is not None and timer <= now:
                    conn.quic.handle_timer(now)
                    self.handle(conn)
            while len(self.conns) < conns:  # a connection the server closed is replaced
                self.dial()
        elapsed = time.monotonic() - start
        for conn in list(self.conns):
            self.close(conn)
        return elapsed

    def receive(self, conn: Conn) -> None:
        for _ in range(BATCH):
            try:
                data = conn.sock.recv(RECV_SIZE)
            except BlockingIOError:
                return
            except OSError as e:
                self.drop(conn, f"{type(e).__name__}: {e}")
                return
            conn.quic.receive_datagram(data, self.addr, now=time.monotonic())


def percentile(values: Sequence[float], q: float) -> float:
    """The Q-quantile (0..1) of VALUES by nearest rank; 0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.h3load", description=__doc__)
    parser.add_argument("url", help="https://ADDRESS:PORT/PATH (UDP PORT)")
    parser.add_argument("--authority", required=True, help=":authority and SNI")
    parser.add_argument("-c", "--conns", type=int, default=20)
    parser.add_argument("-m", "--streams", type=int, default=10)
    parser.add_argument("-D", "--seconds", type=float, default=5.0)
    parser.add_argument(
        "--handshakes", action="store_true", help="a new connection for every request"
    )
    args = parser.parse_args(argv)
    rest = args.url.removeprefix("https://")
    hostport, _, path = rest.partition("/")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit() or not 0 < args.seconds <= 10:
        parser.error("URL must be https://ADDRESS:PORT/PATH and --seconds 0..10")
    load = Load(
        (host, int(port)), args.authority, "/" + path, 1 if args.handshakes else args.streams,
        once=args.handshakes,
    )  # fmt: skip
    cpu0 = cpu_seconds([os.getpid()])
    elapsed = load.run(args.conns, args.seconds)
    t = load.totals
    print(
        json.dumps(
            {
                "requests": t.requests,
                "failed": t.failed,
                "handshakes": t.handshakes,
                "body_bytes": t.body_bytes,
                "seconds": elapsed,
                "rps": t.requests / elapsed,
                "handshakes_s": t.handshakes / elapsed,
                "p50_ms": percentile(t.latencies, 0.5) * 1000,
                "p99_ms": percentile(t.latencies, 0.99) * 1000,
                "client_cpu_s": cpu_seconds([os.getpid()]) - cpu0,
                "errors": t.errors,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

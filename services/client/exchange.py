"""One request and its response, whatever HTTP version carries them.

The browser (browse.py) decides what to ask and what a response means; the
transports (h1pool.py for HTTP/1.0 and 1.1, h2conn.py for HTTP/2, h3conn.py
for HTTP/3) only move requests and responses over a connection. These records are what passes
between them, so neither side needs to know the other's details.
"""

from __future__ import annotations

import ssl
import time
from dataclasses import dataclass, field
from typing import Protocol

from services.client.timeline import Fetch

# Request and response fields, in order, a repeated field once per pair. Names
# in HTTP/1.1 spelling on the way out (h2conn lowercases them, RFC 9113
# §8.2.1); on the way in as the server sent them (lowercase over HTTP/2).
Fields = list[tuple[str, str]]


class Secured(Protocol):
    """What a request records of its connection's TLS: ssl.SSLSocket's answers.

    A QUIC connection (quicdial.QuicTls) answers the same questions: its TLS 1.3
    handshake is carried in QUIC's CRYPTO frames instead of TLS records.
    """

    @property
    def session_reused(self) -> bool | None: ...

    def version(self) -> str | None: ...

    def cipher(self) -> tuple[str, str, int] | None: ...

    def selected_alpn_protocol(self) -> str | None: ...


class Link(Protocol):
    """A connection the browser opened, over TCP (Conn) or QUIC (quicdial.QuicLink)."""

    number: int
    host: str
    address: str
    protocol: str  # "1.0", "1.1", "2" or "3"
    requests: int

    @property
    def tls(self) -> Secured: ...

    def close(self) -> None: ...


@dataclass
class Conn:
    """One TLS connection over TCP the browser opened, and how many requests it has carried."""

    sock: ssl.SSLSocket
    number: int  # numbered in the run from 1, in the order opened
    host: str
    address: str
    protocol: str  # "1.0", "1.1" or "2"
    requests: int = 0

    @property
    def tls(self) -> ssl.SSLSocket:
        return self.sock

    def close(self) -> None:
        self.sock.close()


@dataclass
class Job:
    """A request to make: filled in by the browser when a connection takes it."""

    fetch: Fetch
    authority: str  # host, with ":port" when not 443
    path: str  # path and query
    port: int = 443
    fields: Fields = field(default_factory=list)
    began: float = 0.0  # time.perf_counter() when a connection took it
    conn: Link | None = None
    content: bytes = b""  # what the browser made of the response (a 304: the kept body)
    # The browser only GETs; h3conn also honours these (h3get's -X and --data).
    method: str = "GET"
    body: bytes = b""


@dataclass
class Response:
    status: int
    fields: Fields
    body: bytes


class Exchanges(Protocol):
    """The browser, as a transport sees it: asked when a request starts and ends."""

    def begin(self, job: Job) -> None:
        """Fill in JOB's fields now that a connection takes it (idempotent)."""

    def done(self, job: Job, result: Response | Exception) -> None:
        """JOB's response arrived, or it failed with the exception."""


def stamp(job: Job, conn: Link) -> None:
    """Record on JOB's fetch the connection that carries it, as it goes out."""
    f = job.fetch
    job.conn = conn
    # The first request on a connection paid for its handshakes; every later one
    # (keep-alive, or another stream over HTTP/2 or HTTP/3) rides on them.
    f.reused_connection = conn.requests > 0
    conn.requests += 1
    f.connection = conn.number
    f.http_version = conn.protocol
    tls = conn.tls
    cipher = tls.cipher()
    f.tls_version, f.cipher = tls.version() or "", cipher[0] if cipher else ""
    f.alpn = tls.selected_alpn_protocol() or ""
    f.tls_resumed = bool(tls.session_reused)


def elapsed_ms(since: float) -> float:
    return (time.perf_counter() - since) * 1000

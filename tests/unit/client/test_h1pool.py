"""services.client.h1pool.exchange: the request it writes and whether a connection persists.

The "server" is the other end of a socketpair, answering with canned bytes.
"""

from __future__ import annotations

import socket
import ssl
from typing import cast

import pytest

from services.client.exchange import Conn, Job
from services.client.h1pool import exchange, request_bytes
from services.client.timeline import Fetch


def job() -> Job:
    f = Fetch(url="https://www.example.com/a?b=1", host="www.example.com", started=0.0)
    return Job(f, "www.example.com", "/a?b=1", fields=[("Accept", "*/*")])


def run(version: str, response: bytes) -> tuple[bytes, int, bytes, bool]:
    """Exchange one request over VERSION; the request bytes, status, body, keep."""
    client, server = socket.socketpair()
    with client, server:
        server.sendall(response)
        conn = Conn(cast(ssl.SSLSocket, client), 1, "www.example.com", "127.0.0.1", version)
        resp, keep = exchange(conn, job())
        server.settimeout(1)
        sent = server.recv(65536)
    return sent, resp.status, resp.body, keep


def test_request_line_and_host() -> None:
    """The request line names the version; Host comes first, then the job's fields."""
    assert request_bytes(job(), "1.0") == (
        b"GET /a?b=1 HTTP/1.0\r\nHost: www.example.com\r\nAccept: */*\r\n\r\n"
    )


@pytest.mark.parametrize(
    ("version", "response", "keep"),
    [
        ("1.1", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", True),
        ("1.1", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi", False),
        # A 1.1 status line to a 1.0 request still does not make the connection persistent.
        ("1.0", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", False),
        ("1.0", b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi", False),
        ("1.0", b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\nConnection: Keep-Alive\r\n\r\nhi", True),
    ],
)
def test_persistence(version: str, response: bytes, keep: bool) -> None:
    """HTTP/1.1 persists unless the server says close; HTTP/1.0 only if it says keep-alive."""
    sent, status, body, kept = run(version, response)
    assert sent.startswith(f"GET /a?b=1 HTTP/{version}\r\n".encode())
    assert (status, body, kept) == (200, b"hi", keep)


def test_http10_body_without_length_ends_at_close() -> None:
    """A 1.0 response without Content-Length is read until the server closes (RFC 1945 §7.2.2)."""
    client, server = socket.socketpair()
    with client, server:
        server.sendall(b"HTTP/1.0 200 OK\r\n\r\nall of it")
        server.shutdown(socket.SHUT_WR)  # the server's end of the response
        conn = Conn(cast(ssl.SSLSocket, client), 1, "www.example.com", "127.0.0.1", "1.0")
        resp, keep = exchange(conn, job())
    assert (resp.body, keep) == (b"all of it", False)

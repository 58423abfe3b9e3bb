"""The edge's own HTTP/1.1 WebSocket handshake to an upstream, then bytes relayed both ways.

A WebSocket that reaches the edge over HTTP/2 (RFC 8441 extended CONNECT,
services/common/h2tunnel.py) carries no Sec-WebSocket-Key: the key and its
check belong to RFC 6455's HTTP/1.1 Upgrade, and RFC 8441 §5 replaces them
with the stream itself. The upstream (the API) speaks only that Upgrade, so
the edge makes one of its own: it generates the key, sends the Upgrade, and
checks the 101's Sec-WebSocket-Accept as any client must (RFC 6455 §4.1),
then relays raw bytes: h2 DATA <-> the upstream's TLS socket. The WebSocket
frames pass through untouched (client frames masked, server frames not,
extensions end to end), since both legs carry the same RFC 6455 framing.

The handshake is plain functions from bytes to bytes (no I/O); the relay and
the dialer are the thin I/O around them.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field

from multidict import CIMultiDict
from yarl import URL

from services.common.h2tunnel import H2Tunnel

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3
VERSION = "13"  # RFC 6455 §4.1: the only version
HEAD_LIMIT = 64 * 1024  # bytes of an upstream's answer head before it is refused
GRACE = 2.0  # seconds one direction may go on after the other has ended
READ_SIZE = 64 * 1024


def new_key() -> str:
    """A Sec-WebSocket-Key: 16 random bytes, base64 (RFC 6455 §4.1)."""
    return base64.b64encode(os.urandom(16)).decode()


def accept_for(key: str) -> str:
    """The Sec-WebSocket-Accept a server must answer ``key`` with (RFC 6455 §4.2.2)."""
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def host_field(url: URL) -> str:
    """Host as an HTTP/1.1 client sends it: the port only when it is not the default."""
    host = url.raw_host or ""
    return host if url.is_default_port() else f"{host}:{url.port}"


def upgrade_request(url: URL, key: str, fields: Mapping[str, str]) -> bytes:
    """The GET with Upgrade: websocket (RFC 6455 §4.1) for ``url``, with ``fields`` after
    the handshake's own; ``fields`` must not hold Host, Upgrade, Connection or the key."""
    lines = [
        f"GET {url.raw_path_qs} HTTP/1.1",
        f"Host: {host_field(url)}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        f"Sec-WebSocket-Version: {VERSION}",
    ]
    for name, value in fields.items():
        if any(c in name + value for c in "\r\n\0"):
            raise ValueError(f"field {name!r} holds CR, LF or NUL")
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


@dataclass(frozen=True)
class Answer:
    """The upstream's response head."""

    status: int
    reason: str
    headers: CIMultiDict[str] = field(default_factory=CIMultiDict)


def parse_head(head: bytes) -> Answer:
    """An HTTP/1.1 response head (through the blank line); ValueError if it is not one."""
    text = head.decode("latin-1")
    status_line, *lines = text.split("\r\n")
    version, _, rest = status_line.partition(" ")
    code, _, reason = rest.partition(" ")
    if not version.startswith("HTTP/1.") or not (code.isdigit() and len(code) == 3):
        raise ValueError(f"not an HTTP/1.1 status line: {status_line[:80]!r}")
    headers: CIMultiDict[str] = CIMultiDict()
    for line in lines:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise ValueError(f"malformed field line: {line[:80]!r}")
        headers.add(name, value.strip())
    return Answer(int(code), reason, headers)


def upgrade_problem(answer: Answer, key: str) -> str | None:
    """What is wrong with a 101 as the answer to ``key`` (RFC 6455 §4.1, the client's
    checks), or None when the WebSocket is open."""
    if answer.status != 101:
        return f"status {answer.status}, not 101"
    if answer.headers.get("Upgrade", "").lower() != "websocket":
        return "no Upgrade: websocket"
    tokens = {t.strip().lower() for t in answer.headers.get("Connection", "").split(",")}
    if "upgrade" not in tokens:
        return "no Connection: Upgrade"
    if answer.headers.get("Sec-WebSocket-Accept") != accept_for(key):
        return "Sec-WebSocket-Accept does not match the key sent"
    return None


@dataclass(frozen=True)
class Dialer:
    """Opens the edge's own connection to an upstream: pinned address, TLS as configured."""

    pins: Mapping[tuple[str, int], str] = field(default_factory=dict)
    tls: ssl.SSLContext | None = None  # None: plain TCP (the edge's --plain test mode)
    connect_timeout: float = 2.0

    async def open(self, url: URL) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        host, port = url.host or "", url.port or 443
        address = self.pins.get((host.lower().rstrip("."), port), host)
        secure = self.tls if url.scheme in ("https", "wss") else None
        return await asyncio.wait_for(
            asyncio.open_connection(
                address,
                port,
                ssl=secure,
                server_hostname=host if secure is not None else None,
                limit=HEAD_LIMIT,
            ),
            self.connect_timeout,
        )


async def relay(
    tunnel: H2Tunnel, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> str:
    """Bytes both ways until both sides ended (or one ended and GRACE passed); how it ended.

    END_STREAM and the upstream's close are the orderly ends; an upstream that
    breaks off resets the stream with CANCEL (RFC 8441 §5)."""

    async def to_upstream() -> None:
        while data := await tunnel.read():  # reading again gives the window back
            writer.write(data)
            await writer.drain()

    async def to_client() -> None:
        while data := await reader.read(READ_SIZE):
            await tunnel.write(data)
        await tunnel.close()

    up = asyncio.create_task(to_upstream())
    down = asyncio.create_task(to_client())
    orderly = False
    try:
        done, _ = await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
        first = "upstream" if down in done else "client"
        await asyncio.wait({up, down}, timeout=GRACE)
        if down.done() and down.exception() is not None:
            tunnel.reset()
            return f"upstream failed: {down.exception()!r}"
        if up.done() and up.exception() is not None:
            return f"client failed: {up.exception()!r}"
        orderly = down.done()
        return f"{first} closed"
    finally:
        for task in (up, down):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if orderly:
            writer.close()  # the upstream has closed: TLS close_notify and FIN
        else:
            # A reset stream, a failure or an upstream still open after GRACE: RFC 8441 §5
            # maps RST_STREAM to a TCP reset, so no orderly TLS close either.
            writer.transport.abort()
        with contextlib.suppress(Exception):
            await writer.wait_closed()

"""The DNS servers' control channel: one JSON request line, one JSON reply line, per connection.

A Unix socket inside the server's container, so only processes there
(``docker exec``) reach it, as with ``unbound-control`` on a local socket.
The resolver and the forwarder each decide what their commands do
(``handle``); the framing, the ``name`` argument of ``dump`` and ``flush``,
the socket and the client (``request``, for their ``ctl`` programs) are
here, once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
from collections.abc import Callable
from typing import Any

from services.dnscore.names import norm

MAX_REQUEST = 4096
Reply = dict[str, Any]


def decode(line: bytes) -> tuple[dict[str, Any], str] | Reply:
    """The request and its ``cmd``, or the error reply for a line that is not one."""
    try:
        request = json.loads(line)
        return request, str(request["cmd"])
    except (ValueError, KeyError, TypeError):
        return {"ok": False, "error": 'expected a JSON object with "cmd"'}


def name_of(request: dict[str, Any]) -> str | None | Reply:
    """``dump``/``flush``'s optional ``name``, normalised; an error reply if not a string."""
    name = request.get("name")
    if name is not None and not isinstance(name, str):
        return {"ok": False, "error": "name must be a string"}
    return norm(name) if name else None


async def serve(
    path: str, handle: Callable[[bytes], Reply], after: Callable[[Reply], None] = lambda r: None
) -> asyncio.AbstractServer:
    """Listen on the Unix socket PATH (a stale socket file is replaced); HANDLE answers each
    request line, AFTER sees each reply (a flush's log line)."""

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), 5.0)
            reply = handle(line[:MAX_REQUEST])
            after(reply)
            writer.write(json.dumps(reply).encode() + b"\n")
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    server = await asyncio.start_unix_server(client, path)
    os.chmod(path, 0o600)  # root in the container only
    return server


def request(path: str, payload: dict[str, Any], timeout: float = 5.0) -> Reply:
    """Send one request, return the decoded reply (raises OSError/ValueError)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(path)
        sock.sendall(json.dumps(payload).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    reply: Reply = json.loads(data)
    return reply

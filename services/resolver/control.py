"""The resolver's control channel: one JSON request and one JSON reply per connection.

A Unix socket (default /run/weblab-resolver.sock) inside the resolver's
container, so only processes there (``docker exec``) can use it, as with
``unbound-control`` on a local socket. Requests:
``{"cmd": "dump"}`` -> ``{"ok": true, "entries": [...]}`` and
``{"cmd": "flush", "name": "example.com."}`` (name optional: everything) ->
``{"ok": true, "flushed": N}``. ``handle_request`` is the I/O-free part.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Callable
from typing import Any

from services.common.logs import log_event
from services.dnscore.names import norm

logger = logging.getLogger(__name__)

DEFAULT_SOCKET = "/run/weblab-resolver.sock"
MAX_REQUEST = 4096


def handle_request(
    line: bytes, dump: Callable[[], list[dict[str, object]]], flush: Callable[[str | None], int]
) -> dict[str, Any]:
    """Decode one request line and act on it; errors become ``{"ok": false}``."""
    try:
        request = json.loads(line)
        cmd = request["cmd"]
    except (ValueError, KeyError, TypeError):
        return {"ok": False, "error": 'expected a JSON object with "cmd"'}
    if cmd == "dump":
        return {"ok": True, "entries": dump()}
    if cmd == "flush":
        name = request.get("name")
        if name is not None and not isinstance(name, str):
            return {"ok": False, "error": "name must be a string"}
        flushed = flush(norm(name) if name else None)
        return {"ok": True, "flushed": flushed, "name": norm(name) if name else None}
    return {"ok": False, "error": f"unknown command {cmd!r}"}


async def serve_control(
    path: str, dump: Callable[[], list[dict[str, object]]], flush: Callable[[str | None], int]
) -> asyncio.AbstractServer:
    """Listen on the Unix socket ``path`` (a stale socket file is replaced)."""

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), 5.0)
            reply = handle_request(line[:MAX_REQUEST], dump, flush)
            if reply.get("ok") and "flushed" in reply:
                log_event(logger, "resolver_flush", qname=reply["name"], flushed=reply["flushed"])
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

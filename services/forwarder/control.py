"""The forwarder's control channel: one JSON request and one JSON reply per connection.

A Unix socket (default /run/weblab-forwarder.sock, not the resolver's
/run/weblab-resolver.sock, so both can run in one container) inside the
forwarder's container: only processes there (``docker exec``) reach it.
Every reply names the layer (``--name``: "stub", "router"). Requests:

- ``{"cmd": "dump"}`` (``"name"`` optional: that name and below) ->
  ``{"ok": true, "layer", "name", "cache": true, "entries": [{"name", "type",
  "class", "kind", "rcode", "ttl", "original_ttl", "why", "hits",
  "records"}, ...]}``
- ``{"cmd": "flush"}`` (``"name"`` optional: that name and below) ->
  ``{"ok": true, "layer", "flushed": N, "name"}``
- ``{"cmd": "stats"}`` -> ``{"ok": true, "layer", "queries", "hits",
  "misses", "collapsed", "servfail", "bad_packets", "upstream_queries",
  "cache_entries", "upstream", "upstream_detail"}``

``handle_request`` is the I/O-free part, given the ``Controls`` to act on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from services.common.logs import log_event
from services.dnscore import control
from services.dnscore.names import is_subdomain

logger = logging.getLogger(__name__)

DEFAULT_SOCKET = "/run/weblab-forwarder.sock"


@dataclass
class Controls:
    """What the control channel acts on."""

    layer: str
    dump: Callable[[], list[dict[str, object]]]
    flush: Callable[[str | None], int]
    stats: Callable[[], dict[str, object]]
    cache: bool = True  # False with --no-cache: dump is always empty, and says why


def handle_request(line: bytes, controls: Controls) -> dict[str, Any]:
    """Decode one request line and act on it; errors become ``{"ok": false}``."""
    decoded = control.decode(line)
    if isinstance(decoded, dict):
        return decoded
    request, cmd = decoded
    base: dict[str, Any] = {"ok": True, "layer": controls.layer}
    if cmd in ("dump", "flush"):
        name = control.name_of(request)
        if isinstance(name, dict):
            return name
        if cmd == "flush":
            return {**base, "flushed": controls.flush(name), "name": name}
        entries = [e for e in controls.dump() if name is None or is_subdomain(str(e["name"]), name)]
        return {**base, "name": name, "cache": controls.cache, "entries": entries}
    if cmd == "stats":
        return {**base, **controls.stats()}
    return {"ok": False, "error": f"unknown command {cmd!r}"}


async def serve_control(path: str, controls: Controls) -> asyncio.AbstractServer:
    """Listen on the Unix socket ``path`` (a stale socket file is replaced)."""

    def logged(reply: dict[str, Any]) -> None:
        if reply.get("ok") and "flushed" in reply:
            log_event(logger, "forwarder_flush", layer=controls.layer, qname=reply["name"],
                      flushed=reply["flushed"])  # fmt: skip

    return await control.serve(path, lambda line: handle_request(line, controls), logged)

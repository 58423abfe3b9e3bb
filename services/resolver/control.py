"""The resolver's control channel: one JSON request and one JSON reply per connection.

A Unix socket (default /run/weblab-resolver.sock) inside the resolver's
container, so only processes there (``docker exec``) can use it, as with
``unbound-control`` on a local socket. Requests and replies:

- ``{"cmd": "dump"}`` (``"name"`` optional: that name and below) ->
  ``{"ok": true, "name": null, "entries": [{"name", "type", "kind", "rank",
  "ttl", "stale", "records"}, ...]}``
- ``{"cmd": "flush", "name": "example.com."}`` (name optional: everything) ->
  ``{"ok": true, "flushed": N, "name": ...}``
- ``{"cmd": "weaken", "fixed_port": 5300}`` (``null``: off) ->
  ``{"ok": true, "fixed_port": 5300}``, the mode now in force; the weakened
  mode (services/resolver/fixedport.py) exists only to demonstrate RFC 5452
- ``{"cmd": "stats"}`` -> ``{"ok": true, "fixed_port": null, "upstream":
  {"queries", "accepted", "ignored", "wrong_source", "wrong_id",
  "wrong_question", "garbage"}, "rcvbuf": bytes | null, "kernel_udp":
  {"no_ports", "rcvbuf_errors", "in_errors"} | null}``

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
from services.resolver.kerneludp import read_udp_counters
from services.resolver.transport import NetworkTransport

logger = logging.getLogger(__name__)

DEFAULT_SOCKET = "/run/weblab-resolver.sock"


@dataclass
class Controls:
    """What the control channel acts on: the cache, the front end's flush, the transport."""

    dump: Callable[[], list[dict[str, object]]]
    flush: Callable[[str | None], int]
    transport: NetworkTransport | None = None  # None: no weaken, no upstream stats
    kernel_udp: Callable[[], dict[str, int] | None] = read_udp_counters


def _weaken(request: dict[str, Any], transport: NetworkTransport | None) -> dict[str, Any]:
    if transport is None:
        return {"ok": False, "error": "this resolver has no network transport to weaken"}
    port = request.get("fixed_port", "missing")
    if port is not None and (type(port) is not int or not 1 <= port <= 65535):
        return {"ok": False, "error": "fixed_port must be a port number 1-65535, or null (off)"}
    before = transport.fixed_port
    try:
        now = transport.weaken(port)
    except OSError as e:
        return {"ok": False, "error": f"cannot bind source port {port}: {e}", "fixed_port": before}
    if now is not None and now != before:
        logger.warning(
            "resolver_weakened",
            extra={
                "event": "resolver_weakened",
                "fixed_port": now,
                "detail": "every upstream query now leaves from this one source port; "
                "only the 16-bit ID stops forged answers (RFC 5452 §9.2 defence off)",
            },
        )
    elif now is None and before is not None:
        logger.warning(
            "resolver_weakened_off",
            extra={
                "event": "resolver_weakened_off",
                "fixed_port": None,
                "previous_port": before,
                "detail": "a random source port per upstream query again (RFC 5452 §9.2)",
            },
        )
    return {"ok": True, "fixed_port": now}


def _stats(controls: Controls) -> dict[str, Any]:
    transport = controls.transport
    return {
        "ok": True,
        "fixed_port": transport.fixed_port if transport else None,
        "upstream": transport.counters.as_dict() if transport else None,
        "rcvbuf": transport.rcvbuf_granted if transport else None,
        "kernel_udp": controls.kernel_udp(),
    }


def handle_request(line: bytes, controls: Controls) -> dict[str, Any]:
    """Decode one request line and act on it; errors become ``{"ok": false}``."""
    decoded = control.decode(line)
    if isinstance(decoded, dict):
        return decoded
    request, cmd = decoded
    if cmd in ("dump", "flush"):
        name = control.name_of(request)
        if isinstance(name, dict):
            return name
        if cmd == "flush":
            return {"ok": True, "flushed": controls.flush(name), "name": name}
        entries = [e for e in controls.dump() if name is None or is_subdomain(str(e["name"]), name)]
        return {"ok": True, "name": name, "entries": entries}
    if cmd == "weaken":
        return _weaken(request, controls.transport)
    if cmd == "stats":
        return _stats(controls)
    return {"ok": False, "error": f"unknown command {cmd!r}"}


async def serve_control(path: str, controls: Controls) -> asyncio.AbstractServer:
    """Listen on the Unix socket ``path`` (a stale socket file is replaced)."""

    def logged(reply: dict[str, Any]) -> None:
        if reply.get("ok") and "flushed" in reply:
            log_event(logger, "resolver_flush", qname=reply["name"], flushed=reply["flushed"])

    return await control.serve(path, lambda line: handle_request(line, controls), logged)

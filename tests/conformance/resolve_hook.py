"""A schemathesis hooks module (``SCHEMATHESIS_HOOKS``) that pins names to addresses.

The API's certificate names ``api-origin.example.com`` only, so schemathesis must
connect by that name (SNI and hostname check) while the server listens on
127.0.0.1: curl's ``--resolve``, for one process. ``WEBLAB_RESOLVE`` holds
``NAME:PORT:ADDRESS`` entries separated by spaces.
"""

from __future__ import annotations

import os
import socket
from typing import Any

_PINS = {
    (name.lower(), int(port)): addr
    for name, port, addr in (
        entry.split(":", 2) for entry in os.environ.get("WEBLAB_RESOLVE", "").split()
    )
}
_getaddrinfo = socket.getaddrinfo


def _pinned(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
    if isinstance(host, str) and port is not None:
        addr = _PINS.get((host.lower().rstrip("."), int(port)))
        if addr is not None:
            host = addr
    return _getaddrinfo(host, port, *args, **kwargs)


socket.getaddrinfo = _pinned

"""Server push of user changes over WebSocket (RFC 6455): GET /api/users/events.

Every connected client receives one JSON text message per change:
``{"type": "user.created"|"user.updated"|"user.deleted", "username": ..., "user": {...}|null,
"etag": ...|null}``. The first message, ``{"type": "subscribed"}``, tells the client it
will see every change made from then on.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

logger = logging.getLogger(__name__)


class EventHub:
    def __init__(self) -> None:
        self._sockets: set[web.WebSocketResponse] = set()

    def add(self, ws: web.WebSocketResponse) -> None:
        self._sockets.add(ws)

    def discard(self, ws: web.WebSocketResponse) -> None:
        self._sockets.discard(ws)

    def __len__(self) -> int:
        return len(self._sockets)

    async def publish(self, event: dict[str, Any]) -> None:
        """Send ``event`` to every subscriber; one that cannot take it is dropped."""
        for ws in list(self._sockets):
            try:
                await ws.send_json(event)
            except (ConnectionError, RuntimeError):  # closing or closed underneath us
                self._sockets.discard(ws)

    async def close_all(self) -> None:
        """Close with 1001 Going Away (RFC 6455 §7.4.1) so clients know to reconnect."""
        for ws in list(self._sockets):
            await ws.close(code=1001, message=b"server shutting down")
        self._sockets.clear()


def change(
    kind: str, username: str, user: dict[str, Any] | None, etag: str | None
) -> dict[str, Any]:
    return {"type": f"user.{kind}", "username": username, "user": user, "etag": etag}

"""Start-up both DNS servers share: load the data, serve, turn failure into exit 1.

A server refuses to start on bad data (zone files, root hints) rather than
serve part of it, and a port it cannot bind is one structured log line, not
a traceback. Each program keeps its own event names, which the orchestrator
and the report read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from services.dnscore.listen import run
from services.dnscore.masterfile import ZoneFileError

Data = TypeVar("Data")


@dataclass(frozen=True)
class StartupEvents:
    """What one program logs when it cannot start."""

    load_error: str  # event: the data did not load (ZoneFileError)
    load_message: str  # that record's message
    bind_error: str  # event: the UDP/TCP port could not be bound


def load_and_serve(
    logger: logging.Logger,
    events: StartupEvents,
    load: Callable[[], Data],
    serve: Callable[[Data], Coroutine[Any, Any, None]],
    listen: str,
    port: int,
) -> int:
    """``load()``, then run ``serve(data)`` until it returns: exit status 0, or 1 on failure."""
    try:
        data = load()
    except ZoneFileError as e:
        # Refuse to start: a server with half its data would answer wrongly.
        logger.error(events.load_message, extra={"event": events.load_error, "error": str(e)})
        return 1
    try:
        run(serve(data))
    except OSError as e:
        logger.error(
            "cannot listen",
            extra={"event": events.bind_error, "error": str(e), "listen": listen, "port": port},
        )
        return 1
    return 0

"""Structured logging for lab services: one JSON object a line on stdout.

The orchestrator reads these lines back (``docker compose logs``) to build a
run's story, so every record carries the time, the service and an event name.
Services never ``print``; they call ``log_event`` or use a normal logger.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

_RESERVED = set(vars(logging.makeLogRecord({})))
_ENCODER = json.JSONEncoder(default=str, separators=(",", ":"))  # one, not one per record


class JsonFormatter(logging.Formatter):
    """Render a record as one JSON line: time, service, level, event, fields."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": round(record.created, 6),
            "service": self.service,
            "level": record.levelname.lower(),
            "event": getattr(record, "event", None) or record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RESERVED and key not in ("event", "message"):
                doc[key] = value
        if record.exc_info:
            doc["error"] = self.formatException(record.exc_info)
        return _ENCODER.encode(doc)


def setup(service: str, level: int = logging.INFO) -> None:
    """Send every log record of this process to stdout as JSON lines."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def log_event(logger: logging.Logger, event: str, **fields: Any) -> None:
    """Log a structured event; ``fields`` become top-level JSON keys."""
    logger.info(event, extra={"event": event, **fields})


def now() -> float:
    """Wall-clock time in seconds, the clock the logs and the capture share."""
    return time.time()

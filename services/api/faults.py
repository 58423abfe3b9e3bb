"""Switchable faults for scenarios: errors with Retry-After, latency, dropped connections.

``FaultConfig.from_json`` validates what POST /__fault receives; ``decide``
turns a config and a random draw into what to do with one request. Both are
pure; the middleware in ``services.api.admin`` applies the decision.

``sigkill_self`` is the crash fault (``ApiConfig.kill_after_commit``): armed
only at start with ``--fault-kill-after-commit``, never through /__fault, so
no scenario or fuzzer can kill a lab it did not start for that.
"""

from __future__ import annotations

import os
import random
import signal
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

FIELDS = ("error_rate", "status", "retry_after", "latency_ms", "drop_rate")


@dataclass(frozen=True)
class FaultConfig:
    error_rate: float = 0.0  # share of requests answered with ``status``
    status: int = 503
    retry_after: int | None = 1  # seconds, sent with the error (RFC 9110 §10.2.3)
    latency_ms: int = 0  # added before every request is handled
    drop_rate: float = 0.0  # share of connections closed with no response

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> tuple[FaultConfig, list[tuple[str, str]]]:
        """The config and a list of (field, problem); fields left out take their defaults."""
        errors = [(name, "unknown field") for name in sorted(set(doc) - set(FIELDS))]
        for name in ("error_rate", "drop_rate"):
            value = doc.get(name, 0.0)
            if not _number(value) or not 0 <= value <= 1:
                errors.append((name, "a number from 0 to 1"))
        status = doc.get("status", 503)
        if not _integer(status) or not 400 <= status <= 599:
            errors.append(("status", "an HTTP error status, 400 to 599"))
        retry = doc.get("retry_after", 1)
        if retry is not None and (not _integer(retry) or not 0 <= retry <= 86_400):
            errors.append(("retry_after", "null or whole seconds, 0 to 86400"))
        latency = doc.get("latency_ms", 0)
        if not _integer(latency) or not 0 <= latency <= 60_000:
            errors.append(("latency_ms", "whole milliseconds, 0 to 60000"))
        if errors:
            return cls(), errors
        return cls(**{k: doc[k] for k in FIELDS if k in doc}), []

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def active(self) -> bool:
        return self != FaultConfig()


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class Decision:
    latency: float  # seconds to wait first
    drop: bool
    error: bool


def decide(config: FaultConfig, rng: random.Random) -> Decision:
    """What happens to one request: drop wins over error; latency applies to all."""
    drop = rng.random() < config.drop_rate
    error = not drop and rng.random() < config.error_rate
    return Decision(latency=config.latency_ms / 1000, drop=drop, error=error)


def sigkill_self() -> None:
    """End this process as ``kill -9`` does: no handler, no cleanup, nothing more sent."""
    os.kill(os.getpid(), signal.SIGKILL)

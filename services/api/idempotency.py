"""Idempotency-Key for POST (draft-ietf-httpapi-idempotency-key-header-06).

A client that retries a POST with the same key and the same body gets the
first response again (status, body, Location) and no second row. The rules
come from the draft's §2.6/§2.7:

- same key, different body: 422 Unprocessable Content (the key was reused);
- same key while the first request is still running: 409 Conflict;
- keys are remembered for ``ttl`` seconds, per authenticated subject, so one
  user cannot replay another's responses.

Pure apart from the injected clock; responses are stored as plain data.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

HEADER = "Idempotency-Key"
TTL = 24 * 3600.0
MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...]


@dataclass
class _Entry:
    fingerprint: str
    created: float
    response: StoredResponse | None = None  # None while the first request runs


class KeyReused(Exception):
    """The key was used before with a different request body (answer 422)."""


class KeyInFlight(Exception):
    """The first request with this key has not finished yet (answer 409)."""


def parse_key(header: str) -> str | None:
    """The key from ``Idempotency-Key`` (an sf-string, RFC 8941 §3.3.3), or None if malformed.

    A bare token is accepted too, as most clients send one.
    """
    value = header.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    if (
        not value
        or len(value) > MAX_KEY_LENGTH
        or not value.isascii()
        or not value.isprintable()
        or '"' in value
        or "\\" in value
    ):
        return None
    return value


def fingerprint(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(f"{method} {path}\n".encode() + body).hexdigest()


@dataclass
class IdempotencyStore:
    clock: Callable[[], float]
    ttl: float = TTL
    _entries: dict[tuple[str, str], _Entry] = field(default_factory=dict)

    def begin(self, subject: str, key: str, print_: str) -> StoredResponse | None:
        """The stored response for a replay, or None after reserving the key for a new request."""
        now = self.clock()
        for stale in [k for k, e in self._entries.items() if now - e.created > self.ttl]:
            del self._entries[stale]
        entry = self._entries.get((subject, key))
        if entry is None:
            self._entries[(subject, key)] = _Entry(fingerprint=print_, created=now)
            return None
        if entry.fingerprint != print_:
            raise KeyReused(key)
        if entry.response is None:
            raise KeyInFlight(key)
        return entry.response

    def finish(self, subject: str, key: str, response: StoredResponse | None) -> None:
        """Record the outcome; None (a failure worth retrying) frees the key."""
        if response is None:
            self._entries.pop((subject, key), None)
        elif (entry := self._entries.get((subject, key))) is not None:
            entry.response = response

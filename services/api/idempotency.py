"""Idempotency-Key for POST (draft-ietf-httpapi-idempotency-key-header-06).

A client that retries a POST with the same key and the same body gets the
first response again (status, body, Location) and no second row. The rules
come from the draft's §2.6/§2.7:

- same key, different body: 422 Unprocessable Content (the key was reused);
- same key while the first request is still running: 409 Conflict;
- keys are remembered for ``ttl`` seconds, per authenticated subject, so one
  user cannot replay another's responses.

Finished keys are rows of ``idempotency_keys`` in the API's database, and
``save`` is meant to run inside the transaction that writes the resource:
the row and the response that announces it commit together, so a process
killed after the commit and before the reply still replays that response
after its restart, instead of creating (or refusing as a duplicate) again.
A key in flight is kept in memory only: it belongs to the running process,
and a request killed before its commit left nothing a retry should see.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

HEADER = "Idempotency-Key"
TTL = 24 * 3600.0
MAX_KEY_LENGTH = 255

SCHEMA = """
CREATE TABLE IF NOT EXISTS idempotency_keys (
    subject     TEXT NOT NULL,
    key         TEXT NOT NULL,
    fingerprint TEXT NOT NULL,  -- sha256 of method, path and body
    created_at  REAL NOT NULL,  -- seconds of the API's clock; gone after the TTL
    status      INTEGER NOT NULL,
    headers     TEXT NOT NULL,  -- JSON [[name, value], ...]
    body        BLOB NOT NULL,
    PRIMARY KEY (subject, key)
)
"""
INDEX = "CREATE INDEX IF NOT EXISTS idempotency_keys_created ON idempotency_keys (created_at)"


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...]


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


class IdempotencyStore:
    def __init__(
        self, conn: sqlite3.Connection, clock: Callable[[], float], ttl: float = TTL
    ) -> None:
        self._conn = conn
        self._clock = clock
        self.ttl = ttl
        self._running: dict[tuple[str, str], str] = {}  # (subject, key) -> fingerprint
        conn.execute(SCHEMA)
        conn.execute(INDEX)

    def begin(self, subject: str, key: str, print_: str) -> StoredResponse | None:
        """The stored response for a replay, or None after reserving the key for a new request."""
        self.purge()
        row = self._conn.execute(
            "SELECT fingerprint, status, headers, body FROM idempotency_keys "
            "WHERE subject = ? AND key = ?",
            (subject, key),
        ).fetchone()
        if row is not None:
            if row[0] != print_:
                raise KeyReused(key)
            headers = tuple((str(k), str(v)) for k, v in json.loads(row[2]))
            return StoredResponse(int(row[1]), bytes(row[3]), headers)
        running = self._running.get((subject, key))
        if running is not None:
            raise KeyReused(key) if running != print_ else KeyInFlight(key)
        self._running[(subject, key)] = print_
        return None

    def save(self, subject: str, key: str, response: StoredResponse) -> None:
        """Keep the response of the reserved key; run it in the transaction of the row it made."""
        self._conn.execute(
            "INSERT INTO idempotency_keys "
            "(subject, key, fingerprint, created_at, status, headers, body) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                subject,
                key,
                self._running[(subject, key)],
                self._clock(),
                response.status,
                json.dumps([list(h) for h in response.headers]),
                response.body,
            ),
        )

    def finish(self, subject: str, key: str) -> None:
        """Release the reservation; a key finished without ``save`` (a 5xx) may run again."""
        self._running.pop((subject, key), None)

    def purge(self) -> int:
        """Forget keys older than the TTL; how many went."""
        cutoff = self._clock() - self.ttl
        return self._conn.execute(
            "DELETE FROM idempotency_keys WHERE created_at < ?", (cutoff,)
        ).rowcount

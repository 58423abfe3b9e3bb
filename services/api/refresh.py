"""Refresh tokens: opaque, single-use, rotated on every use (RFC 9700 §4.14.2).

The access token (a JWT) lives 15 minutes; POST /api/token/refresh trades a
refresh token for a new access token and a new refresh token. Only a hash of
each refresh token is stored, so a copy of the database logs nobody in.
Presenting a token that was already used means it leaked (the real client
holds only the newest one): every refresh token of that user is revoked.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
from collections.abc import Callable

LIFETIME = 7 * 24 * 3600  # seconds

SCHEMA = """
CREATE TABLE IF NOT EXISTS refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    username   TEXT NOT NULL,
    expires_at REAL NOT NULL,
    used       INTEGER NOT NULL DEFAULT 0
)
"""


class RefreshError(Exception):
    """The refresh token is unknown, expired, reused or its user is gone."""


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class RefreshTokens:
    def __init__(
        self, conn: sqlite3.Connection, clock: Callable[[], float], lifetime: int = LIFETIME
    ) -> None:
        self._conn = conn
        self._clock = clock
        self.lifetime = lifetime
        conn.execute(SCHEMA)

    def issue(self, username: str) -> str:
        token = secrets.token_urlsafe(32)
        now = self._clock()
        self._conn.execute("DELETE FROM refresh_tokens WHERE expires_at < ?", (now,))
        self._conn.execute(
            "INSERT INTO refresh_tokens (token_hash, username, expires_at) VALUES (?, ?, ?)",
            (_hash(token), username, now + self.lifetime),
        )
        return token

    def redeem(self, token: str) -> str:
        """The username the token was issued to; the token cannot be used again."""
        row = self._conn.execute(
            "SELECT username, expires_at, used FROM refresh_tokens WHERE token_hash = ?",
            (_hash(token),),
        ).fetchone()
        if row is None:
            raise RefreshError("unknown refresh token")
        username, expires_at, used = str(row[0]), float(row[1]), bool(row[2])
        if used:
            self.revoke_all(username)
            raise RefreshError("refresh token already used; all sessions of this user revoked")
        if self._clock() >= expires_at:
            raise RefreshError("refresh token expired")
        self._conn.execute(
            "UPDATE refresh_tokens SET used = 1 WHERE token_hash = ?", (_hash(token),)
        )
        return username

    def revoke_all(self, username: str) -> None:
        self._conn.execute("DELETE FROM refresh_tokens WHERE username = ?", (username,))

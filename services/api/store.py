"""The API's data: users in SQLite, and the token signing secret.

SQLite in WAL mode (readers never block the writer, and the file survives a
container kill). Calls are short and local, so they run on the event loop.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.api.passwords import hash_password

DEMO_USER, DEMO_PASSWORD = "alice", "wonderland"

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    username      TEXT PRIMARY KEY,
    display_name  TEXT NOT NULL,
    email         TEXT,
    password_hash TEXT NOT NULL,  -- "!" for accounts that cannot log in
    created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
)
"""
# Columns added after the first release, with the ALTER TABLE that adds them.
MIGRATIONS = {
    "email": "ALTER TABLE users ADD COLUMN email TEXT",
    "role": "ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'user'",
    "updated_at": "ALTER TABLE users ADD COLUMN updated_at TEXT",
}
ROLES = ("user", "admin")
_NOW = "strftime('%Y-%m-%dT%H:%M:%SZ', 'now')"
_COLUMNS = "username, display_name, email, role, created_at, COALESCE(updated_at, created_at)"

USERNAME = re.compile(r"[a-z][a-z0-9_-]{2,31}")
# Path segments under /api/users/ that are routes, not users.
RESERVED = frozenset({"events"})
# Deliberately loose (one @, a dot in the domain): full RFC 5322 addr-spec
# checking rejects real addresses more often than it catches typos.
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
NO_LOGIN = "!"  # never a valid scrypt string, so verify_password always fails


class UserExists(Exception):
    """A user with this name is already stored."""


@dataclass(frozen=True)
class User:
    username: str
    display_name: str
    email: str | None
    created_at: str
    role: str = "user"
    updated_at: str = ""

    def to_json(self) -> dict[str, str | None]:
        return {
            "username": self.username,
            "display_name": self.display_name,
            "email": self.email,
            "role": self.role,
            "created_at": self.created_at,
            "updated_at": self.updated_at or self.created_at,
        }


class UserStore:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    @classmethod
    def open(cls, path: Path | str) -> UserStore:
        """Open (creating and seeding on first start) the database at ``path``."""
        conn = sqlite3.connect(path, isolation_level=None)  # autocommit; one statement each
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(SCHEMA)
        columns = {row[1] for row in conn.execute("PRAGMA table_info(users)")}
        for column, statement in MIGRATIONS.items():
            if column not in columns:  # a database from before this column
                conn.execute(statement)
        store = cls(conn)
        if store.get(DEMO_USER) is None:
            store.create(
                DEMO_USER, "Alice Liddell", hash_password(DEMO_PASSWORD), email="alice@example.com"
            )
        # The demo user administers the others (403 scenarios need an admin and a non-admin).
        conn.execute("UPDATE users SET role = 'admin' WHERE username = ?", (DEMO_USER,))
        return store

    @property
    def connection(self) -> sqlite3.Connection:
        """For companions keeping their own tables in the same file (refresh tokens)."""
        return self._conn

    def close(self) -> None:
        self._conn.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction for every statement the block runs on this connection.

        The block must not await: the connection is shared by the event loop's
        handlers, and another handler's statement would join the transaction.
        IMMEDIATE takes the write lock at BEGIN rather than at the first write.
        """
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def _user(self, row: tuple[Any, ...]) -> User:
        return User(
            username=row[0],
            display_name=row[1],
            email=row[2],
            role=row[3],
            created_at=row[4],
            updated_at=row[5],
        )

    def get(self, username: str) -> User | None:
        row = self._conn.execute(
            f"SELECT {_COLUMNS} FROM users WHERE username = ?", (username,)
        ).fetchone()
        return None if row is None else self._user(row)

    def password_hash(self, username: str) -> str | None:
        row = self._conn.execute(
            "SELECT password_hash FROM users WHERE username = ?", (username,)
        ).fetchone()
        return None if row is None else str(row[0])

    def list(self, *, offset: int = 0, limit: int = -1) -> list[User]:
        """Users by name; ``limit`` -1 means all (SQLite's LIMIT -1)."""
        rows = self._conn.execute(
            f"SELECT {_COLUMNS} FROM users ORDER BY username LIMIT ? OFFSET ?", (limit, offset)
        )
        return [self._user(r) for r in rows]

    def count(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM users").fetchone()[0])

    def update(
        self, username: str, display_name: str, email: str | None, password_hash: str | None = None
    ) -> User | None:
        """Replace the editable fields (and the password when given); None if no such user."""
        cursor = self._conn.execute(
            f"UPDATE users SET display_name = ?, email = ?, updated_at = {_NOW}, "
            "password_hash = COALESCE(?, password_hash) WHERE username = ?",
            (display_name, email, password_hash, username),
        )
        return self.get(username) if cursor.rowcount else None

    def delete(self, username: str) -> bool:
        return self._conn.execute("DELETE FROM users WHERE username = ?", (username,)).rowcount > 0

    def create(
        self, username: str, display_name: str, password_hash: str, *, email: str | None = None
    ) -> User:
        try:
            self._conn.execute(
                "INSERT INTO users (username, display_name, email, password_hash) "
                "VALUES (?, ?, ?, ?)",
                (username, display_name, email, password_hash),
            )
        except sqlite3.IntegrityError as e:
            raise UserExists(username) from e
        user = self.get(username)
        assert user is not None
        return user


def _check_password_and_email(body: Mapping[str, Any], errors: list[tuple[str, str]]) -> None:
    password = body.get("password")
    if "password" in body and not isinstance(password, str):
        errors.append(("password", "a string"))
    elif isinstance(password, str) and not 8 <= len(password) <= 128:
        errors.append(("password", "8 to 128 characters"))
    email = body.get("email")
    if email is not None and (
        not isinstance(email, str) or not EMAIL.fullmatch(email) or len(email) > 254
    ):
        errors.append(("email", "an address like name@example.com"))


def validate_new_user(body: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(field, problem) for each thing wrong with a POST /api/users body.

    Only username is required; without a password the account exists but
    cannot log in.
    """
    errors: list[tuple[str, str]] = []
    for field in sorted(set(body) - {"username", "password", "display_name", "email"}):
        errors.append((field, "unknown field"))
    username = body.get("username")
    if not isinstance(username, str):
        errors.append(("username", "required, a string"))
    elif not USERNAME.fullmatch(username):
        errors.append(("username", "3-32 characters: a-z first, then a-z, 0-9, _ or -"))
    elif username in RESERVED:
        errors.append(("username", "reserved"))
    if "email" in body and body["email"] is None:
        errors.append(("email", "an address like name@example.com"))
    _check_password_and_email(body, errors)
    display = body.get("display_name", username if isinstance(username, str) else "")
    if not isinstance(display, str) or not 1 <= len(display) <= 64:
        errors.append(("display_name", "a string of 1 to 64 characters"))
    return errors


READ_ONLY = ("username", "role", "created_at", "updated_at")


def validate_replacement(body: Mapping[str, Any], current: User) -> list[tuple[str, str]]:
    """(field, problem) for a PUT body, or a PATCH result, replacing ``current``.

    A replacement is the whole editable state (RFC 9110 §9.3.4): display_name
    is required and a missing email means "no email". Read-only members may be
    sent back unchanged, so a GET body can be edited and PUT as it is.
    """
    errors = [
        (f, "unknown field")
        for f in sorted(set(body) - {"display_name", "email", "password", *READ_ONLY})
    ]
    shown = current.to_json()
    errors += [
        (f, "read-only: leave it out or send the current value")
        for f in READ_ONLY
        if f in body and body[f] != shown[f]
    ]
    display = body.get("display_name")
    if not isinstance(display, str) or not 1 <= len(display) <= 64:
        errors.append(("display_name", "required, a string of 1 to 64 characters"))
    _check_password_and_email(body, errors)
    return errors


def load_secret(directory: Path, env: Mapping[str, str]) -> bytes:
    """API_JWT_SECRET if set, else a random secret made once and kept in ``directory``."""
    if env.get("API_JWT_SECRET"):
        return env["API_JWT_SECRET"].encode()
    path = directory / "jwt.secret"
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        pass
    secret = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret.hex() + "\n")
    return secret

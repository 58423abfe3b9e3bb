"""services.api.store and passwords: seeding, hashing, validation, secret handling."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from services.api.passwords import hash_password, verify_password
from services.api.store import UserExists, UserStore, load_secret, validate_new_user


def test_password_hash_verifies_and_is_salted() -> None:
    """scrypt hashes verify the right password only and differ per salt."""
    one, two = hash_password("wonderland"), hash_password("wonderland")
    assert one != two
    assert one.startswith("scrypt$")
    assert verify_password("wonderland", one)
    assert not verify_password("Wonderland", one)
    assert not verify_password("x", "garbage")


def test_seeded_user_and_wal(tmp_path: Path) -> None:
    """First open seeds alice with a hashed password and turns on WAL."""
    store = UserStore.open(tmp_path / "api.sqlite3")
    try:
        stored = store.password_hash("alice")
        assert stored is not None
        assert "wonderland" not in stored
        assert verify_password("wonderland", stored)
        mode = store._conn.execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"
    finally:
        store.close()
    again = UserStore.open(tmp_path / "api.sqlite3")
    assert [u.username for u in again.list()] == ["alice"]
    again.close()


def test_duplicate_user(tmp_path: Path) -> None:
    """Creating an existing user raises UserExists."""
    store = UserStore.open(tmp_path / "db")
    with pytest.raises(UserExists):
        store.create("alice", "A", "x")
    store.close()


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"username": "bob", "password": "12345678"}, []),
        ({"username": "Bob", "password": "12345678"}, ["username"]),
        ({"username": "bob"}, []),
        ({"username": "bob", "email": "bob@example.com"}, []),
        ({"username": "bob", "email": "bob@"}, ["email"]),
        ({"username": "bob", "password": 12345678}, ["password"]),
        ({"username": "bob", "password": "short"}, ["password"]),
        ({"username": "bob", "password": "12345678", "admin": True}, ["admin"]),
        ({"username": "bob", "password": "12345678", "display_name": ""}, ["display_name"]),
        ({}, ["username", "display_name"]),
    ],
)
def test_validate_new_user(body: dict[str, object], fields: list[str]) -> None:
    """Each invalid field is reported by name."""
    assert sorted(f for f, _ in validate_new_user(body)) == sorted(fields)


def test_secret_from_env_or_file(tmp_path: Path) -> None:
    """API_JWT_SECRET wins; otherwise a secret is made once, kept 0600, and reused."""
    assert load_secret(tmp_path, {"API_JWT_SECRET": "abc"}) == b"abc"
    first = load_secret(tmp_path, {})
    assert load_secret(tmp_path, {}) == first
    assert len(first) == 32
    assert stat.S_IMODE((tmp_path / "jwt.secret").stat().st_mode) == 0o600

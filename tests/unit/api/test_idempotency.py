"""services.api.idempotency: the keys' rules and their table beside the users."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from services.api.idempotency import (
    TTL,
    IdempotencyStore,
    KeyInFlight,
    KeyReused,
    StoredResponse,
)
from services.api.store import UserStore

CREATED = StoredResponse(
    201, b'{"username": "bob"}', (("Location", "/api/users/bob"), ("ETag", '"e1"'))
)


def _memory() -> sqlite3.Connection:
    return sqlite3.connect(":memory:", isolation_level=None)


def test_rules() -> None:
    """New key reserves; in flight is 409 (422 with another body); saved replays; per subject."""
    store = IdempotencyStore(_memory(), clock=lambda: 0.0)
    assert store.begin("alice", "k", "print") is None
    with pytest.raises(KeyInFlight):
        store.begin("alice", "k", "print")
    with pytest.raises(KeyReused):
        store.begin("alice", "k", "other")
    store.save("alice", "k", CREATED)
    store.finish("alice", "k")
    assert store.begin("alice", "k", "print") == CREATED
    assert store.begin("bob", "k", "print") is None  # keys are per subject
    with pytest.raises(KeyReused):
        store.begin("alice", "k", "other")


def test_finish_without_save_frees_the_key() -> None:
    """A request that saved nothing (a 5xx) lets the retry run for real."""
    store = IdempotencyStore(_memory(), clock=lambda: 0.0)
    store.begin("a", "k", "p")
    store.finish("a", "k")
    assert store.begin("a", "k", "p") is None


def test_keys_expire_after_a_day() -> None:
    """At 24 h a key still replays; past it the purge removes it and the key is new again."""
    now = [1000.0]
    conn = _memory()
    store = IdempotencyStore(conn, clock=lambda: now[0])
    assert store.ttl == TTL == 24 * 3600
    store.begin("a", "k", "p")
    store.save("a", "k", CREATED)
    store.finish("a", "k")
    now[0] += TTL
    assert store.begin("a", "k", "p") == CREATED
    now[0] += 1
    assert store.purge() == 1
    assert conn.execute("SELECT COUNT(*) FROM idempotency_keys").fetchone()[0] == 0
    assert store.begin("a", "k", "other") is None


def test_saved_key_survives_a_reopen(tmp_path: Path) -> None:
    """Row and key committed in one transaction are both there after the database reopens."""
    db = tmp_path / "api.sqlite3"
    users = UserStore.open(db)
    keys = IdempotencyStore(users.connection, clock=lambda: 0.0)
    assert keys.begin("alice", "k", "p") is None
    with users.transaction():
        users.create("bob", "Bob", "!")
        keys.save("alice", "k", CREATED)
    users.close()  # no finish(): the process is gone
    users = UserStore.open(db)
    keys = IdempotencyStore(users.connection, clock=lambda: 0.0)
    assert keys.begin("alice", "k", "p") == CREATED
    with pytest.raises(KeyReused):
        keys.begin("alice", "k", "another body")
    assert users.get("bob") is not None
    users.close()


def test_rollback_drops_the_key_with_the_row(tmp_path: Path) -> None:
    """A transaction that fails after the insert leaves neither the row nor the key."""
    users = UserStore.open(tmp_path / "api.sqlite3")
    keys = IdempotencyStore(users.connection, clock=lambda: 0.0)
    keys.begin("alice", "k", "p")

    def fail_after_insert() -> None:
        with users.transaction():
            users.create("bob", "Bob", "!")
            keys.save("alice", "k", CREATED)
            raise RuntimeError("the reply could not be built")

    with pytest.raises(RuntimeError, match="reply"):
        fail_after_insert()
    keys.finish("alice", "k")
    assert users.get("bob") is None
    assert keys.begin("alice", "k", "p") is None
    users.close()


def test_in_flight_key_does_not_outlive_the_process(tmp_path: Path) -> None:
    """A key reserved but never committed is free after a restart, not stuck at 409."""
    db = tmp_path / "api.sqlite3"
    users = UserStore.open(db)
    IdempotencyStore(users.connection, clock=lambda: 0.0).begin("alice", "k", "p")
    users.close()
    users = UserStore.open(db)
    assert IdempotencyStore(users.connection, clock=lambda: 0.0).begin("alice", "k", "p") is None
    users.close()

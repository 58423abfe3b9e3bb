"""The hard way: the real API process killed between commit and reply, restarted, retried.

``python -m services.api`` runs as a subprocess on 127.0.0.1 with the crash
fault armed (``--fault-kill-after-commit``): the POST's row and its
Idempotency-Key commit, then the process SIGKILLs itself before it replies.
A second process on the same database must answer the retry with the 201
the first never sent, and create nothing.
"""

from __future__ import annotations

import http.client
import json
import signal
import socket
import sqlite3
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

from harness.procs import LOOPBACK, PYTHON, Proc, free_port, start

HOST = "api-origin.example.com"
SECRET = "crash-replay-" + "x" * 32
KEY = {"Idempotency-Key": '"0b7c5e52-crash-replay"'}
BOB = {"username": "bob", "email": "bob@example.com"}


class _Https(http.client.HTTPSConnection):
    """HTTPS to 127.0.0.1 that asks for and verifies the API's name (as curl --resolve does)."""

    def __init__(self, port: int, ctx: ssl.SSLContext) -> None:
        super().__init__(HOST, port, timeout=10)
        self.trust = ctx

    def connect(self) -> None:
        raw = socket.create_connection((LOOPBACK, self.port), self.timeout)
        self.sock = self.trust.wrap_socket(raw, server_hostname=HOST)


@dataclass
class Api:
    """One API process and a blocking client for it.

    Blocking sockets, each closed before the call returns: an asyncio TLS
    transport cut or closed at the end of a test can outlive its event loop
    and raise ResourceWarning in whichever test runs next.
    """

    proc: Proc
    trust: ssl.SSLContext

    def call(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any, Message]:
        """One request on a new connection: status, parsed JSON body, header fields."""
        sent = {**(headers or {}), "Connection": "close"}
        if token:
            sent["Authorization"] = f"Bearer {token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        assert self.proc.port is not None
        conn = _Https(self.proc.port, self.trust)
        try:
            conn.request(method, path, body=data, headers=sent)
            resp = conn.getresponse()
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None, resp.headers
        finally:
            conn.close()

    def login(self) -> str:
        status, body, _ = self.call(
            "POST", "/api/login", body={"username": "alice", "password": "wonderland"}
        )
        assert status == 200, body
        return str(body["access_token"])


@pytest.fixture
def started() -> Iterator[list[Proc]]:
    """Every API process the test starts, stopped by its PID afterwards."""
    procs: list[Proc] = []
    yield procs
    for proc in procs:
        proc.stop()


def _start(certs: Path, db: Path, procs: list[Proc], *extra: str) -> Proc:
    port = free_port()
    argv = [PYTHON, "-m", "services.api", "--cert", str(certs / "api.crt"),
            "--key", str(certs / "api.key"), "--host", LOOPBACK, "--port", str(port),
            "--no-h3", "--db", str(db), *extra]  # fmt: skip
    # The same secret for both processes, as the lab's jwt.secret on its volume.
    proc = start("api", argv, db.parent / f"api-{port}.log", port=port,
                 env={"API_JWT_SECRET": SECRET, "API_FAULT_KILL_AFTER_COMMIT": ""})  # fmt: skip
    procs.append(proc)
    return proc


def _rows(db: Path, sql: str) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute(sql).fetchone()[0])
    finally:
        conn.close()


def test_killed_after_commit_then_retried(certs: Path, tmp_path: Path, started: list[Proc]) -> None:
    """SIGKILL after the commit, restart, same key: one row, the unsent 201 replayed."""
    db = tmp_path / "api.sqlite3"
    trust = ssl.create_default_context(cafile=str(certs / "ca.crt"))  # no ALPN: HTTP/1.1
    first = Api(_start(certs, db, started, "--fault-kill-after-commit"), trust)
    token = first.login()
    # The connection ends with no status line: a clean close or a reset.
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError, ssl.SSLError)):
        first.call("POST", "/api/users", token=token, body=BOB, headers=KEY)
    assert first.proc.popen.wait(timeout=10) == -signal.SIGKILL
    events = [json.loads(line)["event"] for line in first.proc.log.read_text().splitlines()]
    assert events[-1] == "fault_kill_after_commit"  # killed at the hook, after the commit
    assert _rows(db, "SELECT COUNT(*) FROM users WHERE username = 'bob'") == 1
    assert _rows(db, "SELECT COUNT(*) FROM idempotency_keys") == 1

    second = Api(_start(certs, db, started), trust)  # the fault is off unless asked
    status, body, headers = second.call("POST", "/api/users", token=token, body=BOB, headers=KEY)
    assert status == 201, body
    assert headers["Idempotent-Replayed"] == "true"
    assert headers["Location"] == "/api/users/bob"
    # What the first reply would have carried: the representation of the row it made.
    got, current, current_headers = second.call("GET", "/api/users/bob", token=token)
    assert got == 200
    assert body == current
    assert headers["ETag"] == current_headers["ETag"]
    assert headers["Content-Type"] == current_headers["Content-Type"]
    assert _rows(db, "SELECT COUNT(*) FROM users WHERE username = 'bob'") == 1
    assert _rows(db, "SELECT COUNT(*) FROM users") == 2  # alice and bob

    other, problem, _ = second.call(
        "POST", "/api/users", token=token, body={"username": "carol"}, headers=KEY
    )
    assert other == 422
    assert problem["type"].endswith("/idempotency-key-reused")
    made, _, _ = second.call("POST", "/api/users", token=token, body={"username": "dave"})
    assert made == 201
    assert second.proc.popen.poll() is None  # commits without the fault armed do not kill

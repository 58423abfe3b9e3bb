"""The API's data outlives `docker kill -s KILL` of its container (SQLite WAL on a volume).

Requests go from the client container straight to the API (curl to its
origin name, api-origin.example.com, found through the lab resolver), not
through the edge: what is judged is the API's own storage, and the edge's
pooled connections to the killed process are a separate matter.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from typing import Any

from lab.compose import Lab

BASE = "https://api-origin.example.com"
PASSWORD = "restart-password"
USERS = 20


def call(
    lab: Lab,
    method: str,
    path: str,
    *,
    token: str | None = None,
    body: dict[str, Any] | None = None,
    headers: tuple[str, ...] = (),
) -> tuple[int, Any, dict[str, str]]:
    """One curl request: status, parsed JSON body, header fields (lowercase names)."""
    args = ["--cacert", "/certs/ca.crt", "-D", "-", "-X", method]
    if token:
        headers = (*headers, f"Authorization: Bearer {token}")
    for field in headers:
        args += ["-H", field]
    if body is not None:
        args += ["-H", "Content-Type: application/json", "-d", json.dumps(body)]
    r = lab.exec("client", "curl", "-sS", "--max-time", "15", *args, BASE + path, timeout=30)
    assert r.returncode == 0, r.stderr
    # Text mode turned CRLF into LF: the head ends at the first empty line.
    head, _, payload = r.stdout.partition("\n\n")
    lines = head.splitlines()
    fields = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    return int(lines[0].split()[1]), json.loads(payload) if payload.strip() else None, fields


def login(lab: Lab, username: str, password: str) -> str:
    status, body, _ = call(
        lab, "POST", "/api/login", body={"username": username, "password": password}
    )
    assert status == 200, body
    return str(body["access_token"])


def docker(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def test_users_and_tokens_survive_sigkill(lab: Lab) -> None:
    """20 users made, the API container SIGKILLed and started: 20 of 20 there, old tokens valid."""
    admin = login(lab, "alice", "wonderland")
    prefix = f"kill-{uuid.uuid4().hex[:8]}"
    keys = {f"{prefix}-{i:02d}": str(uuid.uuid4()) for i in range(USERS)}
    for name, key in keys.items():
        status, body, _ = call(
            lab,
            "POST",
            "/api/users",
            token=admin,
            body={"username": name, "password": PASSWORD},
            headers=(f"Idempotency-Key: {key}",),
        )
        assert status == 201, body
    tokens = {name: login(lab, name, PASSWORD) for name in keys}

    cid = lab.container_id("api")
    killed = docker("kill", "-s", "KILL", cid)
    assert killed.returncode == 0, killed.stderr
    # `docker kill` returns once the signal is sent; `docker wait` returns once it stopped.
    stopped = docker("wait", cid, timeout=30)
    assert stopped.stdout.strip() == "137", stopped.stdout + stopped.stderr  # 128 + SIGKILL
    started = docker("start", cid)
    assert started.returncode == 0, started.stderr
    lab.wait_healthy("api", timeout=60)

    there = [n for n in keys if call(lab, "GET", f"/api/users/{n}", token=admin)[0] == 200]
    assert len(there) == USERS, f"{len(there)} of {USERS} users after the kill"
    valid = []
    for name, token in tokens.items():
        status, body, _ = call(lab, "GET", "/api/me", token=token)
        if status == 200 and body["username"] == name:
            valid.append(name)
    assert len(valid) == USERS, f"{len(valid)} of {USERS} tokens still valid after the kill"
    # A POST retried across the kill replays its 201 from the database: no 409 duplicate.
    first = next(iter(keys))
    status, body, fields = call(
        lab,
        "POST",
        "/api/users",
        token=admin,
        body={"username": first, "password": PASSWORD},
        headers=(f"Idempotency-Key: {keys[first]}",),
    )
    assert status == 201, body
    assert fields.get("idempotent-replayed") == "true"
    assert fields["location"] == f"/api/users/{first}"

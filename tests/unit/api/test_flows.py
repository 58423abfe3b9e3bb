"""Refresh tokens, the rate limit, Idempotency-Key, injected faults and the OpenAPI document."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from services.api.faults import FaultConfig
from services.api.state import ApiConfig

if TYPE_CHECKING:  # conftest is not importable at run time under --import-mode=importlib
    from conftest import Client, ClientFor, Clock

ADMIN = {"Authorization": "Bearer admin-secret"}


async def test_refresh_rotates_and_detects_reuse(client: Client) -> None:
    """A refresh token gives new tokens once; replaying it revokes the newer one too."""
    login = await client.call(
        "POST", "/api/login", json_body={"username": "alice", "password": "wonderland"}
    )
    first = login.body["refresh_token"]
    again = await client.call("POST", "/api/token/refresh", json_body={"refresh_token": first})
    assert again.status == 200
    assert again.body["access_token"]
    second = again.body["refresh_token"]
    assert second != first
    replay = await client.call("POST", "/api/token/refresh", json_body={"refresh_token": first})
    assert replay.status == 400
    assert replay.body["type"].endswith("/invalid-grant")
    revoked = await client.call("POST", "/api/token/refresh", json_body={"refresh_token": second})
    assert revoked.status == 400


async def test_refresh_expires(client: Client, clock: Clock) -> None:
    """A refresh token older than seven days is refused."""
    login = await client.call(
        "POST", "/api/login", json_body={"username": "alice", "password": "wonderland"}
    )
    clock.now += 7 * 24 * 3600 + 1
    reply = await client.call(
        "POST", "/api/token/refresh", json_body={"refresh_token": login.body["refresh_token"]}
    )
    assert reply.status == 400
    assert reply.body["detail"] == "refresh token expired"


async def test_rate_limit_429_with_retry_after(client_for: ClientFor, clock: Clock) -> None:
    """Burst 2 at 0.5/s: the third call is 429 with Retry-After: 2; after 2 s it passes."""
    client = await client_for(ApiConfig(rate=0.5, burst=2))
    token = await client.login()
    await client.user(token, "bob", "builder123")
    assert (await client.call("GET", "/api/me", token=token)).status == 200
    limited = await client.call("GET", "/api/me", token=token)
    assert limited.status == 429
    assert limited.headers["Retry-After"] == "2"
    other = await client.login("bob", "builder123")  # another token, its own bucket
    assert (await client.call("GET", "/api/me", token=other)).status == 200
    clock.now += 2
    assert (await client.call("GET", "/api/me", token=token)).status == 200


async def test_idempotent_retry_returns_first_response(client: Client) -> None:
    """Same key and body: same status, body and Location, one row; another body: 422."""
    token = await client.login()
    key = {"Idempotency-Key": '"8e03978e-40d5-43e8-bc93-6894a57f9324"'}
    body = {"username": "bob", "email": "bob@example.com"}
    first = await client.call("POST", "/api/users", token=token, json_body=body, headers=key)
    retry = await client.call("POST", "/api/users", token=token, json_body=body, headers=key)
    assert first.status == retry.status == 201
    assert retry.body == first.body
    assert retry.headers["Location"] == first.headers["Location"] == "/api/users/bob"
    assert retry.headers["Idempotent-Replayed"] == "true"
    listed = await client.call("GET", "/api/users", token=token)
    assert listed.body["total"] == 2
    other = await client.call(
        "POST", "/api/users", token=token, headers=key, json_body={"username": "carol"}
    )
    assert other.status == 422
    assert other.body["type"].endswith("/idempotency-key-reused")


async def test_without_key_a_retry_conflicts(client: Client) -> None:
    """The contrast: without Idempotency-Key the retried POST is a 409 duplicate."""
    token = await client.login()
    await client.user(token, "bob")
    again = await client.call("POST", "/api/users", token=token, json_body={"username": "bob"})
    assert again.status == 409


async def test_fault_endpoint_needs_admin_token(client: Client) -> None:
    """/__fault refuses a user's token (401) and accepts the admin token."""
    user = await client.login()
    assert (await client.call("GET", "/__fault", token=user)).status == 401
    reply = await client.call("GET", "/__fault", headers=ADMIN)
    assert reply.status == 200
    assert reply.body == FaultConfig().to_json()


async def test_fault_endpoint_off_without_admin_token(client_for: ClientFor) -> None:
    """With no admin token configured the endpoint is 403 for everyone."""
    client = await client_for(ApiConfig())
    assert (
        await client.call("POST", "/__fault", headers=ADMIN, json_body={"error_rate": 1})
    ).status == 403


async def test_fault_validation_is_422(client: Client) -> None:
    """An error_rate above 1 and an unknown member are both named."""
    reply = await client.call(
        "POST", "/__fault", headers=ADMIN, json_body={"error_rate": 2, "colour": "red"}
    )
    assert reply.status == 422
    assert sorted(e["field"] for e in reply.body["errors"]) == ["colour", "error_rate"]


async def test_injected_503_then_cleared(client: Client) -> None:
    """error_rate 1: every API request is 503 + Retry-After; /healthz is spared; DELETE ends it."""
    reply = await client.call(
        "POST",
        "/__fault",
        headers=ADMIN,
        json_body={"error_rate": 1, "status": 503, "retry_after": 7},
    )
    assert reply.status == 200
    assert reply.body["error_rate"] == 1
    failed = await client.call("GET", "/api")
    assert failed.status == 503
    assert failed.headers["Retry-After"] == "7"
    assert failed.body["type"].endswith("/injected-fault")
    assert (await client.call("GET", "/healthz")).status == 200
    assert (await client.call("DELETE", "/__fault", headers=ADMIN)).status == 200
    assert (await client.call("GET", "/api")).status == 200


async def test_injected_share_follows_the_seed(client_for: ClientFor) -> None:
    """error_rate 0.3 with a fixed seed: some but not all of 40 requests fail."""
    client = await client_for(ApiConfig(faults=FaultConfig(error_rate=0.3), seed=7))
    statuses = [(await client.call("GET", "/api")).status for _ in range(40)]
    assert 0 < statuses.count(503) < 40
    assert set(statuses) == {200, 503}


async def test_injected_drop(client: Client) -> None:
    """drop_rate 1: the connection closes with no response at all."""
    await client.call("POST", "/__fault", headers=ADMIN, json_body={"drop_rate": 1})
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await client.call("GET", "/api")


async def test_injected_latency(client: Client) -> None:
    """latency_ms delays the answer by at least that much."""
    await client.call("POST", "/__fault", headers=ADMIN, json_body={"latency_ms": 50})
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert (await client.call("GET", "/api")).status == 200
    assert loop.time() - started >= 0.05


async def test_openapi_covers_every_route(client: Client, api: TestServer) -> None:
    """Every route of the app is in /api/openapi.json with each method, and nothing more."""
    reply = await client.call("GET", "/api/openapi.json")
    assert reply.status == 200
    assert reply.body["openapi"].startswith("3.")
    documented = {
        (path, method.upper())
        for path, item in reply.body["paths"].items()
        for method in item
        if method != "parameters"
    }
    routed = {
        (r.resource.canonical, r.method)
        for r in api.app.router.routes()
        if r.resource is not None and r.method not in ("HEAD", "OPTIONS")
    }
    assert documented == routed

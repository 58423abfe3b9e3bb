"""WebSocket through the edge: the upgrade relayed to the API, messages both ways, refusals kept."""

from __future__ import annotations

import json
import ssl

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from services.cdn.websocket import is_upgrade

TIMEOUT = 5.0  # a deadline: receive returns as soon as a message arrives


async def _login(edge: TestServer, trust: ssl.SSLContext, session: aiohttp.ClientSession) -> str:
    async with session.post(
        f"https://127.0.0.1:{edge.port}/api/login",
        json={"username": "alice", "password": "wonderland"},
        headers={"Host": "api.example.com"},
        ssl=trust,
        server_hostname="api.example.com",
    ) as r:
        assert r.status == 200
        return str((await r.json())["access_token"])


async def test_events_arrive_through_the_edge(edge: TestServer, trust: ssl.SSLContext) -> None:
    """A subscriber connected to the edge sees the API's user.created pushed through it."""
    async with aiohttp.ClientSession() as session:
        token = await _login(edge, trust, session)
        auth = {"Authorization": f"Bearer {token}", "Host": "api.example.com"}
        async with session.ws_connect(
            f"wss://127.0.0.1:{edge.port}/api/users/events",
            headers=auth,
            ssl=trust,
            server_hostname="api.example.com",
        ) as ws:
            assert (await ws.receive_json(timeout=TIMEOUT)) == {"type": "subscribed"}
            async with session.post(
                f"https://127.0.0.1:{edge.port}/api/users",
                data=json.dumps({"username": "wsuser", "email": "ws@example.com"}),
                headers={**auth, "Content-Type": "application/json"},
                ssl=trust,
                server_hostname="api.example.com",
            ) as r:
                assert r.status == 201
            event = await ws.receive_json(timeout=TIMEOUT)
            assert event["type"] == "user.created"
            assert event["user"]["username"] == "wsuser"


async def test_refused_upgrade_keeps_the_upstreams_status(
    edge: TestServer, trust: ssl.SSLContext
) -> None:
    """Without a token the API's 401 reaches the client, not a 502 from the edge."""
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            async with session.ws_connect(
                f"wss://127.0.0.1:{edge.port}/api/users/events",
                headers={"Host": "api.example.com"},
                ssl=trust,
                server_hostname="api.example.com",
            ):
                pass
        assert refused.value.status == 401


class _Req:
    def __init__(self, method: str, headers: dict[str, str]) -> None:
        self.method, self.headers = method, headers


def test_only_a_get_with_upgrade_websocket_is_an_upgrade() -> None:
    """RFC 6455 §4.1: GET, Upgrade: websocket, Connection: Upgrade (any case, in a list)."""
    yes = _Req("GET", {"Upgrade": "WebSocket", "Connection": "keep-alive, Upgrade"})
    assert is_upgrade(yes)  # type: ignore[arg-type]
    assert not is_upgrade(_Req("POST", yes.headers))  # type: ignore[arg-type]
    assert not is_upgrade(_Req("GET", {"Upgrade": "h2c", "Connection": "Upgrade"}))  # type: ignore[arg-type]
    assert not is_upgrade(_Req("GET", {"Upgrade": "websocket"}))  # type: ignore[arg-type]

"""GET /api/users/events: a WebSocket that pushes one JSON message per user change."""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

if TYPE_CHECKING:  # conftest is not importable at run time under --import-mode=importlib
    from conftest import Client

TIMEOUT = 5.0  # a deadline, not a delay: receive_json returns as soon as a message arrives


async def test_create_update_delete_are_pushed(client: Client, api: TestServer) -> None:
    """A subscriber sees user.created, user.updated and user.deleted, in order, with ETags."""
    token = await client.login()
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(
            f"wss://127.0.0.1:{api.port}/api/users/events?access_token={token}",
            ssl=client.trust,
            server_hostname="api-origin.example.com",
        ) as ws,
    ):
        assert (await ws.receive_json(timeout=TIMEOUT)) == {"type": "subscribed"}
        created = await client.user(token, "bob")
        event = await ws.receive_json(timeout=TIMEOUT)
        assert event["type"] == "user.created"
        assert event["user"]["username"] == "bob"
        assert event["etag"] == created.headers["ETag"]
        await client.call(
            "PATCH",
            "/api/users/bob",
            token=token,
            data=b'{"display_name": "Bob"}',
            headers={
                "If-Match": created.headers["ETag"],
                "Content-Type": "application/merge-patch+json",
            },
        )
        event = await ws.receive_json(timeout=TIMEOUT)
        assert event["type"] == "user.updated"
        assert event["user"]["display_name"] == "Bob"
        await client.call("DELETE", "/api/users/bob", token=token)
        event = await ws.receive_json(timeout=TIMEOUT)
        assert event == {"type": "user.deleted", "username": "bob", "user": None, "etag": None}


async def test_events_need_a_token(api: TestServer, client: Client) -> None:
    """Without a token the upgrade is refused with 401."""
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            async with session.ws_connect(
                f"wss://127.0.0.1:{api.port}/api/users/events",
                ssl=client.trust,
                server_hostname="api-origin.example.com",
            ):
                pass
        assert refused.value.status == 401


async def test_plain_get_is_400(client: Client) -> None:
    """A GET that is not a WebSocket upgrade gets a 400 problem saying so."""
    reply = await client.call("GET", "/api/users/events", token=await client.login())
    assert reply.status == 400
    assert reply.body["type"].endswith("/websocket-required")

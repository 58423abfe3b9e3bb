"""Fixtures for the API: lab certificates, an in-process HTTPS API on port 0, a client."""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from multidict import CIMultiDict

from services.api.app import make_app
from services.api.state import ApiConfig
from services.api.store import UserStore
from services.api.tokens import TokenConfig
from services.common.tls import server_context

SECRET = b"test-secret-0123456789abcdef0123"
HOST = "api-origin.example.com"
ADMIN_TOKEN = "admin-secret"


class Clock:
    """A clock the test moves by hand: rate limits and expiry without waiting."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def tokens(clock: Clock) -> TokenConfig:
    return TokenConfig(secret=SECRET, clock=clock)


StartApi = Callable[..., Awaitable[TestServer]]


@pytest.fixture
async def start_api(certs: Path, tmp_path: Path, tokens: TokenConfig) -> AsyncIterator[StartApi]:
    """Start an API with a given ApiConfig; every server is closed after the test."""
    servers: list[TestServer] = []

    async def start(config: ApiConfig | None = None) -> TestServer:
        ctx = server_context(certs / "api.crt", certs / "api.key", env={})
        db = tmp_path / f"api{len(servers)}.sqlite3"
        server = TestServer(make_app(UserStore.open(db), tokens, config), host="127.0.0.1", port=0)
        await server.start_server(ssl=ctx)
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.close()


@pytest.fixture
async def api(start_api: StartApi) -> TestServer:
    return await start_api(ApiConfig(admin_token=ADMIN_TOKEN))


@dataclass
class Reply:
    status: int
    body: Any
    headers: CIMultiDict[str]


@dataclass
class Client:
    server: TestServer
    trust: ssl.SSLContext

    async def call(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        json_body: Any = None,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        """One request over TLS; a JSON or problem body is parsed."""
        sent = {"Authorization": f"Bearer {token}"} if token else {}
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                method,
                f"https://127.0.0.1:{self.server.port}{path}",
                ssl=self.trust,
                server_hostname=HOST,
                headers={**sent, **(headers or {})},
                json=json_body,
                data=data,
            ) as resp,
        ):
            raw = await resp.read()
            return Reply(resp.status, json.loads(raw) if raw else None, resp.headers.copy())

    async def login(self, username: str = "alice", password: str = "wonderland") -> str:
        reply = await self.call(
            "POST", "/api/login", json_body={"username": username, "password": password}
        )
        assert reply.status == 200, reply.body
        return str(reply.body["access_token"])

    async def user(self, token: str, username: str, password: str | None = None) -> Reply:
        body: dict[str, Any] = {"username": username}
        if password:
            body["password"] = password
        reply = await self.call("POST", "/api/users", token=token, json_body=body)
        assert reply.status == 201, reply.body
        return reply


@pytest.fixture
def client(api: TestServer, trust: ssl.SSLContext) -> Client:
    return Client(api, trust)


ClientFor = Callable[[ApiConfig], Awaitable[Client]]


@pytest.fixture
def client_for(start_api: StartApi, trust: ssl.SSLContext) -> ClientFor:
    """A client of a fresh API started with the given ApiConfig."""

    async def make(config: ApiConfig) -> Client:
        return Client(await start_api(config), trust)

    return make

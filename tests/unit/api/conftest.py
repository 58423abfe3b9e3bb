"""Fixtures for the API: lab certificates and an in-process HTTPS API on port 0."""

from __future__ import annotations

import ssl
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from lab.pki import ensure_certs
from services.api.app import make_app
from services.api.store import UserStore
from services.api.tokens import TokenConfig
from services.common.tls import client_context, server_context

SECRET = b"test-secret-0123456789abcdef0123"


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("certs")
    ensure_certs(directory, lambda _line: None)
    return directory


@pytest.fixture
def trust(certs: Path) -> ssl.SSLContext:
    return client_context(certs / "ca.crt", env={})


@pytest.fixture
def tokens() -> TokenConfig:
    return TokenConfig(secret=SECRET, clock=time.time)


@pytest.fixture
async def api(certs: Path, tmp_path: Path, tokens: TokenConfig) -> AsyncIterator[TestServer]:
    ctx = server_context(certs / "api.crt", certs / "api.key", env={})
    server = TestServer(make_app(UserStore.open(tmp_path / "api.sqlite3"), tokens),
                        host="127.0.0.1", port=0)
    await server.start_server(ssl=ctx)
    yield server
    await server.close()

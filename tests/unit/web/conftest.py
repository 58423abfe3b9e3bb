"""Fixtures for the origin: lab certificates and an in-process HTTPS origin on port 0."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from services.common.tls import server_context
from services.web.app import make_app
from services.web.content import load_site


@pytest.fixture
async def origin(certs: Path) -> AsyncIterator[TestServer]:
    ctx = server_context(certs / "origin.crt", certs / "origin.key", env={})
    server = TestServer(make_app(load_site()), host="127.0.0.1", port=0)
    await server.start_server(ssl=ctx)
    yield server
    await server.close()

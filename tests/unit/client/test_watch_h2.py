"""watch --http 2: the WebSocket over HTTP/2 (RFC 8441) through the edge, same output as 1.1."""

from __future__ import annotations

import argparse
import json
import logging
import socket
import ssl
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from services.api.app import make_app as make_api
from services.api.store import UserStore
from services.api.tokens import TokenConfig
from services.cdn.app import EdgeConfig
from services.cdn.app import make_app as make_edge
from services.cdn.routing import parse_route
from services.client.h2ws import H2WebSocket
from services.client.watch import watch
from services.common.h2server import TlsSite
from services.common.tls import client_context, server_context

API = "api.example.com"


@pytest.fixture
def loopback_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """The OS resolver answers 127.0.0.1 for api.example.com (a fake at the boundary)."""
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kw: Any) -> Any:
        return real("127.0.0.1" if host == API else host, *args, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture
async def edge_port(certs: Path, tmp_path: Path) -> AsyncIterator[int]:
    """The API (HTTP/1.1 TLS) behind the edge app on TlsSite (h2 or 1.1 by ALPN)."""
    api = TestServer(
        make_api(UserStore.open(tmp_path / "api.sqlite3"), TokenConfig(b"s3cret", time.time)),
        host="127.0.0.1",
        port=0,
    )
    await api.start_server(ssl=server_context(certs / "api.crt", certs / "api.key", env={}))
    config = EdgeConfig(
        routes=(parse_route(f"{API}=https://api-origin.example.com:{api.port}"),),
        upstream_tls=client_context(certs / "ca.crt", env={}),
        clock=time.time,
        pins={("api-origin.example.com", int(api.port or 0)): "127.0.0.1"},
        health_interval=0,
    )
    runner = web.AppRunner(make_edge(config))
    await runner.setup()
    ctx = server_context(certs / "edge.crt", certs / "edge.key", env={})
    site = TlsSite(runner, "127.0.0.1", 0, ctx, logging.getLogger("test.watch"))
    await site.start()
    assert site.server is not None
    yield site.server.sockets[0].getsockname()[1]
    await site.stop()
    await runner.cleanup()
    await api.close()


def args_for(port: int, http: str, name: str) -> argparse.Namespace:
    return argparse.Namespace(
        url=f"wss://{API}:{port}/api/users/events",
        post=f"https://{API}:{port}/api/users",
        json=json.dumps({"username": name, "email": f"{name}@example.com"}),
        expect="user.created",
        timeout=10.0,
        http=http,
    )


def trusting(certs: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certs / "ca.crt"))


@pytest.mark.usefixtures("loopback_names")
async def test_http2_watch_sees_the_event_with_the_same_output_as_http11(
    edge_port: int, certs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--http 2 gets subscribed then user.created over extended CONNECT; its result has the
    1.1 path's keys and event types, and says which HTTP carried it."""
    results = {}
    for http, name in (("1.1", "watch11"), ("2", "watch2")):
        results[http] = await watch(
            args_for(edge_port, http, name), trusting(certs), lambda: trusting(certs)
        )
    one, two = results["1.1"], results["2"]
    assert two["ok"], two["error"]
    assert one["ok"], one["error"]
    assert (one["http"], two["http"]) == ("1.1", "2")
    assert set(one) == set(two)
    assert [e["type"] for e in two["events"]] == [e["type"] for e in one["events"]]
    assert two["events"][-1]["user"]["username"] == "watch2"
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [x["event"] for x in lines] == ["ws.message", "http.done", "ws.message"] * 2


@pytest.mark.usefixtures("loopback_names")
async def test_http2_refusal_is_reported(edge_port: int, certs: Path) -> None:
    """Without a token the edge relays the API's 401 as the extended CONNECT's status."""
    with pytest.raises(Exception, match="401") as refused:
        await H2WebSocket.connect(
            f"wss://{API}:{edge_port}/api/users/events", {}, trusting(certs), 10.0
        )
    assert getattr(refused.value, "status", None) == 401


@pytest.mark.usefixtures("loopback_names")
async def test_http2_needs_the_servers_setting(certs: Path, tmp_path: Path) -> None:
    """A server that does not announce SETTINGS_ENABLE_CONNECT_PROTOCOL (the API's own) is not
    sent :protocol at all (RFC 8441 §3): the client says why instead."""
    runner = web.AppRunner(
        make_api(UserStore.open(tmp_path / "a.sqlite3"), TokenConfig(b"s", time.time))
    )
    await runner.setup()
    ctx = server_context(certs / "edge.crt", certs / "edge.key", env={})
    site = TlsSite(runner, "127.0.0.1", 0, ctx, logging.getLogger("test.watch"))
    await site.start()
    assert site.server is not None
    port = site.server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(ConnectionError, match="SETTINGS_ENABLE_CONNECT_PROTOCOL"):
            await H2WebSocket.connect(f"wss://{API}:{port}/api/users/events", {},
                                      trusting(certs), 10.0)  # fmt: skip
    finally:
        await site.stop()
        await runner.cleanup()

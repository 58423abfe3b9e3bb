"""WebSocket over HTTP/2 through the edge (RFC 8441): extended CONNECT in, HTTP/1.1 Upgrade out."""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import h2.events
import h2.settings
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from h2.errors import ErrorCodes
from wsproto.connection import Connection, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Event, Message, TextMessage

from services.cdn.app import EdgeConfig
from services.cdn.app import make_app as make_edge
from services.cdn.routing import parse_route
from services.cdn.wsconnect import Answer, accept_for, parse_head, upgrade_problem, upgrade_request
from services.common.h2server import TlsSite
from services.common.tls import client_context, server_context
from tests.unit.cdn.conftest import start
from tests.unit.common.h2client import Client

ENDED = web.AppKey("ended", asyncio.Event)  # set when an echo WebSocket's handler returns
API, ECHO, BROKEN = "api.example.com", "echo.edgecdn.net", "broken.edgecdn.net"  # on edge.crt


@pytest.fixture
async def echo(certs: Path, servers: list[TestServer]) -> TestServer:
    """A real aiohttp WebSocket upstream that echoes, and closes with 4001 on "bye"."""

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        try:  # aiohttp cancels the handler when the connection is lost
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.TEXT and msg.data == "bye":
                    await ws.close(code=4001, message=b"as asked")
                elif msg.type == aiohttp.WSMsgType.TEXT:
                    await ws.send_str(msg.data)
                elif msg.type == aiohttp.WSMsgType.BINARY:
                    await ws.send_bytes(msg.data)
        finally:
            request.app[ENDED].set()
        return ws

    app = web.Application()
    app[ENDED] = asyncio.Event()
    app.router.add_get("/echo", handler)
    server = await start(app, server_context(certs / "origin.crt", certs / "origin.key", env={}))
    servers.append(server)
    return server


@pytest.fixture
async def broken(certs: Path) -> AsyncIterator[int]:
    """An upstream whose 101 carries the wrong Sec-WebSocket-Accept."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: bm90IHRoZSBrZXk=\r\n\r\n"
        )
        await writer.drain()
        writer.close()

    ctx = server_context(certs / "origin.crt", certs / "origin.key", env={})
    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=ctx)
    yield server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


@pytest.fixture
async def edge_h2(
    certs: Path, api: TestServer, echo: TestServer, broken: int
) -> AsyncIterator[int]:
    """The edge app behind TlsSite (HTTP/2 by ALPN, as in the lab); yields its port."""
    ups = {API: ("api-origin.example.com", api.port), ECHO: ("origin.example.com", echo.port),
           BROKEN: ("origin.example.com", broken)}  # fmt: skip
    config = EdgeConfig(
        routes=tuple(parse_route(f"{h}=https://{n}:{p}") for h, (n, p) in ups.items()),
        upstream_tls=client_context(certs / "ca.crt", env={}),
        clock=time.time,
        pins={(n, int(p or 0)): "127.0.0.1" for n, p in ups.values()},
        health_interval=0,
    )
    runner = web.AppRunner(make_edge(config))
    await runner.setup()
    ctx = server_context(certs / "edge.crt", certs / "edge.key", env={})
    site = TlsSite(runner, "127.0.0.1", 0, ctx, logging.getLogger("test.edge.h2"))
    await site.start()
    assert site.server is not None
    yield site.server.sockets[0].getsockname()[1]
    await site.stop()
    await runner.cleanup()


class WebSocket:
    """wsproto's frames on one extended CONNECT stream of the test h2 client."""

    def __init__(self, client: Client, sid: int) -> None:
        self.client, self.sid = client, sid
        self.ws = Connection(ConnectionType.CLIENT)
        self.seen = 0  # events of the h2 client already fed to wsproto
        self.pending: list[Event] = []

    def send(self, event: Event) -> None:
        self.client.send(self.sid, self.ws.send(event))

    async def next(self) -> Event:
        """The next whole message (fragments joined) or close."""
        parts: list[Message] = []
        while True:
            while self.pending:
                event = self.pending.pop(0)
                if isinstance(event, TextMessage | BytesMessage):
                    parts.append(event)
                    if event.message_finished:
                        if isinstance(event, TextMessage):
                            return TextMessage(data="".join(str(p.data) for p in parts))
                        return BytesMessage(data=b"".join(bytes(p.data) for p in parts))
                else:
                    return event
            await self.client.until(
                lambda e: isinstance(e, h2.events.DataReceived) and e.stream_id == self.sid,
                since=self.seen,
            )
            for e in self.client.events[self.seen :]:
                if isinstance(e, h2.events.DataReceived) and e.stream_id == self.sid:
                    self.ws.receive_data(e.data)
            self.seen = len(self.client.events)
            self.pending += list(self.ws.events())


async def open_ws(
    port: int, ca: Path, host: str, path: str, fields: list[tuple[str, str]] | None = None
) -> tuple[Client, WebSocket, h2.events.ResponseReceived]:
    client = await Client.open(port, ca, host)
    sid = client.connect(path, fields=[("sec-websocket-version", "13"), *(fields or [])])
    answer = await client.response(sid)
    ws = WebSocket(client, sid)
    ws.seen = len(client.events)
    return client, ws, answer


def status(answer: h2.events.ResponseReceived) -> int:
    return int(dict(answer.headers or [])[b":status"])


async def test_echo_both_ways_through_the_edge_then_close(edge_h2: int, certs: Path) -> None:
    """Extended CONNECT to the edge reaches a real aiohttp WebSocket: 200, text and a 200 KB
    binary message echoed (past 64 KiB windows both ways), the upstream's close code relayed,
    then END_STREAM."""
    client, ws, answer = await open_ws(edge_h2, certs / "ca.crt", ECHO, "/echo")
    assert status(answer) == 200
    assert answer.stream_ended is None
    assert b"sec-websocket-accept" not in dict(answer.headers or [])  # RFC 8441 §5: none
    settings = next(e for e in client.events if isinstance(e, h2.events.RemoteSettingsChanged))
    assert settings.changed_settings[h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL].new_value
    ws.send(TextMessage(data="hello over h2"))
    assert await ws.next() == TextMessage(data="hello over h2")
    blob = bytes(range(256)) * 800
    for start_at in range(0, len(blob), 8192):  # fragments, so each fits a window
        chunk = blob[start_at : start_at + 8192]
        ws.send(BytesMessage(data=chunk, message_finished=start_at + 8192 >= len(blob)))
        while client.conn.local_flow_control_window(ws.sid) < 9000:
            await client.until(
                lambda e: isinstance(e, h2.events.WindowUpdated), since=len(client.events)
            )
    echoed = await ws.next()
    assert isinstance(echoed, BytesMessage)
    assert echoed.data == blob
    ws.send(TextMessage(data="bye"))
    closed = await ws.next()
    assert isinstance(closed, CloseConnection)
    assert closed.code == 4001
    ws.send(closed.response())
    await client.until(lambda e: isinstance(e, h2.events.StreamEnded) and e.stream_id == ws.sid)
    client.close()


async def test_api_events_reach_an_h2_subscriber(
    edge_h2: int, certs: Path, trust: ssl.SSLContext
) -> None:
    """The API's user.created push reaches a WebSocket opened over HTTP/2 at the edge."""
    async with aiohttp.ClientSession() as session:
        base = f"https://127.0.0.1:{edge_h2}"
        kw = {"ssl": trust, "server_hostname": API, "headers": {"Host": API}}
        login = {"username": "alice", "password": "wonderland"}
        async with session.post(f"{base}/api/login", json=login, **kw) as r:  # type: ignore[arg-type]
            token = (await r.json())["access_token"]
        client, ws, answer = await open_ws(edge_h2, certs / "ca.crt", API, "/api/users/events",
                                           [("authorization", f"Bearer {token}")])  # fmt: skip
        assert status(answer) == 200
        first = await ws.next()
        assert isinstance(first, TextMessage)
        assert json.loads(first.data) == {"type": "subscribed"}
        kw["headers"] = {"Host": API, "Authorization": f"Bearer {token}"}
        user = {"username": "h2user", "email": "h2@example.com"}
        async with session.post(f"{base}/api/users", json=user, **kw) as r:  # type: ignore[arg-type]
            assert r.status == 201
        event = await ws.next()
        assert isinstance(event, TextMessage)
        assert json.loads(event.data)["type"] == "user.created"
        client.close()


async def test_refusals_keep_their_status(edge_h2: int, certs: Path) -> None:
    """No token: the API's 401 is the :status; a 101 with a wrong Accept is the edge's 502."""
    client, _, answer = await open_ws(edge_h2, certs / "ca.crt", API, "/api/users/events")
    assert status(answer) == 401
    client.close()
    client, _, answer = await open_ws(edge_h2, certs / "ca.crt", BROKEN, "/ws")
    assert status(answer) == 502
    client.close()


async def test_client_reset_closes_the_upstream(
    edge_h2: int, certs: Path, echo: TestServer
) -> None:
    """RST_STREAM CANCEL from the client ends the upstream WebSocket; the connection serves on."""
    client, ws, answer = await open_ws(edge_h2, certs / "ca.crt", ECHO, "/echo")
    assert status(answer) == 200
    client.conn.reset_stream(ws.sid, ErrorCodes.CANCEL)
    client.flush()
    await asyncio.wait_for(echo.app[ENDED].wait(), 10)
    sid = client.connect("/echo", fields=[("sec-websocket-version", "13")])
    answer2 = await client.response(sid)
    assert status(answer2) == 200
    ws2 = WebSocket(client, sid)
    ws2.seen = len(client.events)
    ws2.send(TextMessage(data="still here"))
    assert await ws2.next() == TextMessage(data="still here")
    client.close()


def test_accept_is_rfc6455s_example() -> None:
    """Sec-WebSocket-Accept for RFC 6455 §1.3's sample key is the RFC's value."""
    assert accept_for("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_upgrade_request_and_answer_checks() -> None:
    """The Upgrade carries key, version and the forwarded fields; a 101 passes only with
    Upgrade, Connection and the matching Accept; CR/LF in a field is refused."""
    from yarl import URL

    key = "dGhlIHNhbXBsZSBub25jZQ=="
    raw = upgrade_request(URL("https://api.example.com:8443/e?x=1"), key, {"Authorization": "B"})
    assert raw.startswith(b"GET /e?x=1 HTTP/1.1\r\nHost: api.example.com:8443\r\n")
    assert b"Sec-WebSocket-Key: " + key.encode() in raw
    assert raw.endswith(b"Authorization: B\r\n\r\n")
    with pytest.raises(ValueError, match="CR"):
        upgrade_request(URL("https://a/"), key, {"X": "a\r\nInjected: 1"})
    good = parse_head(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      b"Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
                      b"\r\n\r\n")  # fmt: skip
    assert upgrade_problem(good, key) is None
    assert upgrade_problem(good, "another key") is not None
    h2c = good.headers.copy()
    h2c["Upgrade"] = "h2c"
    assert upgrade_problem(Answer(101, "", h2c), key) == "no Upgrade: websocket"
    assert upgrade_problem(Answer(200, "OK"), key) == "status 200, not 101"
    with pytest.raises(ValueError, match="status line"):
        parse_head(b"SSH-2.0-OpenSSH\r\n\r\n")

"""RFC 8441 extended CONNECT in the HTTP/2 layer: the setting, the tunnel, its flow control."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import h2.connection
import h2.events
import h2.settings
import pytest
from aiohttp import web
from h2.errors import ErrorCodes

from services.common.h2server import TlsSite
from services.common.h2tunnel import TUNNEL_PROTOCOLS, connect_refusal, tunnel_of
from services.common.tls import server_context
from tests.unit.common.h2client import Client

HOST = "www.example.com"
DEADLINE = 10.0  # seconds: every wait below ends as soon as its condition holds
SETTING = h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL


class Held:
    """Lets a test hold the tunnel handler before it reads, and see it finish."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.finished = asyncio.Event()


def make_app(tunnels: bool, held: Held) -> web.Application:
    async def echo(request: web.Request) -> web.StreamResponse:
        tunnel = tunnel_of(request)
        if tunnel is None:
            return web.Response(status=426, text="extended CONNECT only\n")
        response = await tunnel.accept(request)
        response.headers["X-Seen"] = "never sent: headers are out"
        try:
            if request.path == "/held":
                await held.release.wait()
            while data := await tunnel.read():
                await tunnel.write(data)
            await tunnel.close()
        finally:
            held.finished.set()
        return response

    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="hello")

    app = web.Application()
    if tunnels:
        app[TUNNEL_PROTOCOLS] = frozenset({"websocket"})
    app.router.add_get("/", hello)
    app.router.add_route("*", "/{path:.*}", echo)
    return app


@pytest.fixture
def held() -> Held:
    return Held()


async def serve(certs: Path, app: web.Application) -> AsyncIterator[int]:
    runner = web.AppRunner(app)
    await runner.setup()
    ctx = server_context(certs / "origin.crt", certs / "origin.key", env={})
    site = TlsSite(runner, "127.0.0.1", 0, ctx, logging.getLogger("test.h2tunnel"))
    await site.start()
    assert site.server is not None
    yield site.server.sockets[0].getsockname()[1]
    await site.stop()
    await runner.cleanup()


@pytest.fixture
async def port(certs: Path, held: Held) -> AsyncIterator[int]:
    """A TlsSite whose app tunnels websocket."""
    async for p in serve(certs, make_app(True, held)):
        yield p


@pytest.fixture
async def plain_port(certs: Path, held: Held) -> AsyncIterator[int]:
    """The same app without TUNNEL_PROTOCOLS, as the origin and the API run."""
    async for p in serve(certs, make_app(False, held)):
        yield p


def status(event: h2.events.ResponseReceived) -> str:
    return dict(event.headers or [])[b":status"].decode()


async def settings_of(port: int, ca: Path) -> dict[int, int]:
    client = await Client.open(port, ca)
    event = await client.until(lambda e: isinstance(e, h2.events.RemoteSettingsChanged))
    client.close()
    assert isinstance(event, h2.events.RemoteSettingsChanged)
    return {int(code): change.new_value for code, change in event.changed_settings.items()}


async def test_only_a_tunnelling_app_announces_the_setting(
    port: int, plain_port: int, certs: Path
) -> None:
    """SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 from an app with TUNNEL_PROTOCOLS, 0 otherwise."""
    assert (await settings_of(port, certs / "ca.crt")).get(SETTING) == 1
    assert (await settings_of(plain_port, certs / "ca.crt")).get(SETTING, 0) == 0


async def test_extended_connect_echoes_both_ways_and_ends(port: int, certs: Path) -> None:
    """200 without END_STREAM, then 300 KB each way intact (past the 64 KiB windows), then
    END_STREAM from the client is answered with END_STREAM (RFC 8441 §5)."""
    client = await Client.open(port, certs / "ca.crt")
    sid = client.connect()
    answer = await client.response(sid)
    assert status(answer) == "200"
    assert answer.stream_ended is None
    fields = dict(answer.headers or [])
    assert b"content-length" not in fields  # RFC 9110 §9.3.6: none in a 2xx to CONNECT
    assert b"x-seen" not in fields
    payload = bytes(range(256)) * 1200
    sent = 0
    while sent < len(payload):
        room = min(client.conn.local_flow_control_window(sid), 16384, len(payload) - sent)
        if room == 0:
            await client.until(
                lambda e: isinstance(e, h2.events.WindowUpdated), since=len(client.events)
            )
            continue
        client.conn.send_data(sid, payload[sent : sent + room])
        client.flush()
        sent += room
    assert await client.received(sid, len(payload)) == payload
    client.conn.end_stream(sid)
    client.flush()
    await client.until(lambda e: isinstance(e, h2.events.StreamEnded) and e.stream_id == sid)
    client.close()


async def test_window_returns_only_once_the_handler_reads(
    port: int, certs: Path, held: Held
) -> None:
    """Bytes a tunnel handler has not read keep the stream's window closed: no WINDOW_UPDATE
    until it reads them (flow control reaches the client, RFC 9113 §5.2)."""
    client = await Client.open(port, certs / "ca.crt")
    sid = client.connect("/held")
    await client.response(sid)
    window = client.conn.local_flow_control_window(sid)
    for start in range(0, window, 16384):
        client.conn.send_data(sid, b"x" * min(16384, window - start))
    client.flush()
    assert client.conn.local_flow_control_window(sid) == 0
    # Two PING round trips: whatever the server sent for those DATA frames is here now.
    await client.ping(b"first...")
    await client.ping(b"second..")

    def reopened(e: h2.events.Event) -> bool:
        return isinstance(e, h2.events.WindowUpdated) and e.stream_id == sid

    assert not any(reopened(e) for e in client.events)
    held.release.set()
    await client.until(reopened)
    assert await client.received(sid, window) == b"x" * window
    client.close()


async def test_client_reset_ends_the_handler(port: int, certs: Path, held: Held) -> None:
    """RST_STREAM CANCEL from the client (RFC 8441 §5's abort) ends the tunnel's handler."""
    client = await Client.open(port, certs / "ca.crt")
    sid = client.connect("/held")
    await client.response(sid)
    client.conn.reset_stream(sid, ErrorCodes.CANCEL)
    client.flush()
    await asyncio.wait_for(held.finished.wait(), DEADLINE)
    client.close()


async def test_ordinary_connect_and_unknown_protocol_are_refused(
    port: int, certs: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A CONNECT without :protocol gets 405, ``:protocol h2c`` 400, each logged; the connection
    still serves a GET afterwards."""
    caplog.set_level(logging.INFO, "test.h2tunnel")
    client = await Client.open(port, certs / "ca.crt")
    assert status(await client.response(client.connect(protocol=None))) == "405"
    assert status(await client.response(client.connect(protocol="h2c"))) == "400"
    refused = [r for r in caplog.records if getattr(r, "event", "") == "h2_connect_refused"]
    assert [getattr(r, "status", None) for r in refused] == [405, 400]
    sid = client.conn.get_next_available_stream_id()
    client.conn.send_headers(
        sid,
        [(":method", "GET"), (":path", "/"), (":authority", HOST), (":scheme", "https")],
        end_stream=True,
    )
    client.flush()
    assert status(await client.response(sid)) == "200"
    client.close()


async def test_protocol_without_the_setting_is_a_stream_error(plain_port: int, certs: Path) -> None:
    """:protocol sent to a server that never announced the setting: RST_STREAM PROTOCOL_ERROR
    (RFC 8441 §4), and only that stream ends."""
    client = await Client.open(plain_port, certs / "ca.crt")
    sid = client.connect()
    event = await client.until(lambda e: isinstance(e, h2.events.StreamReset))
    assert isinstance(event, h2.events.StreamReset)
    assert (event.stream_id, event.error_code) == (sid, ErrorCodes.PROTOCOL_ERROR)
    await client.ping(b"stillup!")
    client.close()


def test_connect_refusal_decides_from_method_protocol_and_offer() -> None:
    """Only CONNECT is judged: no :protocol is 405, an unoffered one 400, none offered a reset."""
    offered = frozenset({"websocket"})
    connect = {":method": "CONNECT", ":protocol": "websocket"}
    assert connect_refusal({":method": "GET"}, offered) is None
    assert connect_refusal(connect, offered) is None
    assert getattr(connect_refusal({":method": "CONNECT"}, offered), "status", None) == 405
    assert getattr(connect_refusal({**connect, ":protocol": "x"}, offered), "status", 0) == 400
    refused = connect_refusal(connect, frozenset())
    assert refused is not None
    assert refused.status is None

"""A WebSocket over HTTP/2 (RFC 8441) for the client: extended CONNECT, wsproto frames.

One TLS connection with ALPN h2. The client waits for the server's SETTINGS
and uses ``:protocol`` only if SETTINGS_ENABLE_CONNECT_PROTOCOL is 1 (§3),
then sends ``:method CONNECT``, ``:protocol websocket``, ``:scheme``,
``:path`` and ``:authority`` with Sec-WebSocket-Version: 13 and the caller's
fields (§4, §5: no Upgrade, Connection or Sec-WebSocket-Key). A 200 opens
the WebSocket; from then on the stream's DATA carries RFC 6455 frames, made
and parsed by ``wsproto`` (sans-IO, like ``h2``). END_STREAM ends it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from typing import Any
from urllib.parse import urlsplit

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
from wsproto.connection import Connection, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Event, Ping, TextMessage

ENABLE_CONNECT = h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL


class Refused(Exception):
    """The server answered the extended CONNECT with something other than 200."""

    def __init__(self, status: int) -> None:
        super().__init__(f"status {status}")
        self.status = status


class H2WebSocket:
    """One WebSocket on one stream of its own HTTP/2 connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        config = h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
        self.conn = h2.connection.H2Connection(config=config)
        self.ws = Connection(ConnectionType.CLIENT)
        self.stream_id = 0
        self.settings = asyncio.Event()
        self.response: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.messages: asyncio.Queue[str | bytes | None] = asyncio.Queue()
        self.window = asyncio.Event()
        self.parts: list[str | bytes] = []
        self.close_code: int | None = None
        self.task: asyncio.Task[None] | None = None

    @classmethod
    async def connect(
        cls, url: str, fields: dict[str, str], ctx: ssl.SSLContext, timeout: float
    ) -> H2WebSocket:
        """Open ``wss://host/path`` over HTTP/2; Refused for a non-200 answer."""
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port or 443
        ctx.set_alpn_protocols(["h2"])
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=ctx, server_hostname=host), timeout
        )
        ssl_object = writer.get_extra_info("ssl_object")
        if ssl_object is None or ssl_object.selected_alpn_protocol() != "h2":
            writer.close()
            raise ConnectionError(f"{host}:{port} did not choose h2 by ALPN")
        ws = cls(reader, writer)
        ws.conn.initiate_connection()
        ws.flush()
        ws.task = asyncio.create_task(ws._read())
        await asyncio.wait_for(ws.settings.wait(), timeout)
        if ws.conn.remote_settings.get(ENABLE_CONNECT, 0) != 1:
            await ws.aclose()
            raise ConnectionError(
                f"{host} did not announce SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441 §3)"
            )
        ws.stream_id = ws.conn.get_next_available_stream_id()
        authority = host if port == 443 else f"{host}:{port}"
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        headers = [
            (":method", "CONNECT"),
            (":protocol", "websocket"),
            (":scheme", "https"),
            (":path", path),
            (":authority", authority),
            ("sec-websocket-version", "13"),
        ]
        headers += [(k.lower(), v) for k, v in fields.items()]
        ws.conn.send_headers(ws.stream_id, headers)
        ws.flush()
        status = await asyncio.wait_for(ws.response, timeout)
        if status != 200:
            await ws.aclose()
            raise Refused(status)
        return ws

    def flush(self) -> None:
        data = self.conn.data_to_send()
        if data and not self.writer.is_closing():
            self.writer.write(data)

    async def _read(self) -> None:
        try:
            while data := await self.reader.read(65536):
                for event in self.conn.receive_data(data):
                    self._event(event)
                self.flush()
        except (OSError, h2.exceptions.ProtocolError):
            pass
        finally:
            if not self.response.done():
                self.response.set_exception(ConnectionError("the connection closed"))
            self.messages.put_nowait(None)

    def _event(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.RemoteSettingsChanged):
            self.settings.set()
            self.window.set()
        elif isinstance(event, h2.events.ResponseReceived) and event.stream_id == self.stream_id:
            found = [v for k, v in event.headers or [] if k in (":status", b":status")]
            status = found[0] if found else "0"
            if not self.response.done():
                self.response.set_result(int(status))
        elif isinstance(event, h2.events.DataReceived) and event.stream_id == self.stream_id:
            self.ws.receive_data(event.data)
            self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            for ws_event in self.ws.events():
                self._ws_event(ws_event)
        elif isinstance(event, h2.events.WindowUpdated):
            self.window.set()
        elif isinstance(event, h2.events.StreamEnded | h2.events.StreamReset):
            if event.stream_id == self.stream_id:
                self.messages.put_nowait(None)

    def _ws_event(self, event: Event) -> None:
        if isinstance(event, TextMessage | BytesMessage):
            self.parts.append(event.data)
            if event.message_finished:
                joined = (
                    "".join(str(p) for p in self.parts)
                    if isinstance(event, TextMessage)
                    else b"".join(p if isinstance(p, bytes) else p.encode() for p in self.parts)
                )
                self.parts = []
                self.messages.put_nowait(joined)
        elif isinstance(event, Ping):
            self._send_now(self.ws.send(event.response()))
        elif isinstance(event, CloseConnection):
            self.close_code = event.code
            # RFC 6455 §5.5.1: answer the close, then END_STREAM ends our side (RFC 8441 §5).
            with contextlib.suppress(Exception):
                self._send_now(self.ws.send(event.response()), end_stream=True)
            self.messages.put_nowait(None)

    def _send_now(self, data: bytes, end_stream: bool = False) -> None:
        with contextlib.suppress(h2.exceptions.ProtocolError):
            self.conn.send_data(self.stream_id, data, end_stream=end_stream)

    async def send_text(self, text: str) -> None:
        """One text message; waits for the stream's window when it is short."""
        data = self.ws.send(TextMessage(data=text))
        while data:
            room = min(self.conn.local_flow_control_window(self.stream_id),
                       self.conn.max_outbound_frame_size)  # fmt: skip
            if room <= 0:
                self.window.clear()
                await self.window.wait()
                continue
            self.conn.send_data(self.stream_id, data[:room])
            data = data[room:]
            self.flush()

    async def receive_json(self, timeout: float) -> Any:
        """The next message, parsed as JSON; ConnectionError once the WebSocket closed."""
        message = await asyncio.wait_for(self.messages.get(), timeout)
        if message is None:
            self.messages.put_nowait(None)
            raise ConnectionError(f"the WebSocket closed (code {self.close_code})")
        return json.loads(message)

    async def aclose(self, code: int = 1000) -> None:
        """Close frame and END_STREAM if the WebSocket is open, then the connection."""
        if self.stream_id and self.close_code is None:
            with contextlib.suppress(Exception):
                self._send_now(self.ws.send(CloseConnection(code=code)), end_stream=True)
        with contextlib.suppress(h2.exceptions.ProtocolError):
            self.conn.close_connection()
        self.flush()
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()

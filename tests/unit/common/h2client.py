"""A sans-IO h2 test client over real TLS, for extended CONNECT (RFC 8441) tests."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from pathlib import Path

import h2.connection
import h2.events

DEADLINE = 10.0  # seconds: every wait ends as soon as its condition holds


class Client:
    """A sans-IO h2 client over real TLS: events in, frames out."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.conn = h2.connection.H2Connection()
        self.conn.initiate_connection()
        self.events: list[h2.events.Event] = []
        self.host = "www.example.com"
        self.flush()

    @classmethod
    async def open(cls, port: int, ca: Path, host: str = "www.example.com") -> Client:
        ctx = ssl.create_default_context(cafile=str(ca))
        ctx.set_alpn_protocols(["h2"])
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=ctx, server_hostname=host
        )
        client = cls(reader, writer)
        client.host = host
        return client

    def flush(self) -> None:
        self.writer.write(self.conn.data_to_send())

    async def until(
        self, done: Callable[[h2.events.Event], bool], since: int = 0
    ) -> h2.events.Event:
        """Read until an event (from ``events[since]`` on) satisfies ``done``; every event
        is kept in ``events``."""
        for event in self.events[since:]:
            if done(event):
                return event
        while True:
            data = await asyncio.wait_for(self.reader.read(65536), DEADLINE)
            assert data, f"connection closed; events: {self.events}"
            batch = self.conn.receive_data(data)
            self.events += batch
            for event in batch:
                if isinstance(event, h2.events.DataReceived):
                    self.conn.acknowledge_received_data(
                        event.flow_controlled_length, event.stream_id
                    )
            self.flush()
            for event in batch:
                if done(event):
                    return event

    def connect(
        self,
        path: str = "/chat",
        protocol: str | None = "websocket",
        fields: list[tuple[str, str]] | None = None,
    ) -> int:
        sid = self.conn.get_next_available_stream_id()
        headers = [(":method", "CONNECT")]
        if protocol is not None:
            headers += [(":protocol", protocol), (":scheme", "https"), (":path", path)]
        self.conn.send_headers(sid, [*headers, (":authority", self.host), *(fields or [])])
        self.flush()
        return sid

    async def response(self, sid: int) -> h2.events.ResponseReceived:
        event = await self.until(
            lambda e: isinstance(e, h2.events.ResponseReceived | h2.events.StreamReset)
            and e.stream_id == sid
        )
        assert isinstance(event, h2.events.ResponseReceived), event
        return event

    async def received(self, sid: int, size: int) -> bytes:
        """Wait until ``size`` bytes of DATA have arrived on the stream; all of them."""

        def got() -> bytes:
            return b"".join(
                e.data or b""
                for e in self.events
                if isinstance(e, h2.events.DataReceived) and e.stream_id == sid
            )

        await self.until(lambda _e: len(got()) >= size)
        return got()

    async def ping(self, opaque: bytes) -> None:
        self.conn.ping(opaque)
        self.flush()
        await self.until(
            lambda e: isinstance(e, h2.events.PingAckReceived) and e.ping_data == opaque
        )

    def close(self) -> None:
        self.writer.close()

    def send(self, sid: int, data: bytes, end_stream: bool = False) -> None:
        """DATA that fits the stream's window (the tests send small frames)."""
        self.conn.send_data(sid, data, end_stream=end_stream)
        self.flush()

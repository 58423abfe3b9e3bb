"""A raw HTTP/2 server (the h2 package, server side) that misbehaves on purpose.

``/`` is a page naming /ok.css and /refused.js on the same host; /ok.css is
answered, /refused.js's stream is reset with RST_STREAM REFUSED_STREAM, and a
request for /goaway gets GOAWAY (NO_ERROR, last stream 0: "I processed
nothing"), as a server shutting down would send.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.errors import ErrorCodes
from h2.events import RequestReceived
from h2.exceptions import ProtocolError

from services.common.tls import server_context

PAGE = b'<link rel="stylesheet" href="/ok.css"><script src="/refused.js"></script>'


def _respond(conn: H2Connection, event: RequestReceived) -> None:
    headers = {str(k): str(v) for k, v in event.headers or []}
    path, sid = headers[":path"], event.stream_id or 0
    if path == "/refused.js":
        conn.reset_stream(sid, ErrorCodes.REFUSED_STREAM)
    elif path == "/goaway":
        conn.close_connection(ErrorCodes.NO_ERROR, last_stream_id=0)
    else:
        body, kind = (PAGE, "text/html") if path == "/" else (b"body{}", "text/css")
        conn.send_headers(sid, [(":status", "200"), ("content-type", kind)])
        conn.send_data(sid, body, end_stream=True)


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    conn = H2Connection(H2Configuration(client_side=False, header_encoding="utf-8"))
    conn.initiate_connection()
    writer.write(conn.data_to_send())
    try:
        while data := await reader.read(65536):
            for event in conn.receive_data(data):
                if isinstance(event, RequestReceived):
                    _respond(conn, event)
            writer.write(conn.data_to_send())
            await writer.drain()
    except (ProtocolError, ConnectionError):
        pass  # after our GOAWAY h2 refuses more frames: the connection is over
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()


@contextlib.asynccontextmanager
async def rude_h2(certs: Path) -> AsyncIterator[int]:
    """The server on a free port with the edge's certificate and ALPN h2; yields the port."""
    ctx = server_context(certs / "edge.crt", certs / "edge.key", env={})
    ctx.set_alpn_protocols(["h2"])
    server = await asyncio.start_server(_serve, "127.0.0.1", 0, ssl=ctx)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()

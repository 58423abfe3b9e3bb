"""RFC 8441 extended CONNECT: one HTTP/2 stream as a byte tunnel for an aiohttp handler.

RFC 8441 carries a WebSocket on one HTTP/2 stream. The client sends
``:method CONNECT`` with ``:protocol websocket`` (§4) to a server that
announced SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 (§3); the server answers 200
(not 101) and from then on the stream's DATA frames carry WebSocket frames
both ways; END_STREAM is the orderly close and RST_STREAM CANCEL the abort (§5).

The request still reaches the aiohttp application as an ordinary ``Request``
(method CONNECT, the :path, :authority as Host), so routing, logging and the
access log are the same code path as for every other request. What an
aiohttp ``Request`` cannot represent is the stream itself: its body reader
is a StreamReader that takes the whole connection's flow control with it
(a request body is acknowledged as it arrives, and a full reader pauses the
transport, every stream on it), and a response cannot reset its stream. So
the stream comes as an explicit, small object, :class:`H2Tunnel`, set on the
request under :data:`TUNNEL`: the handler calls :meth:`accept`, then
:meth:`read` and :meth:`write`, and :meth:`close` (or :meth:`reset`).
Received bytes are acknowledged (WINDOW_UPDATE, RFC 9113 §5.2) only when the
handler asks for the next chunk, that is once it has forwarded the previous
one: a slow upstream slows the client down through HTTP/2's own flow
control, and nothing queues without limit.

aiohttp's own ``WebSocketResponse`` is not served this way: its handshake
wants the HTTP/1.1 Upgrade fields and a 101, and it writes frames straight
to the connection's transport and installs its frame parser on the
connection's protocol, so on HTTP/2 it would need a fake transport and
protocol per stream built on aiohttp's private internals. Servers whose app
does not declare :data:`TUNNEL_PROTOCOLS` (the origin, the API) do not
announce the setting, and a client that uses ``:protocol`` anyway gets the
stream error RFC 8441 §4 prescribes.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import h2.exceptions
from aiohttp import web
from h2.errors import ErrorCodes
from multidict import CIMultiDict

if TYPE_CHECKING:
    from services.common.h2server import H2Protocol

# The ``:protocol`` values an app tunnels; declaring any turns on RFC 8441 §3's setting.
TUNNEL_PROTOCOLS: web.AppKey[frozenset[str]] = web.AppKey("h2_tunnel_protocols", frozenset)
# Request key of an extended CONNECT stream's H2Tunnel (aiohttp 3.11 has no typed RequestKey).
TUNNEL = "h2_tunnel"


def tunnel_of(request: web.BaseRequest) -> H2Tunnel | None:
    """The request's tunnel when it is an RFC 8441 extended CONNECT over HTTP/2, else None."""
    found = request.get(TUNNEL)
    return found if isinstance(found, H2Tunnel) else None


@dataclass(frozen=True)
class Refusal:
    """Why a CONNECT is not tunnelled: an HTTP ``status`` to answer, or None for a
    stream error (RST_STREAM PROTOCOL_ERROR)."""

    why: str
    status: int | None


def connect_refusal(pseudo: Mapping[str, str], offered: frozenset[str]) -> Refusal | None:
    """None when the request is not a CONNECT or is an extended CONNECT we tunnel.

    ``h2`` has already checked the shape (RFC 8441 §4: :scheme and :path with
    :protocol, neither without it; :protocol only on CONNECT)."""
    if pseudo.get(":method") != "CONNECT":
        return None
    protocol = pseudo.get(":protocol")
    if protocol is None:
        return Refusal("CONNECT without :protocol: this server is not a forward proxy", 405)
    if not offered:
        # RFC 8441 §4: :protocol to a server that did not send the setting is malformed.
        return Refusal(f":protocol {protocol!r} but SETTINGS_ENABLE_CONNECT_PROTOCOL is off", None)
    if protocol not in offered:
        only = ", ".join(sorted(offered))
        return Refusal(
            f"extended CONNECT for :protocol {protocol!r}: only {only} is tunnelled", 400
        )
    return None


class H2Tunnel:
    """One extended CONNECT stream, from the handler's side: accept, read, write, close."""

    def __init__(self, proto: H2Protocol, stream_id: int, protocol: str) -> None:
        self.proto, self.stream_id, self.protocol = proto, stream_id, protocol
        self.response: web.StreamResponse | None = None
        self.remote_ended = False  # the client sent END_STREAM (or the stream is gone)
        self.bytes_in = self.bytes_out = 0
        self._chunks: collections.deque[tuple[bytes, int]] = collections.deque()
        self._unacked = 0  # flow-controlled length of the chunk read() last returned
        self._error: ConnectionError | None = None
        self._readable = asyncio.Event()

    # -- from the protocol layer -------------------------------------------------
    def feed(self, data: bytes, flow_controlled_length: int) -> None:
        if data:
            self._chunks.append((data, flow_controlled_length))
            self._readable.set()
        elif flow_controlled_length:
            self._acknowledge(flow_controlled_length)  # padding only: nothing to forward

    def feed_eof(self) -> None:
        self.remote_ended = True
        self._readable.set()

    def feed_reset(self, why: str) -> None:
        self.remote_ended = True
        self._error = ConnectionError(why)
        self._readable.set()

    # -- for the handler -----------------------------------------------------------
    async def accept(
        self, request: web.BaseRequest, headers: CIMultiDict[str] | None = None
    ) -> web.StreamResponse:
        """Answer 200 (RFC 8441 §5) at once, without END_STREAM: the tunnel is open."""
        response = web.StreamResponse(status=200, headers=headers)
        await response.prepare(request)
        self.proto.flush()  # the client waits for this HEADERS frame before it sends anything
        self.response = response
        return response

    async def read(self) -> bytes:
        """The next chunk of the client's bytes; b"" once it ended the stream.

        Calling it again is the sign the previous chunk has been forwarded: its
        window goes back to the client then. Raises ConnectionError if the
        stream was reset."""
        if self._unacked:
            self._acknowledge(self._unacked)
            self._unacked = 0
        while not self._chunks and not self.remote_ended:
            self._readable.clear()
            await self._readable.wait()
        if self._chunks:
            data, self._unacked = self._chunks.popleft()
            self.bytes_in += len(data)
            return data
        if self._error is not None:
            raise self._error
        return b""

    async def write(self, data: bytes) -> None:
        """DATA to the client, sent as its windows allow (the protocol's scheduler)."""
        assert self.response is not None, "accept() first"
        self.bytes_out += len(data)
        await self.response.write(data)

    async def close(self) -> None:
        """END_STREAM: the orderly end of this direction (RFC 8441 §5, TCP's FIN)."""
        if self.response is not None:
            await self.response.write_eof()

    def reset(self, code: ErrorCodes = ErrorCodes.CANCEL) -> None:
        """RST_STREAM: the abort (RFC 8441 §5 maps a TCP reset to CANCEL)."""
        self.remote_ended = True
        self.proto.reset_stream(self.stream_id, code)

    def _acknowledge(self, size: int) -> None:
        try:
            self.proto.conn.acknowledge_received_data(size, self.stream_id)
        except h2.exceptions.ProtocolError:
            return  # the connection is closing: no window to give back
        self.proto.flush()

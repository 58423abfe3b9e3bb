"""An aiohttp answer sent with one transport write: status line, fields and body together.

aiohttp writes the header block when the response is prepared and the body at
write_eof: two writes, so over TLS two records and two sends per answer. For a
small cached object that second send is a large part of what a HIT costs (a
loopback send is the receiver's work too); nginx sends both in one. This
response defers the header block to write_eof and joins it to the body.

It leans on aiohttp 3.11 internals (``_write_headers``, the header serializer),
pinned in services/requirements.txt; tests/unit/cdn/test_onewrite.py checks the
bytes on the wire, so an upgrade that changes them fails there.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.http_writer import _serialize_headers

# Above this the body goes in its own write: joining would copy it for nothing.
JOIN_LIMIT = 64 * 1024


class OneWriteResponse(web.Response):
    """A ``web.Response`` with a bytes body, sent in one write when it is small."""

    _head_deferred = False

    def _joinable(self) -> bool:
        body = self.body
        request = self._req
        return (
            # HTTP/2 frames the head itself (HEADERS, then DATA): nothing to join.
            (request is None or request.version < (2, 0))
            and isinstance(body, bytes)
            and len(body) <= JOIN_LIMIT
            and not self.chunked
            and not self.compression
        )

    async def _write_headers(self) -> None:
        if self._joinable():
            self._head_deferred = True  # sent by write_eof, with the body
        else:
            await super()._write_headers()

    def _head(self) -> bytes:
        request = self._req
        assert request is not None
        version = request.version
        self._head_deferred = False
        return _serialize_headers(
            f"HTTP/{version[0]}.{version[1]} {self.status} {self.reason}", self.headers
        )

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._head_deferred:
            await super().write(self._head())
        await super().write(data)

    async def write_eof(self, data: bytes = b"") -> None:
        if not self._head_deferred or self._eof_sent:
            await super().write_eof(data)
            return
        body = self.body
        assert isinstance(body, bytes)
        assert not data
        # As web.Response.write_eof: no content for HEAD, 204 and 304 (RFC 9110 §6.4.1).
        payload = self._head() if self._must_be_empty_body else self._head() + body
        await web.StreamResponse.write_eof(self, payload)

"""services.cdn.onewrite: the same bytes as aiohttp's Response, in one write when small."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web
from aiohttp.http_writer import StreamWriter
from aiohttp.test_utils import make_mocked_request

from services.cdn.onewrite import JOIN_LIMIT, OneWriteResponse

HEADERS = {"Date": "Mon, 01 Jan 2024 00:00:00 GMT", "Content-Type": "text/css", "Age": "3"}


class FakeTransport:
    """Records each write, as a socket would see them."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return False


class FakeProtocol:
    def __init__(self) -> None:
        self.transport = FakeTransport()
        self._paused = False


async def send(response: web.Response, method: str = "GET") -> list[bytes]:
    """What reaches the transport when aiohttp sends ``response`` (as finish_response)."""
    protocol = FakeProtocol()
    writer = StreamWriter(protocol, asyncio.get_running_loop())  # type: ignore[arg-type]
    request = make_mocked_request(method, "/css/site.css", writer=writer)
    await response.prepare(request)
    await response.write_eof()
    return protocol.transport.writes


@pytest.mark.parametrize(
    ("method", "status", "body"),
    [
        ("GET", 200, b"body{color:red}"),
        ("HEAD", 200, b"body{color:red}"),
        ("GET", 304, b""),
        ("GET", 204, b""),
        ("GET", 404, b"not here\n"),
    ],
)
async def test_same_bytes_one_write(method: str, status: int, body: bytes) -> None:
    """A small answer goes out in one write, byte for byte what web.Response sends."""
    ours = await send(OneWriteResponse(status=status, body=body, headers=HEADERS), method)
    theirs = await send(web.Response(status=status, body=body, headers=HEADERS), method)
    assert len(ours) == 1
    assert ours[0] == b"".join(theirs)
    assert ours[0].startswith(f"HTTP/1.1 {status} ".encode())


async def test_large_body_written_apart() -> None:
    """Above JOIN_LIMIT the body is not copied into the header block: two writes."""
    body = b"x" * (JOIN_LIMIT + 1)
    ours = await send(OneWriteResponse(body=body, headers=HEADERS))
    theirs = await send(web.Response(body=body, headers=HEADERS))
    assert len(ours) == 2
    assert b"".join(ours) == b"".join(theirs)


async def test_header_injection_still_refused() -> None:
    """A field value with CR/LF is refused, as aiohttp's own serializer does."""
    with pytest.raises(ValueError, match="header injection"):
        await send(OneWriteResponse(body=b"x", headers={"X-Bad": "a\r\nSet-Cookie: b=c"}))

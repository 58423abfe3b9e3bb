"""HTTP/2 and HTTP/1.x on one TLS port: curl as the client, then hostile frames."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import ssl
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import h2.connection
import h2.events
import pytest
from aiohttp import web
from hyperframe.frame import DataFrame, Frame, GoAwayFrame, HeadersFrame, PingFrame, RstStreamFrame

from services.common.h2server import (
    FLOOD_LIMITS,
    MAX_STREAMS,
    SMALL_RECORD,
    SMALL_RECORD_BYTES,
    TlsSite,
    request_message,
)
from services.common.tls import server_context

HOST = "www.example.com"
BIG = bytes(range(256)) * 4096  # 1 MiB: well past HTTP/2's initial 64 KiB windows


def make_app() -> web.Application:
    async def hello(request: web.Request) -> web.Response:
        return web.Response(
            text=f"hello {request.version.major}.{request.version.minor}",
            headers={"X-Cookie": request.headers.get("Cookie", ""), "X-Host": request.host},
        )

    async def echo(request: web.Request) -> web.Response:
        body = await request.read()
        return web.Response(text=hashlib.sha256(body).hexdigest())

    async def big(request: web.Request) -> web.Response:
        return web.Response(body=BIG)

    async def huge(request: web.Request) -> web.Response:
        return web.Response(body=BIG * 2)

    async def stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()  # no length: chunked on 1.1, plain DATA on h2
        await response.prepare(request)
        for i in range(3):
            await response.write(f"part {i}\n".encode())
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/", hello)
    app.router.add_post("/echo", echo)
    app.router.add_get("/big", big)
    app.router.add_get("/huge", huge)
    app.router.add_get("/stream", stream)
    return app


@pytest.fixture
async def site(certs: Path) -> AsyncIterator[tuple[int, Path]]:
    """The app behind TlsSite on a free port; yields (port, CA file)."""
    runner = web.AppRunner(make_app())
    await runner.setup()
    ctx = server_context(certs / "origin.crt", certs / "origin.key", env={})
    tls = TlsSite(runner, "127.0.0.1", 0, ctx, logging.getLogger("test.h2"))
    await tls.start()
    assert tls.server is not None
    port = tls.server.sockets[0].getsockname()[1]
    yield port, certs / "ca.crt"
    await tls.stop()
    await runner.cleanup()


async def curl(port: int, ca: Path, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        "curl", "-sS", "--cacert", str(ca), "--resolve", f"{HOST}:{port}:127.0.0.1", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_curl_http2_gets_the_same_app(site: tuple[int, Path]) -> None:
    """curl --http2 negotiates h2 by ALPN and the app sees HTTP/2.0 and the :authority as Host."""
    port, ca = site
    code, out, err = await curl(
        port, ca, "--http2", "-D", "-", "-w", "\n%{http_version}", f"https://{HOST}:{port}/"
    )
    assert code == 0, err
    assert out.startswith("HTTP/2 200")
    assert "hello 2.0" in out
    assert f"x-host: {HOST}:{port}" in out  # field names lower-case on the wire (RFC 9113 §8.2)
    assert out.rstrip().endswith("\n2")


async def test_http11_and_10_still_answered_on_the_same_port(site: tuple[int, Path]) -> None:
    """The same port answers HTTP/1.1 and HTTP/1.0 through aiohttp's own protocol."""
    port, ca = site
    code, out, _ = await curl(port, ca, "--http1.1", "-D", "-", f"https://{HOST}:{port}/")
    assert code == 0
    assert out.startswith("HTTP/1.1 200")
    assert "hello 1.1" in out
    code, out, _ = await curl(port, ca, "--http1.0", "-D", "-", f"https://{HOST}:{port}/stream")
    assert code == 0
    assert out.startswith("HTTP/1.0 200")
    assert (
        "Transfer-Encoding" not in out
    )  # no chunked coding in 1.0 (RFC 1945): the body ends at close
    assert "part 2" in out


async def test_streamed_response_over_h2_has_no_chunking(site: tuple[int, Path]) -> None:
    """A response without a length goes out as plain DATA frames, no Transfer-Encoding (§8.2.2)."""
    port, ca = site
    code, out, err = await curl(port, ca, "--http2", "-D", "-", f"https://{HOST}:{port}/stream")
    assert code == 0, err
    assert "transfer-encoding" not in out.lower()
    assert out.endswith("part 0\npart 1\npart 2\n")


async def test_flow_control_both_ways(site: tuple[int, Path], tmp_path: Path) -> None:
    """512 KiB up, 1 MiB down: past HTTP/2's 64 KiB windows, intact (WINDOW_UPDATE, §6.9)."""
    port, ca = site
    upload = tmp_path / "up.bin"
    upload.write_bytes(BIG[: len(BIG) // 2])  # aiohttp's client_max_size is 1 MiB
    code, out, err = await curl(
        port, ca, "--http2", "--data-binary", f"@{upload}", f"https://{HOST}:{port}/echo"
    )
    assert code == 0, err
    assert out == hashlib.sha256(BIG[: len(BIG) // 2]).hexdigest()
    down = tmp_path / "down.bin"
    code, _, err = await curl(port, ca, "--http2", "-o", str(down), f"https://{HOST}:{port}/big")
    assert code == 0, err
    assert down.read_bytes() == BIG


def test_cookie_fields_are_joined_and_authority_is_host() -> None:
    """Split cookie fields become one Cookie (RFC 9113 §8.2.3); :authority becomes Host (§8.3.1)."""
    message = request_message(
        [
            (":method", "GET"),
            (":path", "/a?b=1"),
            (":authority", HOST),
            (":scheme", "https"),
            ("cookie", "a=1"),
            ("cookie", "b=2"),
        ]  # fmt: skip
    )
    assert message.headers["Cookie"] == "a=1; b=2"
    assert message.headers["Host"] == HOST
    assert message.url.query_string == "b=1"
    assert message.version == (2, 0)


# --- hostile clients: raw frames over TLS with ALPN h2 --------------------------------


async def raw(port: int, ca: Path) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    ctx = ssl.create_default_context(cafile=str(ca))
    ctx.set_alpn_protocols(["h2"])
    return await asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname=HOST)


async def goaway_code(reader: asyncio.StreamReader) -> int | None:
    """Read frames until GOAWAY (its error code) or the connection closes (None)."""
    buf = b""
    while True:
        try:
            chunk = await asyncio.wait_for(reader.read(65536), 10)
        except (ConnectionError, ssl.SSLError):
            return None
        if not chunk:
            return None
        buf += chunk
        while len(buf) >= 9:
            frame, length = Frame.parse_frame_header(memoryview(buf[:9]))
            if len(buf) < 9 + length:
                break
            frame.parse_body(memoryview(buf[9 : 9 + length]))
            buf = buf[9 + length :]
            if isinstance(frame, GoAwayFrame):
                return int(frame.error_code)


def client() -> h2.connection.H2Connection:
    conn = h2.connection.H2Connection()
    conn.initiate_connection()
    return conn


def request_headers(path: str = "/") -> list[tuple[str, str]]:
    return [(":method", "GET"), (":path", path), (":authority", HOST), (":scheme", "https")]


async def still_serves(port: int, ca: Path) -> None:
    code, out, _ = await curl(port, ca, "--http2", f"https://{HOST}:{port}/")
    assert code == 0
    assert out == "hello 2.0"


async def hostile(site: tuple[int, Path], data: bytes) -> int | None:
    """Send raw bytes over TLS with ALPN h2; the GOAWAY code back (None: closed without one).

    Afterwards the server must still answer another client."""
    port, ca = site
    reader, writer = await raw(port, ca)
    writer.write(data)
    code = await goaway_code(reader)
    writer.close()
    await still_serves(port, ca)
    return code


async def test_bad_preface_closes_the_connection(site: tuple[int, Path]) -> None:
    """A client that does not open with the HTTP/2 preface is cut off at once: a connection
    error, with no GOAWAY, which RFC 9113 §3.4 allows since the peer is not speaking HTTP/2."""
    assert await hostile(site, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + b"\0" * 30) is None


async def test_oversized_frame_is_a_frame_size_error(site: tuple[int, Path]) -> None:
    """A DATA frame over SETTINGS_MAX_FRAME_SIZE (16384) ends with FRAME_SIZE_ERROR (§4.2)."""
    conn = client()
    conn.send_headers(1, request_headers(), end_stream=False)
    frame = DataFrame(1, data=b"x" * 20000)
    assert await hostile(site, conn.data_to_send() + frame.serialize()) == 6  # FRAME_SIZE_ERROR


async def test_invalid_hpack_is_a_compression_error(site: tuple[int, Path]) -> None:
    """A header block that does not decode ends with COMPRESSION_ERROR (RFC 9113 §4.3)."""
    conn = client()
    bad = HeadersFrame(1, data=b"\xff\xff\xff\xff\xff\xff", flags=["END_HEADERS", "END_STREAM"])
    assert await hostile(site, conn.data_to_send() + bad.serialize()) == 9  # COMPRESSION_ERROR


async def test_rapid_reset_flood_is_cut_off(site: tuple[int, Path]) -> None:
    """Opening and resetting streams in a burst (CVE-2023-44487) ends with ENHANCE_YOUR_CALM."""
    conn = client()
    data = conn.data_to_send()
    for i in range(FLOOD_LIMITS["reset"] + 20):
        sid = 1 + 2 * i
        conn.send_headers(sid, request_headers(), end_stream=True)
        data += conn.data_to_send() + RstStreamFrame(sid, error_code=8).serialize()
    assert await hostile(site, data) == 11  # ENHANCE_YOUR_CALM


async def test_ping_flood_is_cut_off(site: tuple[int, Path]) -> None:
    """More PINGs a second than the limit ends with ENHANCE_YOUR_CALM."""
    conn = client()
    pings = b"".join(
        PingFrame(0, opaque_data=i.to_bytes(8, "big")).serialize()
        for i in range(FLOOD_LIMITS["ping"] + 10)
    )
    assert await hostile(site, conn.data_to_send() + pings) == 11


async def test_streams_past_the_limit_are_refused(site: tuple[int, Path]) -> None:
    """Opening more streams than SETTINGS_MAX_CONCURRENT_STREAMS is refused (RFC 9113 §5.1.2)."""
    conn = client()
    data = conn.data_to_send()
    # Requests that never end (no END_STREAM): each stays open on the server.
    for i in range(MAX_STREAMS + 1):
        frame = HeadersFrame(
            1 + 2 * i, data=conn.encoder.encode(request_headers("/echo")), flags=["END_HEADERS"]
        )
        data += frame.serialize()
    # PROTOCOL_ERROR (h2 treats it as a connection error) or REFUSED_STREAM
    assert await hostile(site, data) in (1, 7)


async def frames_until(reader: asyncio.StreamReader, done: Callable[[Frame], bool]) -> list[Frame]:
    """Read frames until ``done`` says so; the frames so far (the last one included)."""
    buf, seen = b"", list[Frame]()
    while True:
        chunk = await asyncio.wait_for(reader.read(65536), 10)
        assert chunk, f"the server closed the connection; frames so far: {seen}"
        buf += chunk
        while len(buf) >= 9:
            frame, length = Frame.parse_frame_header(memoryview(buf[:9]))
            if len(buf) < 9 + length:
                break
            frame.parse_body(memoryview(buf[9 : 9 + length]))
            buf = buf[9 + length :]
            seen.append(frame)
            if done(frame):
                return seen


async def test_header_that_is_not_utf8_resets_only_its_stream(site: tuple[int, Path]) -> None:
    """A field value that is not UTF-8 resets its stream (PROTOCOL_ERROR); others go on."""
    port, ca = site
    conn = client()
    fields = [(k.encode(), v.encode()) for k, v in request_headers()] + [(b"x-bad", b"caf\xe9")]
    bad = HeadersFrame(1, data=conn.encoder.encode(fields), flags=["END_HEADERS", "END_STREAM"])
    good = HeadersFrame(
        3, data=conn.encoder.encode(request_headers()), flags=["END_HEADERS", "END_STREAM"]
    )
    reader, writer = await raw(port, ca)
    writer.write(conn.data_to_send() + bad.serialize() + good.serialize())
    seen = await frames_until(
        reader,
        lambda f: isinstance(f, GoAwayFrame) or (f.stream_id == 3 and "END_STREAM" in f.flags),
    )
    writer.close()
    resets = [f for f in seen if isinstance(f, RstStreamFrame)]
    assert [(f.stream_id, f.error_code) for f in resets] == [(1, 1)]  # PROTOCOL_ERROR
    assert b"hello 2.0" in b"".join(f.data for f in seen if isinstance(f, DataFrame))


# --- TLS record sizes ----------------------------------------------------------------


async def _record_sizes(port: int, ca: Path, path: str) -> list[int]:
    """GET PATH over h2 with a TLS client on memory BIOs, so that the raw bytes can be
    cut at TLS record headers (type, version, 2-byte length) before they are decrypted:
    the length of every application-data record the server sent, in order."""
    ctx = ssl.create_default_context(cafile=str(ca))
    ctx.set_alpn_protocols(["h2"])
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname=HOST)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sizes: list[int] = []
    raw_buf = b""

    async def pump() -> None:
        nonlocal raw_buf
        if outgoing.pending:
            writer.write(outgoing.read())
            await writer.drain()
        chunk = await asyncio.wait_for(reader.read(65536), 10)
        if not chunk:
            raise ConnectionError("closed")
        raw_buf += chunk
        while len(raw_buf) >= 5 and len(raw_buf) >= 5 + int.from_bytes(raw_buf[3:5], "big"):
            n = int.from_bytes(raw_buf[3:5], "big")
            if raw_buf[0] == 23:  # application_data (TLS 1.3 wraps everything after hello)
                sizes.append(n)
            incoming.write(raw_buf[: 5 + n])
            raw_buf = raw_buf[5 + n :]

    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            await pump()
    conn = client()
    conn.send_headers(1, request_headers(path), end_stream=True)
    tls.write(conn.data_to_send())
    body, done = 0, False
    while not done:
        await pump()
        while True:
            try:
                data = tls.read(65536)
            except ssl.SSLWantReadError:
                break
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.DataReceived):
                    body += len(event.data)
                    conn.acknowledge_received_data(event.flow_controlled_length, 1)
                if isinstance(event, h2.events.StreamEnded):
                    done = True
            tls.write(conn.data_to_send())
    writer.close()
    assert body == 2 * len(BIG)
    return sizes


async def test_first_mib_goes_in_records_of_one_segment(site: tuple[int, Path]) -> None:
    """Dynamic record sizing: the first MiB of a connection in records of at most 1,400
    bytes of plaintext (1,422 with TLS 1.3's type byte and tag), so each fits one TCP
    segment; after that, full 16 KiB records."""
    sizes = await _record_sizes(*site, "/huge")
    first_big = next(i for i, n in enumerate(sizes) if n > SMALL_RECORD + 22)
    assert sum(sizes[:first_big]) >= SMALL_RECORD_BYTES  # the first MiB all small
    assert max(sizes) > 16000  # the second MiB of the 2 MiB body: full records

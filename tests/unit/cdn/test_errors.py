"""The edge's own errors are problem documents (RFC 9457) with Via and Cache-Status, on
HTTP/1.1 (aiohttp's client, raw TLS bytes), HTTP/2 (curl) and HTTP/3 (aioquic)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import shutil
import socket
import ssl
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from aioquic.asyncio.client import connect
from aioquic.quic.configuration import QuicConfiguration
from multidict import CIMultiDict

from services.cdn.app import EdgeConfig
from services.cdn.app import make_app as make_edge
from services.cdn.routing import parse_route
from services.common.errorpage import ErrorPageRunner
from services.common.h2server import TlsSite
from services.common.h3server import H3Site
from services.common.tls import client_context, server_context
from tests.unit.common.test_h3server import Client, Reply, _Pending

DEADLINE = 10.0  # seconds; every wait ends as soon as its answer is in
REFUSED, HANGING = "www.example.com", "static.example.com"  # public names, both on edge.crt
BIG = b"x" * (2 << 20)  # over aiohttp's client_max_size, 1 MiB
EDGE_ONLY = 'weblab-edge; detail="edge-generated"'  # answered before any upstream was tried
TRIED = 'weblab-edge; fwd=uri-miss; detail="edge-generated"'  # an upstream tried, no answer


@dataclass(frozen=True)
class Edge:
    tcp: int  # TLS: HTTP/1.1 or HTTP/2 by ALPN
    udp: int  # QUIC: HTTP/3
    ca: Path
    tmp: Path


@dataclass(frozen=True)
class Answer:
    status: int
    headers: CIMultiDict[str]
    body: bytes
    closed: bool = False  # raw HTTP/1 only: the edge closed the connection after it


@pytest.fixture
def refusing_port() -> Iterator[int]:
    """A port bound and never listened on: every connection to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


@pytest.fixture
async def edge(
    certs: Path, tmp_path: Path, refusing_port: int, hanging_upstream: TestServer
) -> AsyncIterator[Edge]:
    """The edge served as services/common/httpserver.py serves it: ErrorPageRunner, TlsSite
    (h2 or HTTP/1.1 by ALPN) and H3Site; one name routed to a refusing port, one to an
    upstream that never answers."""
    ups = {REFUSED: refusing_port, HANGING: hanging_upstream.port}
    config = EdgeConfig(
        routes=tuple(parse_route(f"{h}=https://origin.example.com:{p}") for h, p in ups.items()),
        upstream_tls=client_context(certs / "ca.crt", env={}),
        clock=time.time,
        pins={("origin.example.com", int(p or 0)): "127.0.0.1" for p in ups.values()},
        upstream_timeout=0.5,
        health_interval=0,
    )
    runner = ErrorPageRunner(make_edge(config))
    await runner.setup()
    logger = logging.getLogger("test.edge.errors")
    ctx = server_context(certs / "edge.crt", certs / "edge.key", env={})
    site = TlsSite(runner, "127.0.0.1", 0, ctx, logger)
    await site.start()
    quic = H3Site(runner, "127.0.0.1", 0, certs / "edge.crt", certs / "edge.key", logger, env={})
    await quic.start()
    assert site.server is not None
    yield Edge(site.server.sockets[0].getsockname()[1], quic.port, certs / "ca.crt", tmp_path)
    await quic.stop()
    await site.stop()
    await runner.cleanup()


async def over_h1(edge: Edge, method: str, host: str, path: str, body: bytes) -> Answer:
    trust = client_context(edge.ca, env={})
    async with (
        aiohttp.ClientSession() as session,
        session.request(
            method,
            f"https://127.0.0.1:{edge.tcp}{path}",
            ssl=trust,
            server_hostname=host,
            headers={"Host": host},
            data=io.BytesIO(body) if body else None,
            timeout=aiohttp.ClientTimeout(total=DEADLINE),
        ) as resp,
    ):
        assert resp.version == aiohttp.HttpVersion11
        return Answer(resp.status, resp.headers.copy(), await resp.read())


async def over_h2(edge: Edge, method: str, host: str, path: str, body: bytes) -> Answer:
    curl = shutil.which("curl")
    assert curl is not None, "curl is needed for the HTTP/2 cases"
    heads, got, sent = edge.tmp / "h2-headers", edge.tmp / "h2-body", edge.tmp / "h2-sent"
    args = [curl, "-sS", "--http2", "--max-time", str(DEADLINE), "--cacert", str(edge.ca),
            "--resolve", f"{host}:{edge.tcp}:127.0.0.1", "-X", method, "-D", str(heads),
            "-o", str(got), "-w", "%{http_version}"]  # fmt: skip
    if body:
        sent.write_bytes(body)
        args += ["--data-binary", f"@{sent}", "-H", "Content-Type: application/octet-stream"]
    proc = await asyncio.create_subprocess_exec(
        *args, f"https://{host}:{edge.tcp}{path}", stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    assert out == b"2", f"curl spoke HTTP/{out.decode()}"
    lines = heads.read_bytes().decode("latin-1").split("\r\n")
    headers = fields(lines[1:])
    return Answer(int(lines[0].split()[1]), headers, got.read_bytes())


async def over_h3(edge: Edge, method: str, host: str, path: str, body: bytes) -> Answer:
    config = QuicConfiguration(is_client=True, alpn_protocols=["h3"], server_name=host)
    config.load_verify_locations(str(edge.ca))
    async with connect("127.0.0.1", edge.udp, configuration=config, create_protocol=Client) as c:
        assert isinstance(c, Client)
        # Client.request always names www.example.com: the same steps with this :authority.
        sid = c._quic.get_next_available_stream_id()
        fields = [(":method", method), (":scheme", "https"), (":authority", host), (":path", path)]
        c.pending[sid] = pending = _Pending(c._loop.create_future())
        c.http.send_headers(sid, [(k.encode(), v.encode()) for k, v in fields], not body)
        if body:
            c.http.send_data(sid, body, end_stream=True)
        c.transmit()
        reply: Reply = await asyncio.wait_for(pending.done, DEADLINE)
    return Answer(reply.status, CIMultiDict(reply.headers), reply.body)


CLIENTS = {"1.1": over_h1, "2": over_h2, "3": over_h3}


def fields(lines: list[str]) -> CIMultiDict[str]:
    """The ``name: value`` lines of a response head."""
    found: CIMultiDict[str] = CIMultiDict()
    for line in lines:
        name, sep, value = line.partition(": ")
        if sep:
            found.add(name, value)
    return found


async def over_raw_h1(edge: Edge, data: bytes, *, until_closed: bool = False) -> Answer:
    """Bytes no well-behaved client sends, over TLS; the answer read by its Content-Length
    (and then, with ``until_closed``, to the end of the connection)."""
    trust = client_context(edge.ca, env={})
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", edge.tcp, ssl=trust, server_hostname=REFUSED
    )
    try:
        writer.write(data)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), DEADLINE)
        lines = head.decode("latin-1").split("\r\n")
        headers = fields(lines[1:])
        length = int(headers["Content-Length"])
        body = await asyncio.wait_for(reader.readexactly(length), DEADLINE)
        closed = until_closed and await asyncio.wait_for(reader.read(), DEADLINE) == b""
    finally:
        writer.close()
        with contextlib.suppress(ssl.SSLError, ConnectionError):
            await writer.wait_closed()
    return Answer(int(lines[0].split()[1]), headers, body, closed)


def problem(answer: Answer, status: int, cache_status: str) -> str:
    """Assert ``answer`` is the edge's own problem document for ``status``; its detail."""
    assert answer.status == status
    assert answer.headers["Content-Type"].split(";")[0] == "application/problem+json"
    doc = json.loads(answer.body)
    assert set(doc) == {"type", "title", "status", "detail"}
    assert doc["type"] == "about:blank"  # RFC 9457 §4.2.1: nothing beyond the status code
    assert doc["title"] == HTTPStatus(status).phrase
    assert doc["status"] == status
    assert answer.headers["Via"] == "1.1 edge.edgecdn.net"
    assert answer.headers["Cache-Status"] == cache_status
    assert answer.headers["Cache-Control"] == "no-store"
    return str(doc["detail"])


@pytest.mark.parametrize("version", list(CLIENTS))
async def test_oversized_body_is_a_413_problem(edge: Edge, version: str) -> None:
    """A 2 MiB body gets the edge's 413 problem, not aiohttp's text, before any upstream."""
    answer = await CLIENTS[version](edge, "POST", REFUSED, "/upload", BIG)
    detail = problem(answer, 413, EDGE_ONLY)
    assert "1048576" in detail
    assert answer.headers["X-Cache"] == "BYPASS"


@pytest.mark.parametrize("version", list(CLIENTS))
async def test_upstream_refused_is_a_502_problem(edge: Edge, version: str) -> None:
    """An upstream that refuses the connection gives a 502 problem naming the failure."""
    answer = await CLIENTS[version](edge, "GET", REFUSED, "/", b"")
    detail = problem(answer, 502, TRIED)
    assert detail.startswith("cannot connect to origin.example.com:")
    assert answer.headers["X-Cache"] == "MISS"


@pytest.mark.parametrize("version", list(CLIENTS))
async def test_upstream_timeout_is_a_504_problem(edge: Edge, version: str) -> None:
    """An upstream that never answers gives a 504 problem once the edge's timeout passes."""
    answer = await CLIENTS[version](edge, "GET", HANGING, "/slow", b"")
    detail = problem(answer, 504, TRIED)
    assert detail.endswith("did not answer in time")
    assert answer.headers["X-Cache"] == "MISS"


async def test_malformed_request_line_is_a_400_problem(edge: Edge) -> None:
    """A request line aiohttp's parser rejects gets a 400 problem, and the connection closes."""
    answer = await over_raw_h1(edge, b"NOT A REQUEST\r\n\r\n", until_closed=True)
    detail = problem(answer, 400, EDGE_ONLY)
    assert detail.startswith("Invalid method encountered")
    assert answer.closed


async def test_oversized_header_is_a_431_problem(edge: Edge) -> None:
    """A header field over the parser's 8190 bytes gets 431 (RFC 6585 §5), not a bare 400."""
    big = b"X-Big: " + b"a" * 9000
    head = b"GET / HTTP/1.1\r\nHost: www.example.com\r\n" + big + b"\r\n\r\n"
    answer = await over_raw_h1(edge, head, until_closed=True)
    detail = problem(answer, 431, EDGE_ONLY)
    assert detail == "a header field is longer than 8190 bytes"
    assert answer.closed


async def test_oversized_request_line_is_a_414_problem(edge: Edge) -> None:
    """A request-target over the parser's 8190 bytes gets 414 (RFC 9112 §3)."""
    line = b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n"
    answer = await over_raw_h1(edge, line + b"Host: www.example.com\r\n\r\n")
    detail = problem(answer, 414, EDGE_ONLY)
    assert detail == "the request line is longer than 8190 bytes"


@pytest.mark.parametrize(
    ("head", "status", "detail"),
    [
        (b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n", 400,
         "Duplicate Content-Length"),  # aiohttp's parser refuses it
        (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n", 400,
         "request refused: Transfer-Encoding in an HTTP/1.0 request"),  # framing.py
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n", 501,
         "request refused: unsupported Transfer-Encoding gzip, chunked"),  # framing.py
    ],
    ids=["two-lengths", "chunked-in-1.0", "gzip-coding"],
)  # fmt: skip
async def test_ambiguous_framing_is_a_problem(
    edge: Edge, head: bytes, status: int, detail: str
) -> None:
    """Framing a proxy must not pass on (RFC 9112 §6) gets a problem, nothing forwarded:
    from aiohttp's parser or from the edge's own check, the same shape."""
    answer = await over_raw_h1(edge, head + b"Host: www.example.com\r\n\r\n")
    assert problem(answer, status, EDGE_ONLY).startswith(detail)


async def test_unknown_host_is_a_421_problem(edge: Edge) -> None:
    """A Host the edge has no route for gets a 421 problem naming the host."""
    answer = await over_h1(edge, "GET", "api.example.com", "/", b"")
    detail = problem(answer, 421, EDGE_ONLY)
    assert detail.startswith("this edge has no site for 'api.example.com'")

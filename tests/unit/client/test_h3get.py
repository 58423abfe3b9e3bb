"""h3get, the curl-like HTTP/3 command: output, methods, exit codes, errors in one line.

Against the lab's HTTP/3 layer (services/common/h3server.py) on loopback, the
name pinned with --resolve as curl does; the command runs in a thread while
the server runs on the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp import web

from lab.pki import ensure_bad_certs
from services.client import h3get
from services.common.h3server import H3Site

HOST = "www.example.com"


def make_app() -> web.Application:
    async def page(request: web.Request) -> web.Response:
        return web.Response(text=f"hello {request.method}", headers={"X-Seen": request.method})

    async def echo(request: web.Request) -> web.Response:
        return web.json_response(
            {"got": await request.json(), "type": request.content_type,
             "x": request.headers.get("X-Test", "")}
        )  # fmt: skip

    app = web.Application()
    app.router.add_get("/", page)
    app.router.add_post("/echo", echo)
    return app


@contextlib.asynccontextmanager
async def lab_h3(cert: Path, key: Path) -> AsyncIterator[int]:
    runner = web.AppRunner(make_app())
    await runner.setup()
    site = H3Site(runner, "127.0.0.1", 0, cert, key, logging.getLogger("test.h3get"), env={})
    await site.start()
    try:
        yield site.port
    finally:
        await site.stop(grace=0.1)
        await runner.cleanup()


@pytest.fixture
async def port(certs: Path) -> AsyncIterator[int]:
    """The lab's HTTP/3 layer with the edge's certificate (www.example.com)."""
    async with lab_h3(certs / "edge.crt", certs / "edge.key") as p:
        yield p


@pytest.fixture
def silent() -> Iterator[int]:
    """A UDP port that is open (no ICMP error) but never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]


async def run(certs: Path, port: int, *args: str, path: str = "/") -> tuple[int, bytes, str]:
    """h3get ARGS for https://www.example.com:PORT/PATH; (exit status, stdout, stderr)."""
    out, err = io.BytesIO(), io.StringIO()
    argv = ["--cacert", str(certs / "ca.crt"), "--resolve", f"{HOST}:{port}:127.0.0.1",
            "--connect-timeout", "2", *args, f"https://{HOST}:{port}{path}"]  # fmt: skip
    code = await asyncio.to_thread(h3get.main, argv, out, err)
    return code, out.getvalue(), err.getvalue()


async def test_get_prints_the_body_and_exits_0(certs: Path, port: int) -> None:
    """A GET prints the response body only, and exits 0."""
    assert await run(certs, port) == (0, b"hello GET", "")


async def test_head_prints_the_status_line_and_fields(certs: Path, port: int) -> None:
    """-I sends HEAD and prints 'HTTP/3 200' and the response fields, no body."""
    code, out, _ = await run(certs, port, "-I")
    assert code == 0
    lines = out.decode().split("\r\n")
    assert lines[0] == "HTTP/3 200"
    assert "x-seen: HEAD" in lines
    assert out.endswith(b"\r\n\r\n")


async def test_post_with_data_and_headers(certs: Path, port: int) -> None:
    """--data sends a JSON body as POST with Content-Type application/json; -H adds a field."""
    code, out, _ = await run(certs, port, "--data", '{"n": 1}', "-H", "X-Test: yes", path="/echo")
    assert code == 0
    assert out == b'{"got": {"n": 1}, "type": "application/json", "x": "yes"}'


async def test_verbose_shows_handshake_request_and_response(certs: Path, port: int) -> None:
    """-v writes the QUIC handshake (*), the request (>) and the response fields (<) to
    stderr; stdout keeps the body."""
    code, out, err = await run(certs, port, "-v")
    assert (code, out) == (0, b"hello GET")
    assert "* QUIC to 127.0.0.1 UDP" in err
    assert "TLSv1.3" in err
    assert "> GET / HTTP/3" in err
    assert "< HTTP/3 200" in err


async def test_an_error_status_exits_22_only_with_fail(certs: Path, port: int) -> None:
    """A 404 exits 0 with its body, as curl does; with -f it exits 22, prints no body and
    says why on stderr (curl -f)."""
    code, out, _ = await run(certs, port, path="/missing")
    assert (code, out) == (0, b"404: Not Found")
    code, out, err = await run(certs, port, "-f", path="/missing")
    assert (code, out) == (22, b"")
    assert err == "h3get: the requested URL returned error: 404\n"


async def test_an_untrusted_certificate_exits_60(certs: Path) -> None:
    """A server the lab CA does not vouch for fails at once with exit 60 and one line saying
    the certificate was not trusted."""
    ensure_bad_certs(certs, lambda _line: None)
    bad = certs / "bad"
    async with lab_h3(bad / "unknown-ca.crt", bad / "unknown-ca.key") as p:
        code, out, err = await run(certs, p)
    assert (code, out) == (60, b"")
    assert err.startswith(f"h3get: TLS certificate verification failed for {HOST}")
    assert err.count("\n") == 1


async def test_a_silent_port_is_a_handshake_timeout(certs: Path, silent: int) -> None:
    """No answer to the Initials: exit 28, one line naming the handshake timeout."""
    code, _, err = await run(certs, silent, "--connect-timeout", "0.3")
    assert code == 28
    assert "timed out after 0.3 s" in err
    assert err.count("\n") == 1


async def test_a_name_that_does_not_resolve_exits_6(certs: Path) -> None:
    """A name DNS does not know exits 6 with 'could not resolve host'."""
    out, err = io.BytesIO(), io.StringIO()
    argv = ["--connect-timeout", "1", "https://no-such-host.invalid/"]
    code = await asyncio.to_thread(h3get.main, argv, out, err)
    assert code == 6
    assert err.getvalue().startswith("h3get: could not resolve host no-such-host.invalid")


async def test_keylog_gets_the_quic_secrets(
    certs: Path, port: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With SSLKEYLOGFILE set, the QUIC connection's secrets are appended to it."""
    keylog = tmp_path / "keys.log"
    monkeypatch.setenv("SSLKEYLOGFILE", str(keylog))
    code, _, _ = await run(certs, port)
    assert code == 0
    labels = {line.split()[0] for line in keylog.read_text().splitlines()}
    assert {"CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0"} <= labels


def test_malformed_url_and_data_are_rejected() -> None:
    """An http:// URL exits 3, and --data that is not JSON is a usage error (2)."""
    err = io.StringIO()
    assert h3get.main(["http://www.example.com/"], io.BytesIO(), err) == 3
    assert "https only" in err.getvalue()
    assert h3get.main(["--data", "{nope", "https://www.example.com/"], io.BytesIO(), err) == 2

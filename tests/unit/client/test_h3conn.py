"""HTTP/3 in the browser: the QUIC handshake, streams, failures named, and Alt-Svc.

Against tiny_h3.py (aioquic's asyncio server in a thread, on a kernel-chosen
UDP port, with the session's lab certificates), the recording TLS site of
sites.py announcing h3 with Alt-Svc, and that site's app served over HTTP/3 by
the lab's own layer (services/common/h3server.py).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp import web

from lab.pki import ensure_bad_certs
from services.client.altsvc import Alternative, AltSvcCache, parse
from services.client.exchange import Job, Response
from services.client.h3conn import H3Conn
from services.client.quicdial import QuicConnector, QuicHandshakeError, QuicLink
from services.client.timeline import DnsResult, Fetch
from services.common.h3server import H3Site, advertise_h3
from tests.unit.client.conftest import LoopbackDns
from tests.unit.client.sites import Recorder, browser, open_page, serve
from tests.unit.client.tiny_h3 import TinyH3

Dns = tuple[LoopbackDns, Path, int]
HOST = "www.example.com"
ANSWER = DnsResult(HOST, "127.0.0.1", 0.0, 0.5, "NOERROR", [], ["127.0.0.1"])


class Recording:
    """The browser as a transport sees it (exchange.Exchanges), keeping each outcome."""

    def __init__(self) -> None:
        self.results: dict[str, Response | Exception] = {}

    def begin(self, job: Job) -> None:
        job.began = job.began or time.perf_counter()

    def done(self, job: Job, result: Response | Exception) -> None:
        self.results[job.path] = result


def job(path: str, host: str = HOST) -> Job:
    return Job(Fetch(f"https://{host}{path}", host, time.time()), host, path)


def connector(certs: Path, keylog: Path | None = None) -> QuicConnector:
    numbers = iter(range(1, 1000))
    return QuicConnector(
        str(certs / "ca.crt"), str(keylog) if keylog else None, lambda *_a, **_k: None,
        lambda: next(numbers),
    )  # fmt: skip


@pytest.fixture
def site(certs: Path) -> Iterator[TinyH3]:
    """The test HTTP/3 server with the edge's certificate (www and static.example.com)."""
    with TinyH3(certs / "edge.crt", certs / "edge.key") as s:
        yield s


@pytest.fixture(scope="session")
def bad(certs: Path) -> Path:
    """The lab's bad certificates (lab.pki), under the session's CA."""
    ensure_bad_certs(certs, lambda _line: None)
    return certs / "bad"


@pytest.fixture
def silent() -> Iterator[int]:
    """A UDP port that is open (no ICMP error) but never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]


def open_h3(certs: Path, port: int, first: Job, keylog: Path | None = None) -> QuicLink:
    return connector(certs, keylog).open(first, ANSWER, port, 5.0)


# --- One connection, its streams -------------------------------------------------------


def test_one_get_over_h3_records_the_handshake_and_stream_0(certs: Path, site: TinyH3) -> None:
    """A GET over HTTP/3 goes on QUIC stream 0 and records version 3, TLS 1.3, ALPN h3, the
    handshake as tls_ms with connect_ms 0, and its own send/ttfb/download timings."""
    page = job("/a/x.png")
    link = open_h3(certs, site.port, page)
    browser_ = Recording()
    conn = H3Conn(link, browser_, timeout=5.0)
    conn.fetch([page])
    conn.close()
    result = browser_.results["/a/x.png"]
    assert isinstance(result, Response)
    assert (result.status, result.body) == (200, b"/a/x.png" * 10)
    f = page.fetch
    assert (f.http_version, f.stream_id, f.tls_version, f.alpn) == ("3", 0, "TLSv1.3", "h3")
    assert f.cipher.startswith("TLS_AES_")
    assert f.connect_ms == 0.0
    assert f.tls_ms > 0.0
    assert f.ttfb_ms > 0.0
    assert f.download_ms >= 0.0
    assert (f.connection, f.reused_connection, f.tls_resumed) == (1, False, False)
    assert [(s.path, s.stream_id) for s in site.seen] == [("/a/x.png", 0)]


def test_concurrent_requests_are_streams_0_4_8_on_one_connection(certs: Path, site: TinyH3) -> None:
    """Three requests go out at once on one QUIC connection as streams 0, 4 and 8; the server
    had all three open before answering any."""
    jobs = [job(f"/hold/3/{i}") for i in range(3)]
    link = open_h3(certs, site.port, jobs[0])
    browser_ = Recording()
    conn = H3Conn(link, browser_, timeout=5.0)
    conn.fetch(jobs)
    conn.close()
    assert [j.fetch.stream_id for j in jobs] == [0, 4, 8]
    assert all(isinstance(r, Response) and r.status == 200 for r in browser_.results.values())
    assert len(browser_.results) == 3
    assert site.max_held == 3
    assert site.connections == 1
    assert [j.fetch.reused_connection for j in jobs] == [False, True, True]


def test_a_second_connection_resumes_with_the_session_ticket(certs: Path, site: TinyH3) -> None:
    """The ticket the server sent on the first QUIC connection is offered on the next one to the
    host, and the resumed handshake shows as tls_resumed."""
    quic = connector(certs)
    first, second = job("/a/1"), job("/a/2")
    conn = H3Conn(quic.open(first, ANSWER, site.port, 5.0), Recording(), timeout=5.0)
    conn.fetch([first])  # the ticket arrives after the handshake, with the response
    conn.close()
    conn = H3Conn(quic.open(second, ANSWER, site.port, 5.0), Recording(), timeout=5.0)
    conn.fetch([second])
    conn.close()
    assert (first.fetch.tls_resumed, second.fetch.tls_resumed) == (False, True)
    assert (first.fetch.connection, second.fetch.connection) == (1, 2)


def test_keylog_gets_the_quic_secrets(certs: Path, site: TinyH3, tmp_path: Path) -> None:
    """With a key log, the QUIC handshake's and application's secrets are written in
    NSS key log format under one client random, so a capture can decrypt QUIC."""
    keylog = tmp_path / "client.keylog"
    page = job("/a/k")
    conn = H3Conn(open_h3(certs, site.port, page, keylog), Recording(), timeout=5.0)
    conn.fetch([page])
    conn.close()
    lines = [line.split() for line in keylog.read_text().splitlines()]
    labels = {line[0] for line in lines}
    assert {
        "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
        "SERVER_HANDSHAKE_TRAFFIC_SECRET",
        "CLIENT_TRAFFIC_SECRET_0",
        "SERVER_TRAFFIC_SECRET_0",
    } <= labels
    assert len({line[1] for line in lines}) == 1  # one connection, one client random


def test_a_stream_reset_names_the_h3_error_code(certs: Path, site: TinyH3) -> None:
    """A stream the server resets fails with the HTTP/3 error code by name; the other streams
    on the connection still get their responses."""
    jobs = [job("/reset"), job("/a/ok")]
    browser_ = Recording()
    conn = H3Conn(open_h3(certs, site.port, jobs[0]), browser_, timeout=5.0)
    conn.fetch(jobs)
    conn.close()
    reset = browser_.results["/reset"]
    assert isinstance(reset, RuntimeError)
    assert str(reset) == "the server reset HTTP/3 stream 0 (H3_REQUEST_REJECTED (0x10b))"
    ok = browser_.results["/a/ok"]
    assert isinstance(ok, Response)
    assert ok.status == 200


# --- Handshakes that fail, each named for what it is ------------------------------------


@pytest.mark.parametrize(
    ("kind", "why"),
    [
        ("unknown-ca", "self-signed certificate in certificate chain"),
        ("wrong-host", "doesn't match 'wrong.example.net'"),
        ("expired", "no longer valid"),
    ],
)
def test_an_untrusted_certificate_is_a_tls_verification_failure(
    certs: Path, bad: Path, kind: str, why: str
) -> None:
    """A server whose certificate the lab CA does not vouch for (or for another name) fails the
    QUIC handshake as a TLS certificate verification failure, at once, not as a timeout."""
    with TinyH3(bad / f"{kind}.crt", bad / f"{kind}.key") as s:
        t0 = time.monotonic()
        with pytest.raises(QuicHandshakeError) as caught:
            connector(certs).open(job("/"), ANSWER, s.port, 5.0)
        took = time.monotonic() - t0
    assert caught.value.kind == "tls"
    assert str(caught.value).startswith(f"TLS certificate verification failed for {HOST}")
    assert why in str(caught.value)
    assert took < 2.0


def test_a_udp_port_that_never_answers_times_out(certs: Path, silent: int) -> None:
    """A QUIC handshake to a UDP port that swallows every datagram ends after the timeout given,
    reported as a handshake timeout with no answer."""
    t0 = time.monotonic()
    with pytest.raises(QuicHandshakeError) as caught:
        connector(certs).open(job("/"), ANSWER, silent, 0.3)
    took = time.monotonic() - t0
    assert caught.value.kind == "timeout"
    assert "timed out after 0.3 s" in str(caught.value)
    assert "no answer" in str(caught.value)
    assert 0.3 <= took < 1.5


def test_a_closed_udp_port_is_refused_at_once(certs: Path) -> None:
    """Where nothing listens, the ICMP port unreachable ends the handshake at once, said so."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    with pytest.raises(QuicHandshakeError) as caught:
        connector(certs).open(job("/"), ANSWER, closed, 5.0)
    assert caught.value.kind == "refused"
    assert "ICMP port unreachable" in str(caught.value)


# --- Alt-Svc (RFC 7838) -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('h3=":443"', [Alternative("h3", "", 443)]),
        ('h3=":443"; ma=3600', [Alternative("h3", "", 443, 3600.0)]),
        (
            'h3="alt.example.net:8443";ma=60;persist=1, h2=":443"',
            [Alternative("h3", "alt.example.net", 8443, 60.0), Alternative("h2", "", 443)],
        ),
        (
            'h3-29=":443"; ma="86400", h3=":443"',
            [Alternative("h3-29", "", 443), Alternative("h3", "", 443)],
        ),  # fmt: skip
        ('h%33=":443"', [Alternative("h3", "", 443)]),  # protocol-id is percent-encoded
        ('h3=":443" junk, h3=":x", h3=443, h3=":8443"', [Alternative("h3", "", 8443)]),
        ('h3=":443"; ma=soon', []),
        ("", []),
    ],
)
def test_alt_svc_parse(value: str, expected: list[Alternative]) -> None:
    """Alt-Svc field values parse as RFC 7838 §3 says, malformed alt-values skipped."""
    assert parse(value) == expected


def test_alt_svc_clear_parses_as_none() -> None:
    """``clear`` (case-sensitive) is told apart from an empty list of alternatives."""
    assert parse("clear") is None
    assert parse("CLEAR") == []


def test_alt_svc_cache_remembers_h3_until_max_age() -> None:
    """An h3 alternative is used for new connections to its origin until ma= runs out."""
    cache = AltSvcCache()
    cache.learn((HOST, 443), 'h2=":443", h3=":443"; ma=60', now=1000.0)
    assert cache.lookup((HOST, 443), now=1059.0) == Alternative("h3", "", 443, 60.0)
    assert cache.lookup((HOST, 443), now=1060.0) is None
    assert cache.lookup(("static.example.com", 443), now=1001.0) is None  # per origin


def test_alt_svc_cache_replaces_clears_and_keeps() -> None:
    """A new Alt-Svc replaces what was kept, ``clear`` or one without h3 forgets it, and a
    response with no Alt-Svc leaves it."""
    cache, origin = AltSvcCache(), (HOST, 443)
    cache.learn(origin, 'h3=":443"', now=0.0)
    cache.learn(origin, "", now=1.0)
    assert cache.lookup(origin, now=2.0) == Alternative("h3", "", 443)
    cache.learn(origin, 'h3=":8443"', now=3.0)
    assert cache.lookup(origin, now=4.0) == Alternative("h3", "", 8443)
    cache.learn(origin, "clear", now=5.0)
    assert cache.lookup(origin, now=6.0) is None
    cache.learn(origin, 'h3=":443"', now=7.0)
    cache.learn(origin, 'h2=":443"', now=8.0)
    assert cache.lookup(origin, now=9.0) is None
    cache.learn(origin, 'h3=":443"; ma=0', now=10.0)
    assert cache.lookup(origin, now=10.0) is None


def test_alt_svc_broken_alternative_waits_longer_each_time() -> None:
    """A failed h3 alternative is not tried for five minutes, then ten after a second failure."""
    cache, origin = AltSvcCache(), (HOST, 443)
    cache.learn(origin, 'h3=":443"', now=0.0)
    cache.mark_broken(origin, now=0.0)
    assert cache.lookup(origin, now=299.0) is None
    assert cache.lookup(origin, now=300.0) is not None
    cache.mark_broken(origin, now=300.0)
    assert cache.lookup(origin, now=899.0) is None
    assert cache.lookup(origin, now=900.0) is not None


# --- The browser: --http 3, and auto learning h3 from Alt-Svc ----------------------------


def test_browse_http3_fetches_the_page_and_its_assets_over_quic(
    certs: Path, dns: Dns, site: TinyH3
) -> None:
    """--http 3: the page and its subresources all go over HTTP/3, the subresources as streams
    4 and 8 on the page's connection, and the timeline says so."""
    site.page_port = site.port
    b = browser(certs, dns, 1, "3")  # TCP would go to port 1: none is dialled
    tl = b.open_page(f"https://{HOST}:{site.port}/")
    assert tl.ok, [f.error for f in tl.fetches]
    assert tl.http == "3"
    assert [(f.http_version, f.connection, f.stream_id) for f in tl.fetches] == [
        ("3", 1, 0),
        ("3", 1, 4),
        ("3", 1, 8),
    ]
    assert site.connections == 1


def test_browse_http3_reports_a_silent_port_without_tcp(certs: Path, dns: Dns, silent: int) -> None:
    """--http 3 to a port with no QUIC server fails the fetch with the handshake timeout;
    it does not fall back to TCP."""
    b = browser(certs, dns, 1, "3", timeout=0.3)
    tl = b.open_page(f"https://{HOST}:{silent}/")
    assert not tl.ok
    [page] = tl.fetches
    assert page.error.startswith(f"QUIC handshake with {HOST}")
    assert "timed out" in page.error
    assert page.fallback == ""


async def test_auto_uses_h3_on_the_visit_after_alt_svc(certs: Path, dns: Dns, site: TinyH3) -> None:
    """auto: the first visit goes over h2 and learns Alt-Svc h3; the reload's connections to that
    origin go over HTTP/3, to the UDP port named, with no fallback."""
    site.assets = 0
    recorder = Recorder(assets=0)
    app = recorder.app()
    app.on_response_prepare.append(_announce(f'h3=":{site.port}"; ma=600'))
    async with serve(app, certs) as port:
        b = browser(certs, dns, port, "auto")
        tl = await open_page(b, visits=2, url=f"https://{HOST}:{port}/")
    assert tl.ok, [f.error for f in tl.fetches]
    assert [(f.visit, f.http_version, f.fallback) for f in tl.fetches] == [
        (1, "2", ""),
        (2, "3", ""),
    ]
    assert [s.path for s in site.seen] == ["/"]


async def test_auto_falls_back_to_tcp_when_the_h3_alternative_is_silent(
    certs: Path, dns: Dns, silent: int
) -> None:
    """auto: when the Alt-Svc alternative never answers, the reload waits alt_svc_wait, says why
    on the fetch, and goes over TCP (h2) instead."""
    recorder = Recorder(assets=0)
    app = recorder.app()
    app.on_response_prepare.append(_announce(f'h3=":{silent}"'))
    async with serve(app, certs) as port:
        b = browser(certs, dns, port, "auto")
        b.alt_svc_wait = 0.3
        tl = await open_page(b, visits=2, url=f"https://{HOST}:{port}/")
    assert tl.ok, [f.error for f in tl.fetches]
    first, reload = tl.fetches
    assert (first.http_version, first.fallback) == ("2", "")
    assert reload.http_version == "2"
    assert reload.fallback.startswith(f"HTTP/3 to {HOST}:{silent} (Alt-Svc) failed after")
    assert "timed out after 0.3 s" in reload.fallback


def _announce(value: str):  # type: ignore[no-untyped-def]
    async def add(_request, response) -> None:  # type: ignore[no-untyped-def]
        response.headers["Alt-Svc"] = value

    return add


# --- Against the lab's HTTP/3 layer (services/common/h3server.py) ------------------------


@contextlib.asynccontextmanager
async def lab_h3(app: web.Application, certs: Path) -> AsyncIterator[H3Site]:
    """APP over HTTP/3 by the lab's server layer on a free UDP port, the edge's certificate."""
    site = H3Site(app, "127.0.0.1", 0, certs / "edge.crt", certs / "edge.key",
                  logging.getLogger("test.client.h3"), env={})  # fmt: skip
    await site.start()
    try:
        yield site
    finally:
        await site.stop(grace=0.1)


async def test_http3_against_the_lab_server_sends_assets_as_concurrent_streams(
    certs: Path, dns: Dns
) -> None:
    """--http 3 against the lab's HTTP/3 layer: the page on one QUIC connection, the four assets
    on static.example.com as streams 0, 4, 8, 12 of another, all four in flight at once."""
    recorder = Recorder(assets=4, hold=4)  # the server answers only once all four are open
    app = recorder.app()
    async with lab_h3(app, certs) as h3, serve(app, certs):  # serve: sets the app up (TCP unused)
        b = browser(certs, dns, 1, "3")
        b.quic.route = lambda addr: ("127.0.0.1", h3.port)
        tl = await open_page(b)
    assert tl.ok, [f.error for f in tl.fetches]
    page, *subs = tl.fetches
    assert (page.http_version, page.connection, page.stream_id) == ("3", 1, 0)
    assert {(f.http_version, f.connection) for f in subs} == {("3", 2)}
    assert sorted(f.stream_id or 0 for f in subs) == [0, 4, 8, 12]
    assert {s.version for s in recorder.seen} == {"3.0"}
    assert recorder.max_in_flight == 4


async def test_auto_moves_to_the_lab_h3_server_after_its_alt_svc(certs: Path, dns: Dns) -> None:
    """auto against a site announcing h3 with the lab's advertise_h3: the first visit is h2, the
    reload goes over HTTP/3 to the announced UDP port for both origins, its conditional
    requests answered 304 there."""
    recorder = Recorder(assets=2)
    app = recorder.app()
    async with lab_h3(app, certs) as h3:
        advertise_h3(app, h3.port)
        async with serve(app, certs) as port:
            tl = await open_page(browser(certs, dns, port, "auto"), visits=2)
    assert tl.ok, [f.error for f in tl.fetches]
    assert [(f.visit, f.http_version) for f in tl.fetches] == [(1, "2")] * 3 + [(2, "3")] * 3
    assert [f.status for f in tl.fetches if f.visit == 2] == [304, 304, 304]
    assert all(f.fallback == "" for f in tl.fetches)
    assert [s.version for s in recorder.seen] == ["2.0"] * 3 + ["3.0"] * 3

"""The browse client against an in-process edge and origin on 127.0.0.1, with real TLS.

A fake stub-resolver target (dnslib on a free UDP port) answers every A question
with 127.0.0.1 and counts the questions; the client's dialer sends every
connection to the edge's port, whatever port the page's URLs name.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from dnslib import QTYPE, RR, A, DNSRecord
from dnslib.server import BaseResolver, DNSHandler, DNSServer

from lab.pki import ensure_certs
from lab.scenario.expect import StepOutcome, check
from lab.scenario.spec import find
from services.cdn.app import EdgeConfig
from services.cdn.app import make_app as make_edge
from services.cdn.routing import parse_route
from services.client.browse import Browser, Timeline, main
from services.common.httpserver import JsonAccessLogger
from services.common.tls import client_context, server_context
from services.web.app import make_app as make_origin
from services.web.content import load_site

SAMPLE_CAPTURE = Path(__file__).parents[1] / "report" / "data" / "sample-run" / "capture.pcapng"


class LoopbackDns(BaseResolver):  # type: ignore[misc]
    """Answers every A question with 127.0.0.1 and remembers the names asked."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def resolve(self, request: DNSRecord, handler: DNSHandler) -> DNSRecord:
        reply = request.reply()
        name = str(request.q.qname)
        self.asked.append(name.rstrip("."))
        if request.q.qtype == QTYPE.A:
            reply.add_answer(RR(name, QTYPE.A, rdata=A("127.0.0.1"), ttl=60))
        return reply


class QuietLogger:
    """dnslib's logger interface, printing nothing."""

    def __getattr__(self, name: str) -> object:
        return lambda *args: None


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The lab's CA and server certificates, made once for the module."""
    directory = tmp_path_factory.mktemp("certs")
    ensure_certs(directory, lambda _line: None)
    return directory


@pytest.fixture
def dns(tmp_path: Path) -> Iterator[tuple[LoopbackDns, Path, int]]:
    """The fake DNS server, a resolv.conf naming it, and its port."""
    resolver = LoopbackDns()
    server = DNSServer(resolver, address="127.0.0.1", port=0, logger=QuietLogger())
    server.start_thread()
    conf = tmp_path / "resolv.conf"
    conf.write_text("# test\nnameserver 127.0.0.1\n")
    yield resolver, conf, server.server.server_address[1]
    server.stop()
    server.server.server_close()


@pytest.fixture
async def edge(certs: Path) -> AsyncIterator[TestServer]:
    """The lab's origin behind the lab's edge, www and static routed as in compose.yaml."""
    origin = TestServer(make_origin(load_site()), host="127.0.0.1", port=0)
    await origin.start_server(
        ssl=server_context(certs / "origin.crt", certs / "origin.key", env={}),
        access_log_class=JsonAccessLogger,
    )
    up = f"https://origin.example.com:{origin.port}"
    config = EdgeConfig(
        routes=(parse_route(f"www.example.com={up}"), parse_route(f"static.example.com={up}")),
        upstream_tls=client_context(certs / "ca.crt", env={}),
        clock=time.time,
        pins={("origin.example.com", origin.port or 0): "127.0.0.1"},
        health_interval=0.0,
    )
    server = TestServer(make_edge(config), host="127.0.0.1", port=0)
    await server.start_server(
        ssl=server_context(certs / "edge.crt", certs / "edge.key", env={}),
        access_log_class=JsonAccessLogger,
    )
    yield server
    await server.close()
    await origin.close()


def browser(
    certs: Path, dns: tuple[LoopbackDns, Path, int], edge: TestServer, ca: str = "ca.crt"
) -> Browser:
    """A browser whose lookups go to the fake DNS and whose connections go to the edge."""
    _resolver, conf, port = dns

    def dial(address: tuple[str, int], timeout: float) -> socket.socket:
        return socket.create_connection((address[0], edge.port or 0), timeout)

    return Browser(
        None, emit=False, ca_file=str(certs / ca), resolv_conf=str(conf), dns_port=port, dial=dial
    )


async def open_page(b: Browser, visits: int) -> Timeline:
    """Run the blocking client in a thread while the servers run on the loop."""
    return await asyncio.to_thread(b.open_page, "https://www.example.com/", visits)


async def test_one_visit_is_cold(
    certs: Path, dns: tuple[LoopbackDns, Path, int], edge: TestServer
) -> None:
    """By default one visit: full handshakes, no validators sent, MISS then 200s."""
    tl = await open_page(browser(certs, dns, edge), 1)
    assert tl.ok
    assert tl.visits == 1
    assert len(tl.fetches) > 2
    assert {f.visit for f in tl.fetches} == {1}
    assert all(f.status == 200 and not f.conditional and not f.tls_resumed for f in tl.fetches)
    assert tl.fetches[0].cache == "MISS"
    assert dns[0].asked == ["www.example.com", "static.example.com"]


async def test_reload_resumes_tls_and_gets_304s(
    certs: Path, dns: tuple[LoopbackDns, Path, int], edge: TestServer
) -> None:
    """The second visit resumes each host's TLS session and every resource comes back 304 HIT
    with no body."""
    tl = await open_page(browser(certs, dns, edge), 2)
    first = [f for f in tl.fetches if f.visit == 1]
    second = [f for f in tl.fetches if f.visit == 2]
    assert tl.ok
    assert [f.url for f in first] == [f.url for f in second]
    assert not any(f.tls_resumed for f in first)
    assert all(f.tls_resumed for f in second)
    assert [f.reused_connection for f in second] == [f.reused_connection for f in first]
    assert all(f.status == 304 and f.bytes == 0 and f.cache == "HIT" for f in second)
    assert all(
        "If-None-Match" in f.conditional and "If-Modified-Since" in f.conditional for f in second
    )


async def test_reload_asks_dns_again(
    certs: Path, dns: tuple[LoopbackDns, Path, int], edge: TestServer
) -> None:
    """The client's own DNS cache does not outlive a visit: each visit asks for both names."""
    tl = await open_page(browser(certs, dns, edge), 2)
    assert dns[0].asked == ["www.example.com", "static.example.com"] * 2
    assert [(d.name, d.visit) for d in tl.dns] == [
        ("www.example.com", 1),
        ("static.example.com", 1),
        ("www.example.com", 2),
        ("static.example.com", 2),
    ]


async def test_reload_parses_the_stored_page(
    certs: Path, dns: tuple[LoopbackDns, Path, int], edge: TestServer
) -> None:
    """A 304 for the page has no body, yet the reload still fetches its subresources."""
    tl = await open_page(browser(certs, dns, edge), 2)
    page = next(f for f in tl.fetches if f.visit == 2 and not f.initiator)
    subs = [f for f in tl.fetches if f.visit == 2 and f.initiator]
    assert page.status == 304
    assert len(subs) == len(tl.fetches) // 2 - 1 > 0


async def test_unknown_ca_is_named(
    certs: Path, dns: tuple[LoopbackDns, Path, int], edge: TestServer, tmp_path: Path
) -> None:
    """With a CA file that did not sign the edge, the failure says verification failed."""
    other = tmp_path / "other"
    ensure_certs(other, lambda _line: None)
    b = browser(other, dns, edge)
    tl = await open_page(b, 1)
    assert not tl.ok
    assert "certificate verification failed" in tl.fetches[0].error


def test_visits_must_be_positive(capsys: pytest.CaptureFixture[str]) -> None:
    """--visits 0 is a usage error (exit 2), caught before any network traffic."""
    with pytest.raises(SystemExit) as e:
        main(["--visits", "0"])
    assert e.value.code == 2
    assert "must be 1 or more" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")
def test_warm_expectations_fail_on_a_cold_visit() -> None:
    """browse-warm's resumption and 304 expectations fail on a one-visit cold capture."""
    scenario = find("browse-warm")
    digs = [
        StepOutcome(
            index=i, kind="dig", target="", started=0.0, finished=0.0, ok=True, rcode="NOERROR"
        )
        for i in (1, 2)
    ]
    # The whole capture counts as the browse step's window.
    outcome = StepOutcome(
        index=3, kind="browse", target="", started=0.0, finished=float(2**40), status=200
    )
    checks = check(scenario.expect, [*digs, outcome], SAMPLE_CAPTURE)
    failed = {c.line for c in checks if not c.passed}
    warm = {
        e.line for e in scenario.expect if e.packets and ("psk" in e.packets or "304" in e.packets)
    }
    assert len(warm) == 3
    assert warm <= failed

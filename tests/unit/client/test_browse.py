"""The browse client against an in-process edge and origin on 127.0.0.1, with real TLS.

The edge is the lab's (services/cdn) behind the lab's TLS listener, so it speaks
HTTP/2 or HTTP/1.x as ALPN chooses. A fake stub-resolver target (conftest.py)
answers every A question with 127.0.0.1 and counts the questions; the client's
dialer sends every connection to the edge's port, whatever port the URLs name.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from lab.pki import ensure_certs
from lab.scenario.expect import StepOutcome, check
from lab.scenario.spec import find
from services.cdn.app import EdgeConfig
from services.cdn.app import make_app as make_edge
from services.cdn.routing import parse_route
from services.client.browse import Browser, Fetch, main
from services.common.httpserver import JsonAccessLogger
from services.common.tls import client_context, server_context
from services.web.app import make_app as make_origin
from services.web.content import load_site
from tests.unit.client import sites
from tests.unit.client.conftest import LoopbackDns
from tests.unit.client.sites import open_page

SAMPLE_CAPTURE = Path(__file__).parents[1] / "report" / "data" / "sample-run" / "capture.pcapng"
# What each --http choice speaks to the edge, which offers h2 and http/1.1.
SPOKEN = {"auto": "2", "2": "2", "1.1": "1.1", "1.0": "1.0"}


@pytest.fixture
async def edge(certs: Path) -> AsyncIterator[int]:
    """The lab's origin behind the lab's edge, www and static routed as in compose.yaml;
    yields the edge's port."""
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
    async with sites.serve(make_edge(config), certs) as port:
        yield port
    await origin.close()


def first_per_host(fetches: list[Fetch]) -> list[Fetch]:
    """The first request to each host: the one that opened the host's first connection."""
    firsts: dict[str, Fetch] = {}
    for f in fetches:
        firsts.setdefault(f.host, f)
    return list(firsts.values())


def browser(
    certs: Path,
    dns: tuple[LoopbackDns, Path, int],
    edge: int,
    ca: str = "ca.crt",
    http: str = "auto",
) -> Browser:
    """A browser whose lookups go to the fake DNS and whose connections go to the edge."""
    return sites.browser(certs, dns, edge, http=http, ca=ca)


@pytest.mark.parametrize("http", list(SPOKEN))
async def test_one_visit_is_cold(
    certs: Path, dns: tuple[LoopbackDns, Path, int], edge: int, http: str
) -> None:
    """By default one visit: a full handshake to each host, no validators sent, MISS then 200s,
    in the HTTP version --http asks for."""
    tl = await open_page(browser(certs, dns, edge, http=http), 1)
    assert tl.ok
    assert {f.http_version for f in tl.fetches} == {SPOKEN[http]}
    assert tl.visits == 1
    assert len(tl.fetches) > 2
    assert {f.visit for f in tl.fetches} == {1}
    assert all(f.status == 200 and not f.conditional for f in tl.fetches)
    assert not any(f.tls_resumed for f in first_per_host(tl.fetches))
    assert tl.fetches[0].cache == "MISS"
    assert dns[0].asked == ["www.example.com", "static.example.com"]


@pytest.mark.parametrize("http", list(SPOKEN))
async def test_reload_resumes_tls_and_gets_304s(
    certs: Path, dns: tuple[LoopbackDns, Path, int], edge: int, http: str
) -> None:
    """The second visit resumes each host's TLS session and every resource comes back 304 HIT
    with no body, over every HTTP version."""
    tl = await open_page(browser(certs, dns, edge, http=http), 2)
    first = [f for f in tl.fetches if f.visit == 1]
    second = [f for f in tl.fetches if f.visit == 2]
    assert tl.ok
    assert [f.url for f in first] == [f.url for f in second]
    # Over HTTP/1.x a later connection of the first visit may already resume the
    # session an earlier one got; the first connection to each host cannot.
    assert not any(f.tls_resumed for f in first_per_host(first))
    assert all(f.tls_resumed for f in second)
    assert [f.reused_connection for f in second] == [f.reused_connection for f in first]
    assert all(f.status == 304 and f.bytes == 0 and f.cache == "HIT" for f in second)
    assert all(
        "If-None-Match" in f.conditional and "If-Modified-Since" in f.conditional for f in second
    )
    assert {f.http_version for f in tl.fetches} == {SPOKEN[http]}


async def test_reload_asks_dns_again(
    certs: Path, dns: tuple[LoopbackDns, Path, int], edge: int
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
    certs: Path, dns: tuple[LoopbackDns, Path, int], edge: int
) -> None:
    """A 304 for the page has no body, yet the reload still fetches its subresources."""
    tl = await open_page(browser(certs, dns, edge), 2)
    page = next(f for f in tl.fetches if f.visit == 2 and not f.initiator)
    subs = [f for f in tl.fetches if f.visit == 2 and f.initiator]
    assert page.status == 304
    assert len(subs) == len(tl.fetches) // 2 - 1 > 0


async def test_unknown_ca_is_named(
    certs: Path, dns: tuple[LoopbackDns, Path, int], edge: int, tmp_path: Path
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

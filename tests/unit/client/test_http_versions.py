"""--http: which version the browser speaks, and how each uses its connections.

Against the recording site of sites.py (the lab's TLS listener: h2 or HTTP/1.x
by ALPN, or HTTP/1.1 only when told) and the misbehaving h2 server of rude_h2.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.client.browse import main
from services.client.connect import negotiated
from tests.unit.client.conftest import LoopbackDns
from tests.unit.client.rude_h2 import rude_h2
from tests.unit.client.sites import BIG, Recorder, browser, open_page, serve

Dns = tuple[LoopbackDns, Path, int]
STATIC = "static.example.com"


async def test_auto_negotiates_h2_with_an_h2_server(certs: Path, dns: Dns) -> None:
    """auto offers h2 and http/1.1; a server that picks h2 gets every request over HTTP/2."""
    site = Recorder()
    async with serve(site.app(), certs) as port:
        tl = await open_page(browser(certs, dns, port, "auto"))
    assert tl.ok
    assert {(f.alpn, f.http_version) for f in tl.fetches} == {("h2", "2")}
    assert {s.version for s in site.seen} == {"2.0"}


async def test_auto_falls_back_to_http11_with_an_h1_only_server(certs: Path, dns: Dns) -> None:
    """auto against a server that offers only http/1.1 speaks HTTP/1.1, with no stream ids."""
    site = Recorder()
    async with serve(site.app(), certs, alpn=["http/1.1"]) as port:
        tl = await open_page(browser(certs, dns, port, "auto"))
    assert tl.ok
    assert {(f.alpn, f.http_version, f.stream_id) for f in tl.fetches} == {
        ("http/1.1", "1.1", None)
    }
    assert {s.version for s in site.seen} == {"1.1"}


async def test_h2_sends_a_hosts_subresources_as_concurrent_streams(certs: Path, dns: Dns) -> None:
    """Over h2 a host's subresources share one connection, each on its own odd stream id, and
    the server had all of them in flight at once."""
    site = Recorder(assets=4, hold=4)  # the server answers only once all four are open
    async with serve(site.app(), certs) as port:
        tl = await open_page(browser(certs, dns, port, "2"))
    assert tl.ok
    page, *subs = tl.fetches
    assert (page.connection, page.stream_id, page.reused_connection) == (1, 1, False)
    assert {f.connection for f in subs} == {2}
    assert sorted(f.stream_id or 0 for f in subs) == [1, 3, 5, 7]
    assert [f.reused_connection for f in subs].count(False) == 1  # one paid the handshakes
    assert len({s.peer for s in site.of(STATIC)}) == 1
    assert site.max_in_flight == 4


async def test_h2_acknowledges_data_so_a_large_body_arrives(certs: Path, dns: Dns) -> None:
    """A 1 MiB body, sixteen initial flow-control windows, arrives whole over h2: the client
    hands the window back as it reads (WINDOW_UPDATE), or the server would stall."""
    site = Recorder(assets=1, big=True)
    async with serve(site.app(), certs) as port:
        tl = await open_page(browser(certs, dns, port, "2", timeout=5.0))
    big = next(f for f in tl.fetches if f.url.endswith("big.bin"))
    assert (big.error, big.status, big.bytes) == ("", 200, len(BIG))


async def test_http11_opens_up_to_six_connections_per_host(certs: Path, dns: Dns) -> None:
    """Over HTTP/1.1 ten subresources of a host go out on six keep-alive connections at once,
    never more, each taking the next request when free."""
    site = Recorder(assets=10, hold=6)
    async with serve(site.app(), certs) as port:
        tl = await open_page(browser(certs, dns, port, "1.1"))
    assert tl.ok
    subs = tl.fetches[1:]
    assert len({s.peer for s in site.of(STATIC)}) == 6
    assert len({f.connection for f in subs}) == 6
    assert [f.reused_connection for f in subs].count(True) == 4  # keep-alive
    assert site.max_in_flight == 6
    assert {s.version for s in site.seen} == {"1.1"}


async def test_http10_says_so_and_opens_a_connection_per_request(certs: Path, dns: Dns) -> None:
    """Over HTTP/1.0 the request line says HTTP/1.0 and every request has a new connection."""
    site = Recorder(assets=3)
    async with serve(site.app(), certs) as port:
        tl = await open_page(browser(certs, dns, port, "1.0"))
    assert tl.ok
    assert {s.version for s in site.seen} == {"1.0"}
    assert len({s.peer for s in site.seen}) == len(site.seen) == 4
    assert sorted(f.connection for f in tl.fetches) == [1, 2, 3, 4]
    assert not any(f.reused_connection for f in tl.fetches)


async def test_http2_against_an_h1_only_server_fails_clearly(certs: Path, dns: Dns) -> None:
    """--http 2 offers only h2: a server that does not select it fails the fetch, saying so."""
    site = Recorder()
    async with serve(site.app(), certs, alpn=["http/1.1"]) as port:
        tl = await open_page(browser(certs, dns, port, "2"))
    assert not tl.ok
    assert [f.error for f in tl.fetches] == ["server did not negotiate h2 (ALPN selected nothing)"]
    assert site.seen == []


@pytest.mark.parametrize("http", ["2", "1.1", "1.0"])
async def test_cookies_go_back_over_every_version(certs: Path, dns: Dns, http: str) -> None:
    """The page's Set-Cookie (Domain=example.com) comes back on the subresources' requests and
    on the reload's page request, over each version."""
    site = Recorder(assets=2)
    async with serve(site.app(), certs) as port:
        tl = await open_page(browser(certs, dns, port, http), visits=2)
    assert tl.ok
    assert [s.cookie for s in site.seen] == [""] + ["sid=abc123"] * 5


async def test_h2_reload_revalidates_with_304s(certs: Path, dns: Dns) -> None:
    """Over h2 a reload sends each validator back (if-none-match) and uses its copy on a 304."""
    site = Recorder(assets=3)
    async with serve(site.app(), certs) as port:
        tl = await open_page(browser(certs, dns, port, "2"), visits=2)
    second = [f for f in tl.fetches if f.visit == 2]
    assert tl.ok
    assert [f.status for f in second] == [304] * 4
    assert [s.if_none_match for s in site.seen[4:]] == ['"page"', '"0.png"', '"1.png"', '"2.png"']


async def test_rst_stream_fails_only_that_stream(certs: Path, dns: Dns) -> None:
    """An RST_STREAM from the server fails its own request; the sibling stream succeeds."""
    async with rude_h2(certs) as port:
        tl = await open_page(browser(certs, dns, port, "2"))
    by_path = {f.url.rsplit("/", 1)[1]: f for f in tl.fetches}
    assert by_path["ok.css"].status == 200
    assert by_path["refused.js"].error == "the server reset HTTP/2 stream 5 (REFUSED_STREAM)"
    assert not tl.ok


async def test_goaway_fails_the_streams_it_did_not_process(certs: Path, dns: Dns) -> None:
    """A GOAWAY that processed none of the streams fails the open ones, naming the frame."""
    async with rude_h2(certs) as port:
        tl = await open_page(
            browser(certs, dns, port, "auto"), url="https://www.example.com/goaway"
        )
    assert [f.error for f in tl.fetches] == [
        "the server sent GOAWAY (NO_ERROR, last stream 0) before this stream ended"
    ]


async def test_events_name_the_protocol_and_connection(
    certs: Path, dns: Dns, capsys: pytest.CaptureFixture[str]
) -> None:
    """The TLS event says which HTTP version the connection speaks and its number; each
    request's event says its version, connection and stream."""
    site = Recorder(assets=1)
    async with serve(site.app(), certs) as port:
        b = browser(certs, dns, port, "auto")
        b.emit = True
        await open_page(b)
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    tls = [
        (e["host"], e["http_version"], e["connection"])
        for e in events
        if e["event"] == "tls.established"
    ]
    done = [
        (e["http_version"], e["connection"], e["stream_id"])
        for e in events
        if e["event"] == "http.done"
    ]
    assert tls == [("www.example.com", "2", 1), (STATIC, "2", 2)]
    assert done == [("2", 1, 1), ("2", 2, 1)]


@pytest.mark.parametrize(
    ("choice", "alpn", "speaks"),
    [
        ("auto", "h2", "2"),
        ("auto", "http/1.1", "1.1"),
        ("auto", None, "1.1"),
        ("2", "h2", "2"),
        ("1.1", "http/1.1", "1.1"),
        ("1.0", "http/1.1", "1.0"),
        ("1.0", None, "1.0"),
    ],
)
def test_negotiated_version(choice: str, alpn: str | None, speaks: str) -> None:
    """What ALPN's answer means under each --http choice."""
    assert negotiated(choice, alpn) == speaks


def test_http2_without_h2_is_refused() -> None:
    """--http 2 with http/1.1 selected is an error naming what the server selected."""
    with pytest.raises(RuntimeError, match=r"did not negotiate h2 \(ALPN selected http/1.1\)"):
        negotiated("2", "http/1.1")


def test_unknown_http_choice_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """--http 4 exits 2 before any network traffic, listing the choices."""
    with pytest.raises(SystemExit) as e:
        main(["--http", "4"])
    assert e.value.code == 2
    assert "choose from 'auto', '2', '1.1', '1.0', '3'" in capsys.readouterr().err

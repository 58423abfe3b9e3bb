"""Chromium's NetLog as the lab's timeline, read from a real (trimmed) NetLog.

The fixture is Chromium 150's NetLog of one cold load of https://www.example.com/
in the lab (default profile: client-edge 20 ms, edge-origin 140 ms), cut down
to the event types the reader uses.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.client import netlog
from services.client.chromium import timeline
from services.client.timeline import Fetch

FIXTURE = Path(__file__).parent / "data" / "netlog-browser.json"


@pytest.fixture(scope="module")
def doc() -> dict:
    return json.loads(FIXTURE.read_text())


@pytest.fixture(scope="module")
def fetches(doc: dict) -> dict[str, Fetch]:
    found = netlog.fetches(netlog.NetLog.parse(doc))
    return {f.url.split("?")[0]: f for f in found}


def test_page_request_timed_by_phase(fetches: dict[str, Fetch]) -> None:
    """The page opened a new connection: DNS, TCP, TLS and first byte, as Chromium timed them."""
    page = fetches["https://www.example.com/"]
    assert page.status == 200
    assert page.reused_connection is False
    assert page.dns_ms == 408.0
    assert page.connect_ms == 21.0
    assert page.tls_ms == 32.0
    assert page.ttfb_ms == 552.0
    assert page.total_ms >= page.dns_ms + page.connect_ms + page.tls_ms + page.ttfb_ms


def test_page_connection_facts(fetches: dict[str, Fetch]) -> None:
    """TLS 1.3 with ALPN h2 to the edge's address, on stream 1 of connection 1."""
    page = fetches["https://www.example.com/"]
    assert page.address == "198.51.100.80"
    assert page.tls_version == "TLSv1.3"
    assert page.cipher == "TLS_AES_256_GCM_SHA384"
    assert page.alpn == "h2"
    assert page.http_version == "2"
    assert (page.connection, page.stream_id) == (1, 1)
    assert page.cache == "MISS"


def test_subresources_multiplexed_on_the_page_connection(fetches: dict[str, Fetch]) -> None:
    """static.example.com's CSS, JS and logo ride connection 1 as streams 3, 5, 7: no handshake."""
    streams = {
        u.rsplit("/", 1)[-1].split(".")[0]: (f.connection, f.stream_id, f.reused_connection)
        for u, f in fetches.items()
        if u.startswith("https://static.example.com/") and "font" not in u and not f.error
    }
    assert streams == {"site": (1, 3, True), "app": (1, 5, True), "logo": (1, 7, True)}
    css = fetches["https://static.example.com/css/site.d808de0d.css"]
    assert (css.dns_ms, css.connect_ms, css.tls_ms) == (0.0, 0.0, 0.0)


def test_font_gets_a_connection_of_its_own(fetches: dict[str, Fetch]) -> None:
    """A font is fetched in CORS mode, no credentials: its own socket pool, a new handshake."""
    font = fetches["https://static.example.com/font/weblab-icons.5afca0c2.woff2"]
    assert font.reused_connection is False
    assert font.connection not in (0, 1)
    assert font.tls_ms > 0
    assert font.stream_id == 1


def test_failed_requests_named(fetches: dict[str, Fetch]) -> None:
    """Vendor hosts: ERR_NAME_NOT_RESOLVED; the request cut off by the screenshot: ERR_ABORTED."""
    vendor = fetches["http://clients2.google.com/time/1/current"]
    assert vendor.error == "ERR_NAME_NOT_RESOLVED"
    assert vendor.connection == 0
    globe = fetches["https://static.example.com/img/globe-16.06b9244f.png"]
    assert globe.error.startswith("ERR_ABORTED")


def test_lookups_and_the_browser_dns_cache(doc: dict) -> None:
    """www.example.com is asked of the resolver once (a CNAME), then Chromium's cache answers."""
    found = netlog.lookups(netlog.NetLog.parse(doc), "198.51.100.53")
    www = [d for d in found if d.name == "www.example.com"]
    asked = [d for d in www if not d.cached_by_client]
    assert len(asked) == 1
    assert asked[0].chain == ["www.example.com", "www.example.com.edgecdn.net"]
    assert asked[0].addresses == ["198.51.100.80"]
    assert asked[0].rcode == "NOERROR"
    assert asked[0].ms == 421.0
    cached = [d for d in www if d.cached_by_client]
    assert cached
    assert all(d.ms == 0.0 and d.addresses == ["198.51.100.80"] for d in cached)


def test_vendor_lookups_are_nxdomain(doc: dict) -> None:
    """The lab's com. servers know no google.com: Chromium's lookups of it end in NXDOMAIN."""
    found = netlog.lookups(netlog.NetLog.parse(doc))
    vendor = {d.rcode for d in found if d.name.endswith("google.com") and not d.cached_by_client}
    assert "NXDOMAIN" in vendor
    assert "NOERROR" not in vendor


def test_connection_coalescing_seen(doc: dict) -> None:
    """static.example.com rode www.example.com's HTTP/2 connection (RFC 9113 section 9.1.1)."""
    assert netlog.coalesced(netlog.NetLog.parse(doc)) == [
        {"host": "static.example.com", "onto": "www.example.com"}
    ]


def test_timeline_lists_only_lab_failures(doc: dict) -> None:
    """The step's failed list holds the lab's own failed requests, not the vendor's."""
    tl = timeline(doc, "198.51.100.53")
    assert [f["url"] for f in tl["failed"]] == [
        "https://static.example.com/img/globe-16.06b9244f.png"
    ]
    assert len(tl["fetches"]) > len(tl["failed"])
    assert all(d["server"] == "198.51.100.53" for d in tl["dns"])


def test_unnamed_error_codes_are_kept() -> None:
    """An error code the NetLog's constants do not name is reported as the number."""
    log = netlog.NetLog.parse({"constants": {"netError": {"ERR_FAILED": -2}}, "events": []})
    assert log.error(-2) == "ERR_FAILED"
    assert log.error(-999) == "net_error -999"
    assert log.error(0) == ""


QUIC_FIXTURE = Path(__file__).parent / "data" / "netlog-quic.json"


@pytest.fixture(scope="module")
def quic() -> dict[str, Fetch]:
    found = netlog.fetches(netlog.NetLog.parse(json.loads(QUIC_FIXTURE.read_text())))
    return {f.url: f for f in found}


def test_quic_page_pays_one_handshake(quic: dict[str, Fetch]) -> None:
    """Forced onto QUIC: HTTP/3 on stream 0, no TCP connect, one handshake for transport and TLS."""
    page = quic["https://www.example.com/"]
    assert (page.http_version, page.alpn, page.tls_version) == ("3", "h3", "TLSv1.3")
    assert (page.connection, page.stream_id) == (1, 0)
    assert page.connect_ms == 0.0
    assert page.tls_ms == 41.0
    assert page.address == "198.51.100.80"


def test_quic_streams_of_one_session(quic: dict[str, Fetch]) -> None:
    """Subresources are client bidirectional streams 4, 8, 12 of the same QUIC session."""
    css = quic["https://static.example.com/css/site.d808de0d.css"]
    js = quic["https://static.example.com/js/app.6564a888.js"]
    assert (css.connection, css.stream_id, css.reused_connection) == (1, 4, True)
    assert (js.connection, js.stream_id) == (1, 8)
    assert css.tls_ms == 0.0


def test_quic_coalescing(doc: dict) -> None:
    """static.example.com rode www.example.com's QUIC session as well (RFC 9114 section 3.3)."""
    log = netlog.NetLog.parse(json.loads(QUIC_FIXTURE.read_text()))
    assert netlog.coalesced(log) == [{"host": "static.example.com", "onto": "www.example.com"}]

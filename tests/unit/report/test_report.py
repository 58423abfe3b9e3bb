"""report.html of the sample run: diagram, narration, self-containment."""

import re
from pathlib import Path

import pytest

from lab.report import build_report
from lab.report.packets import read_messages
from lab.report.repeats import Fold, fold_repeats
from lab.report.sequence import phases, sequence_html

from .conftest import SAMPLE, needs_tshark

pytestmark = needs_tshark


@pytest.fixture
def html(run_dir: Path) -> str:
    """The report built from a copy of the sample run."""
    return build_report(run_dir).read_text()


@pytest.mark.usefixtures("fixture_plan")
def test_lifeline_per_host() -> None:
    """Every host that appears in the capture has exactly one lifeline, client first."""
    svg = sequence_html(read_messages(SAMPLE / "capture.pcapng"))
    hosts = re.findall(r'class="lifeline" data-host="([^"]+)"', svg)
    assert hosts == [
        "client",
        "resolver",
        "a.root-servers.net",
        "a.gtld-servers.net",
        "ns1.example.com",
        "ns1.edgecdn-dns.com",
        "edge.edgecdn.net",
    ]


def test_arrows_in_capture_order() -> None:
    """One arrow per message, with data-frame numbers that never go down, each with a tooltip."""
    messages = read_messages(SAMPLE / "capture.pcapng")
    svg = sequence_html(messages)
    frames = [int(f) for f in re.findall(r'<g class="msg [^"]*" data-frame="(\d+)"', svg)]
    assert frames == [m.frame for m in messages]
    assert frames == sorted(frames)
    assert svg.count("<title>frame ") == len(messages)


def test_phases_fold() -> None:
    """Messages group into foldable phases: DNS, handshakes, HTTP, close."""
    ph = phases(read_messages(SAMPLE / "capture.pcapng"))
    assert [p.key for p in ph] == [
        "dns",
        "connect:0",
        "http:0",
        "dns",
        "connect:1",
        "http:1",
        "close",
    ]


def test_narration_cites_the_hierarchy(html: str) -> None:
    """The story names root, TLD and authoritative servers with their frames."""
    text = re.sub(r"<[^>]+>", " ", html)
    assert "The root does not know www.example.com" in text
    assert "(frames 2–3)" in text
    assert "a.gtld-servers.net, a server for com." in text
    assert "ns1.example.com, authoritative for example.com." in text
    assert "glue-less delegation" in text
    assert "ECDHE" in text
    assert "RSA" in text
    assert "keep-alive" in text


def test_narration_says_pipelining_was_never_used(html: str) -> None:
    """Where the articles are out of date: the first kept-alive reuse says that browsers
    never pipelined, once (the sample is HTTP/1.1)."""
    text = re.sub(r"<[^>]+>", " ", html)
    assert text.count("HTTP/1.1 pipelining (RFC 9112") == 1
    assert "server push" not in text  # that note is for HTTP/2 connections


def test_narration_does_not_repeat_itself(html: str) -> None:
    """Keep-alive is explained once; a further request on that connection gets one line."""
    text = re.sub(r"<[^>]+>", " ", html)
    assert text.count("on the connection it already had open to this host") == 1
    assert text.count("GET on the same connection") == 1


def test_no_external_resources(html: str) -> None:
    """No src or href attribute points anywhere: the page is self-contained."""
    assert re.findall(r"""\s(?:src|href)\s*=""", html) == []
    assert "<link" not in html
    assert "@import" not in html
    assert "<svg" in html
    assert "<style>" in html


def test_report_written_in_run_dir(run_dir: Path) -> None:
    """build_report writes report.html into the run folder and returns its path."""
    out = build_report(run_dir)
    assert out == run_dir / "report.html"
    assert out.stat().st_size > 10_000


def test_fold_repeats_on_the_sample() -> None:
    """The sample's three keep-alive revalidations on connection 1 keep the first, fold two."""
    messages = read_messages(SAMPLE / "capture.pcapng")
    rows = fold_repeats(messages)
    folds = [r for r in rows if isinstance(r, Fold)]
    assert [f.summary for f in folds] == [
        "2 more GETs on connection 1, all 200, all HIT, 0.4–0.6 ms"
    ]
    assert folds[0].frames == [57, 59, 61, 63]
    unfolded = [m for r in rows for m in (r.messages if isinstance(r, Fold) else (r,))]
    assert unfolded == messages


def test_folded_messages_keep_their_arrows() -> None:
    """Folding hides nothing from the page: every message still has its data-frame arrow."""
    messages = read_messages(SAMPLE / "capture.pcapng")
    svg = sequence_html(messages, fold_after=0)
    assert '<details class="fold">' in svg
    assert len(re.findall(r'<g class="msg [^"]*" data-frame="\d+"', svg)) == len(messages)
    assert svg.count('<details class="phase" open>') == 3


def test_hosts_are_named_from_the_runs_own_plan() -> None:
    """A second lab's addresses (198.19.0.0/24) and a user's own service are named like
    the default lab's while a report of that run is built, and only then."""
    from lab.report import hosts
    from lab.topology import plan_of

    doc = {"subnet": "198.19.0.0/24", "own_hosts": [{"service": "shop", "role": "your service",
           "ipv4": "198.19.0.200", "dns_name": "shop-origin.example.com"}]}  # fmt: skip
    with hosts.using(plan_of(doc)):
        assert hosts.host_name("198.19.0.80") == "edge.edgecdn.net"
        assert hosts.short_name("198.19.0.200") == "shop"
        assert hosts.address("client") == "198.19.0.100"
        assert hosts.lifeline_order(["198.19.0.80", "198.19.0.100"])[0] == "198.19.0.100"
    assert hosts.host_name("198.19.0.80") == "198.19.0.80"  # outside: the default plan
    assert hosts.host_name("198.51.100.80") == "edge.edgecdn.net"

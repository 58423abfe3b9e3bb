"""Resumed TLS and 304s: detection in tshark rows, and the story of a two-visit run.

The warm-run fixture holds tshark's rows for a real ``browse --visits 2`` against
the in-process edge (see data/warm-run/README.md), so these tests need no tshark.
"""

import json
from typing import Any

import pytest

from lab.report import hosts
from lab.report.match import Section
from lab.report.narrate import narrate
from lab.report.packets import Message, messages_from_rows
from lab.report.sequence import phases
from lab.report.tls_fields import tls_infos
from lab.report.waterfall import waterfall_svg
from lab.topology import plan_of

from .conftest import DATA

WARM = DATA / "warm-run"
CLIENT, EDGE = "198.51.100.100", "198.51.100.80"


def row(frame: int, src: str, dst: str, **fields: list[str]) -> dict[str, list[str]]:
    """A tshark row on TCP stream 0, with dotted field names given as keyword_names."""
    base = {
        "frame.number": [str(frame)],
        "frame.time_epoch": [f"{frame}.0"],
        "ip.src": [src],
        "ip.dst": [dst],
        "tcp.stream": ["0"],
        "tcp.flags.ack": ["1"],
    }
    return base | {k.replace("__", "."): v for k, v in fields.items()}


@pytest.fixture(scope="module")
def timeline() -> dict[str, Any]:
    """The client's timeline of the two-visit run."""
    return json.loads((WARM / "timeline.json").read_text())


@pytest.fixture(scope="module")
def messages() -> list[Message]:
    """The capture's messages of the two-visit run."""
    return messages_from_rows(json.loads((WARM / "rows.json").read_text()))


def _sections(
    messages: list[Message], timeline: dict[str, Any], events: list[dict[str, Any]] | None = None
) -> dict[str, list[Section]]:
    out: dict[str, list[Section]] = {}
    with hosts.using(plan_of(timeline)):  # as build_report does: the run's own (flat) plan
        sections = narrate(messages, timeline, events or [])
    for s in sections:
        out.setdefault(s.title, []).append(s)
    return out


def test_client_hello_offering_a_ticket() -> None:
    """A ClientHello with pre_shared_key identities counts them and says PSK in its label."""
    (ch,) = tls_infos(
        {
            "tls.handshake.type": ["1"],
            "tls.handshake.extensions_server_name": ["www.example.com"],
            "tls.handshake.extensions.psk.identity.identity": ["038cffbd"],
        }
    )
    assert ch.psk_offered == 1
    assert ch.label() == "ClientHello SNI www.example.com + PSK (resume)"


def test_server_hello_accepting_the_ticket() -> None:
    """A ServerHello selecting an identity is a resumption, and no Certificate is in its
    flight."""
    infos = tls_infos(
        {
            "tls.handshake.type": ["2", "8", "20"],
            "tls.handshake.extensions.supported_version": ["0x0304"],
            "tls.handshake.extensions.psk.identity.selected": ["0"],
        }
    )
    assert [t.kind for t in infos] == ["server-hello", "finished"]
    assert infos[0].psk_accepted
    assert infos[0].label().endswith("· PSK accepted")


def test_full_handshake_is_not_resumed() -> None:
    """Without pre_shared_key, hellos neither offer nor accept a PSK."""
    (ch,) = tls_infos({"tls.handshake.type": ["1"]})
    sh, cert, fin = tls_infos({"tls.handshake.type": ["2", "8", "11", "15", "20"]})
    assert ch.psk_offered == 0
    assert not sh.psk_accepted
    assert (cert.kind, fin.kind) == ("certificate", "finished")


def test_new_session_tickets_are_one_arrow() -> None:
    """Two NewSessionTickets in a frame make one message with their count and lifetime."""
    msgs = messages_from_rows(
        [
            row(
                9,
                EDGE,
                CLIENT,
                tls__handshake__type=["4", "4"],
                tls__handshake__session_ticket_lifetime_hint=["7200", "7200"],
            )
        ]
    )
    assert [(m.kind, m.label) for m in msgs] == [
        ("new-session-ticket", "NewSessionTicket ×2 (lifetime 7200 s)")
    ]


def test_late_ticket_does_not_split_a_phase() -> None:
    """A ticket that arrives after the first request stays in the HTTP phase."""
    msgs = messages_from_rows(
        [
            row(1, CLIENT, EDGE, tcp__flags__syn=["1"], tcp__flags__ack=["0"]),
            row(2, CLIENT, EDGE, tls__handshake__type=["1"]),
            row(3, CLIENT, EDGE, http__request__method=["GET"], http__request__uri=["/"]),
            row(4, EDGE, CLIENT, tls__handshake__type=["4"]),
            row(5, EDGE, CLIENT, http__response__code=["304"], http__request_in=["3"]),
        ]
    )
    assert [p.key for p in phases(msgs)] == ["connect:0", "http:0"]


def test_warm_capture_shows_resumption(messages: list[Message]) -> None:
    """Visit 1 has two full handshakes with certificates; visit 2 two resumed ones without."""
    hellos = [m.tls for m in messages if m.kind == "client-hello" and m.tls]
    assert [h.psk_offered for h in hellos] == [0, 0, 1, 1]
    shs = [m.tls for m in messages if m.kind == "server-hello" and m.tls]
    assert [s.psk_accepted for s in shs] == [False, False, True, True]
    assert [m.stream for m in messages if m.kind == "certificate"] == [0, 1]


def test_story_of_the_resumed_handshake(messages: list[Message], timeline: dict[str, Any]) -> None:
    """The reload's handshake is told as a resumption: PSK offered and accepted, no
    certificate, still an ephemeral key share, frames cited."""
    secs = _sections(messages, timeline)
    assert "Visit 2: the same page again, as a reload" in secs
    (full,) = secs["TLS: handshake with www.example.com"]
    (resumed,) = secs["TLS: resumed handshake with www.example.com"]
    text = " ".join(resumed.paragraphs)
    assert "pre_shared_key" in text
    assert "selects that identity" in text
    assert "No Certificate and no CertificateVerify" in text
    assert "forward secrecy" in text
    assert "RFC 8446, section 2.2" in text
    assert "certificate" not in [m.kind for m in messages if m.frame in resumed.frames]
    assert "NewSessionTicket" in " ".join(full.paragraphs)
    assert min(resumed.frames) > max(full.frames)


def test_story_of_the_304(messages: list[Message], timeline: dict[str, Any]) -> None:
    """The reload's page request is told as conditional, answered 304 from the edge's cache
    with headers only."""
    first, again = _sections(messages, timeline)["HTTP: GET https://www.example.com/"]
    assert "conditional" not in " ".join(first.paragraphs)
    text = " ".join(again.paragraphs)
    assert "If-None-Match" in text
    assert "If-Modified-Since" in text
    assert "304 Not Modified" in text
    assert "headers only" in text
    assert "Earlier in this run the same request was a MISS" in text
    assert "The page came back 304, so the client parsed the copy it had kept" in text


def test_log_lines_pair_with_their_visit(messages: list[Message], timeline: dict[str, Any]) -> None:
    """The resolver's and the edge's log lines go to the visit nearest in time."""
    page = [f for f in timeline["fetches"] if f["url"] == "https://www.example.com/"]
    dns = [d for d in timeline["dns"] if d["name"] == "www.example.com"]
    events = [
        {
            "event": "resolver_query",
            "qname": "www.example.com.",
            "time": dns[0]["started"],
            "from_cache": False,
            "trace": [],
            "upstream_queries": 0,
        },
        {
            "event": "resolver_query",
            "qname": "www.example.com.",
            "time": dns[1]["started"],
            "from_cache": True,
        },
        {
            "event": "request",
            "host": "www.example.com",
            "path": "/",
            "cache": "MISS",
            "reason": "not in cache",
            "time": page[0]["started"],
        },
        {
            "event": "request",
            "host": "www.example.com",
            "path": "/",
            "cache": "HIT",
            "reason": "fresh, age 0 s",
            "time": page[1]["started"],
        },
    ]
    secs = _sections(messages, timeline, events)
    assert "(fresh, age 0 s)" in " ".join(secs["HTTP: GET https://www.example.com/"][1].paragraphs)
    assert "in its cache" in " ".join(secs["DNS: www.example.com"][1].paragraphs)
    assert "in its cache" not in " ".join(secs["DNS: www.example.com"][0].paragraphs)


def test_waterfall_marks_resumed_handshakes(timeline: dict[str, Any]) -> None:
    """The waterfall says which connections resumed TLS, in a block of its own per visit."""
    svg = waterfall_svg(timeline)
    visit2 = svg.split("visit 2 ·")[1]
    assert "visit 2 ·" not in svg.split("visit 1 ·")[1].split("</svg>")[0]
    assert visit2.split("</svg>")[0].count(" · resumed") == 2
    assert " · resumed" not in svg.split("visit 2 ·")[0]

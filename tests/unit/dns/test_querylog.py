"""The per-query log: full lines up to a rate, then counts in a summary line."""

import logging

import pytest

from services.dns.server import AuthoritativeServer
from services.dns.zone import ZoneSet, load_zone
from services.dnscore.querylog import QueryLog

from .test_wire_rules import ZONES

CLIENT = ("192.0.2.1", 5353)
# origin.example.com A, ID 0x1234, no flags
QUERY = (
    bytes.fromhex("1234 0000 0001 0000 0000 0000")
    + b"\x06origin\x07example\x03com\x00"
    + bytes.fromhex("0001 0001")
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def events(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "event", "").startswith("dns_query")]


def test_low_rates_log_every_query(caplog: pytest.LogCaptureFixture) -> None:
    """Below the rate every query, wire-cache hits included, gets its own dns_query line."""
    caplog.set_level(logging.INFO, logger="services.dns.server")
    clock = Clock()
    srv = AuthoritativeServer(
        ZoneSet([load_zone(ZONES / "example.com.zone")]), "t", clock=clock, query_log_rate=5
    )
    for _ in range(3):
        assert srv.respond(QUERY, CLIENT, "udp") is not None
    lines = events(caplog)
    assert [r.event for r in lines] == ["dns_query"] * 3  # type: ignore[attr-defined]
    assert [r.wire_cache for r in lines] == [False, True, True]  # type: ignore[attr-defined]
    assert lines[1].qname == "origin.example.com."  # type: ignore[attr-defined]


def test_above_the_rate_queries_are_counted_in_a_summary(caplog: pytest.LogCaptureFixture) -> None:
    """Beyond N lines in a second the rest are counted; the next window writes a summary."""
    caplog.set_level(logging.INFO, logger="services.dns.server")
    clock = Clock()
    srv = AuthoritativeServer(
        ZoneSet([load_zone(ZONES / "example.com.zone")]), "t", clock=clock, query_log_rate=2
    )
    for _ in range(5):
        assert srv.respond(QUERY, CLIENT, "udp") is not None
    assert len(events(caplog)) == 2
    clock.now += 1.5
    srv.respond(QUERY, CLIENT, "udp")
    lines = events(caplog)
    summary = lines[2]
    assert summary.event == "dns_query_summary"  # type: ignore[attr-defined]
    assert summary.not_logged == 3  # type: ignore[attr-defined]
    top = [{"qname": "origin.example.com.", "qtype": "A", "rcode": "NOERROR", "count": 3}]
    assert summary.top == top  # type: ignore[attr-defined]
    assert lines[3].event == "dns_query"  # type: ignore[attr-defined]


def test_flush_writes_nothing_when_nothing_was_held_back(caplog: pytest.LogCaptureFixture) -> None:
    """A summary line appears only when some query went without its own line."""
    caplog.set_level(logging.INFO)
    log = QueryLog(logging.getLogger("t"), "dns_query", 1, Clock())
    log.flush()
    assert log.admit(100.0)
    assert not log.admit(100.1)
    log.skip("k", "a.", "A", "NOERROR")
    log.flush()
    log.flush()
    assert [r.event for r in caplog.records] == ["dns_query_summary"]  # type: ignore[attr-defined]

"""Handshakes and lookups read from a capture, and the round-trip checks judged with them."""

from __future__ import annotations

import json
from pathlib import Path

from lab.scenario import roundtrips
from lab.scenario.expect import StepOutcome, _rtt_checks
from lab.scenario.spec import Expect

HOL = Path(__file__).parents[1] / "report" / "data" / "hol-run" / "capture.pcapng"
SAMPLE = Path(__file__).parents[1] / "report" / "data" / "sample-run" / "capture.pcapng"
SAMPLE_TIMELINE = SAMPLE.with_name("timeline.json")

C, S = "198.18.0.100", "198.51.100.80"
FLAT_CLIENT = "198.51.100.100"  # the client in the flat plan the sample captures were made in


def row(
    t: float,
    src: str,
    sport: int,
    dst: str,
    dport: int,
    syn: str = "0",
    ack: str = "1",
    types: str = "",
) -> list[str]:
    return [f"{t:.6f}", src, str(sport), dst, str(dport), syn, ack, types, "", ""]


def test_parse_times_syn_to_syn_ack_and_client_hello_to_the_servers_finished() -> None:
    """TCP: first SYN to SYN-ACK (a SYN sent again restarts nothing); TLS 1.3: to the Finished."""
    lines = [
        row(10.000, C, 5000, S, 443, syn="1", ack="0"),
        row(11.000, C, 5000, S, 443, syn="1", ack="0"),  # sent again after 1 s
        row(11.020, S, 443, C, 5000, syn="1", ack="1"),
        row(11.021, C, 5000, S, 443, types="1"),
        row(11.043, S, 443, C, 5000, types="2,8,11,15,20"),
        row(11.044, C, 5000, S, 443, types="20"),  # the client's own Finished is not the end
    ]
    (h,) = roundtrips.parse(lines)[(C, 5000, S, 443)]
    assert round(h.ms("connect") or 0, 3) == 1020.0
    assert round(h.ms("tls") or 0, 3) == 22.0


def test_parse_tls12_ends_at_the_servers_second_flight() -> None:
    """Full TLS 1.2: the server's Finished comes one round trip after its first flight."""
    lines = [
        row(1.000, C, 5001, S, 443, types="1"),
        row(1.020, S, 443, C, 5001, types="2,11,12,14"),
        row(1.021, C, 5001, S, 443, types="16,20"),
        row(1.041, S, 443, C, 5001, types="20"),
    ]
    (h,) = roundtrips.parse(lines)[(C, 5001, S, 443)]
    assert h.ms("connect") is None  # the capture began after the SYN
    assert round(h.ms("tls") or 0, 3) == 41.0


def test_a_client_port_used_again_is_a_new_connection() -> None:
    """Two connections on one four-tuple, minutes apart: find() takes the one begun after SINCE."""
    lines = [
        row(100.0, C, 6000, S, 443, syn="1", ack="0"),
        row(100.001, S, 443, C, 6000, syn="1", ack="1"),
        row(200.0, C, 6000, S, 443, syn="1", ack="0"),
        row(200.020, S, 443, C, 6000, syn="1", ack="1"),
    ]
    wire = roundtrips.parse(lines)
    assert len(wire[(C, 6000, S, 443)]) == 2
    first = roundtrips.find(wire, S, 443, 6000)
    later = roundtrips.find(wire, S, 443, 6000, since=150.0)
    assert first is not None
    assert round(first.ms("connect") or 0, 3) == 1.0
    assert later is not None
    assert round(later.ms("connect") or 0, 3) == 20.0
    assert roundtrips.find(wire, S, 8443, 6000) is None


def test_read_a_real_capture_decrypts_the_finished_from_its_embedded_secrets() -> None:
    """The hol-run capture (80 ms added to the edge's 20): both handshakes ~100 ms on the wire."""
    wire = roundtrips.read(HOL, FLAT_CLIENT).handshakes
    h = roundtrips.find(wire, S, 443, 60770)
    assert h is not None
    assert 100.0 <= (h.ms("connect") or 0) <= 105.0
    assert 100.0 <= (h.ms("tls") or 0) <= 110.0
    lan = roundtrips.read(SAMPLE, FLAT_CLIENT).handshakes
    assert len(lan) == 2
    assert all((hs[0].ms("tls") or 99) < 5 for hs in lan.values())


def _outcome(local_port: int, client_ms: float) -> StepOutcome:
    fetch = {
        "url": "https://www.example.com/",
        "host": "www.example.com",
        "address": S,
        "local_port": local_port,
        "connect_ms": client_ms,
        "tls_ms": client_ms,
    }
    return StepOutcome(
        index=1,
        kind="browse",
        target="https://www.example.com/",
        started=1796176464.0,
        detail={"fetches": [fetch], "one_way_ms": {"client": 0.0, "edge": 50.0}},
    )


def _expect() -> Expect:
    return Expect(line=7, step=1, rtts=(("connect", 1.0), ("tls", 1.0)))


def test_rtts_are_judged_on_the_wire_not_by_the_clients_late_clock() -> None:
    """The client says 150 ms (its scheduling); the wire ~101 for a 100 ms round trip: held."""
    wire = roundtrips.read(HOL, FLAT_CLIENT)
    checks = _rtt_checks(_expect(), _outcome(60770, 150.0), wire=wire)
    assert [c.passed for c in checks] == [True, True], checks
    assert "on the wire" in checks[0].found
    assert "150.0 ms as the client measured" in checks[0].found


def test_rtts_fail_on_the_wire_when_the_round_trip_is_not_what_the_profile_says() -> None:
    """For a 20 ms round trip the same capture (80 ms more) fails, whatever the client says."""
    wire = roundtrips.read(HOL, FLAT_CLIENT)
    o = _outcome(60770, 20.5)
    o.detail["one_way_ms"] = {"client": 0.0, "edge": 10.0}
    checks = _rtt_checks(_expect(), o, wire=wire)
    assert [c.passed for c in checks] == [False, False], checks


def test_rtts_fall_back_to_the_clients_figure_without_the_connection_in_the_capture() -> None:
    """No local port (an old timeline) or no capture: the client's own figure is judged."""
    checks = _rtt_checks(_expect(), _outcome(0, 150.0), wire=roundtrips.read(HOL, FLAT_CLIENT))
    assert [c.passed for c in checks] == [False, False]
    assert all("on the wire" not in c.found for c in checks)
    checks = _rtt_checks(_expect(), _outcome(60770, 100.5), wire=roundtrips.Wire({}, None))
    assert [c.passed for c in checks] == [True, True]


def dns_row(t: float, src: str, dst: str, response: str, name: str) -> list[str]:
    return [f"{t:.6f}", src, "53000", dst, "53", "", "", "", response, name]


R = "198.18.0.1"  # the home router, where the client's stub sends its questions


def test_lookup_ms_is_first_question_to_first_answer_for_the_name() -> None:
    """A retry after a lost answer counts from the first question; other names do not count."""
    messages = roundtrips.parse_dns(
        [
            dns_row(5.000, C, R, "0", "www.example.com"),
            dns_row(5.001, C, R, "0", "static.example.com"),
            dns_row(5.018, R, C, "1", "static.example.com"),
            dns_row(6.000, C, R, "0", "WWW.example.com."),  # the stub asks again after 1 s
            dns_row(6.019, R, C, "1", "www.example.com"),
            dns_row(6.100, R, "198.18.2.53", "0", "www.example.com"),  # not the client's
        ],
        C,
    )
    assert len(messages) == 5
    assert round(roundtrips.lookup_ms(messages, "www.example.com", 4.9, 7.0) or 0, 3) == 1019.0
    assert round(roundtrips.lookup_ms(messages, "static.example.com.", 4.9, 7.0) or 0, 3) == 17.0
    # nothing asked for it in the window: a cache in the client's box answered
    assert roundtrips.lookup_ms(messages, "api.example.com", 4.9, 7.0) == 0.0
    assert roundtrips.lookup_ms(messages, "www.example.com", 7.0, 8.0) == 0.0
    unanswered = roundtrips.parse_dns([dns_row(1.0, C, R, "0", "a.example")], C)
    assert roundtrips.lookup_ms(unanswered, "a.example", 0.0, 2.0) is None


def _dns_outcome(ms: float) -> StepOutcome:
    tl = json.loads(SAMPLE_TIMELINE.read_text())
    fetch = dict(tl["fetches"][0], dns_ms=ms)
    return StepOutcome(
        index=1,
        kind="browse",
        target=fetch["url"],
        started=tl["started"],
        finished=tl["finished"],
        detail={
            "fetches": [fetch],
            "dns": tl["dns"],
            "one_way_ms": {"client": 3.0, "resolver": 3.0},
        },
    )


def test_dns_rtts_judge_the_lookup_that_left_the_clients_box() -> None:
    """The sample run's lookup took 13.0 ms on the wire: 1 round trip of 12 ms holds, 0 fails."""
    wire = roundtrips.read(SAMPLE, FLAT_CLIENT)
    e = Expect(line=3, step=1, rtts=(("dns", 1.0),))
    (c,) = _rtt_checks(e, _dns_outcome(40.0), wire=wire)  # the client's clock says 40
    assert c.passed, c
    assert c.found.startswith("13.0 ms on the wire")
    (c,) = _rtt_checks(Expect(line=3, step=1, rtts=(("dns", 0.0),)), _dns_outcome(1.0), wire=wire)
    assert not c.passed, (
        c
    )  # a question did leave the box: the wire says so, whatever the client says


def test_dns_rtts_zero_when_nothing_left_the_box() -> None:
    """A lookup the stub answered: no question on the wire, judged as 0 ms."""
    wire = roundtrips.Wire({}, [])
    (c,) = _rtt_checks(Expect(line=3, step=1, rtts=(("dns", 0.0),)), _dns_outcome(9.0), wire=wire)
    assert c.passed, c
    assert "no question for it left the client's box" in c.found


def test_dns_rtts_time_the_homes_exchange_with_the_resolver() -> None:
    """A CI-like run: the home router's forwarder held the answer 11.9 ms (Python on 2 cores).

    The box's span (35.2 ms) is not the round trip; the home's question to the
    resolver and its answer (20.7 ms) are, for the profile's 18 ms.
    """
    home, router, resolver = "198.18.2.2", "198.18.0.1", "198.18.2.53"
    rows = [
        dns_row(907.7945, C, router, "0", "www.example.com"),
        dns_row(907.7971, home, resolver, "0", "www.example.com"),
        dns_row(907.8178, resolver, home, "1", "www.example.com"),
        dns_row(907.8297, router, C, "1", "www.example.com"),
    ]
    wire = roundtrips.Wire({}, roundtrips.parse_dns(rows, C), roundtrips.parse_dns(rows, home))
    o = _dns_outcome(41.0)
    o.started, o.finished = 907.0, 908.0
    o.detail["dns"] = [{"name": "www.example.com", "started": 907.790, "ms": 41.0}]
    o.detail["one_way_ms"] = {"client": 4.5, "resolver": 4.5}
    (c,) = _rtt_checks(Expect(line=3, step=1, rtts=(("dns", 1.0),)), o, wire=wire)
    assert c.passed, c
    assert c.found.startswith("20.7 ms on the wire")
    (c,) = _rtt_checks(Expect(line=3, step=1, rtts=(("dns", 0.0),)), o, wire=wire)
    assert not c.passed, c  # the box did send a question
    no_upstream = roundtrips.Wire({}, roundtrips.parse_dns(rows, C), [])
    (c,) = _rtt_checks(Expect(line=3, step=1, rtts=(("dns", 1.0),)), o, wire=no_upstream)
    assert not c.passed, c
    assert "no question for it went from the home to the resolver" in c.found

"""lab.scenario.hol: which responses waited for a lost packet that was not theirs.

On a trimmed real run of hol-blocking (tests/unit/report/data/hol-run): the
static.example.com connection of its HTTP/2 step and of its HTTP/3 step, one
packet lost to the client in each, TLS secrets embedded so tshark decrypts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lab.report.hol import hol_section
from lab.scenario import hol
from lab.scenario.expect import StepOutcome, _hol_check
from lab.scenario.faults import _iptables_rules
from lab.scenario.spec import Fault

from ..report.conftest import FLAT, needs_tshark

DATA = Path(__file__).parents[1] / "report" / "data" / "hol-run"
# Recorded before the home network: the client at its flat-plan address, 198.51.100.100.
CLIENT = FLAT.address("client")


def _step(index: int) -> dict[str, Any]:
    steps = json.loads((DATA / "steps.json").read_text())
    return next(s for s in steps if s["index"] == index)


def _analyse(index: int) -> hol.Hol:
    s = _step(index)
    found = hol.analyse(DATA / "capture.pcapng", index, s["fetches"], s["started"], s["finished"],
                        CLIENT)  # fmt: skip
    assert found is not None
    return found


@needs_tshark
def test_http2_every_response_behind_the_lost_segment_waits() -> None:
    """Over TCP the lost segment was one 1,422-byte TLS record, the end of stream 9; the
    eight responses whose records crossed the wire in the 11 ms after it were handed
    over only after its repair, 105 ms after it. The four before it were not held."""
    h = _analyse(2)
    assert h.protocol == "2"
    assert h.host == "static.example.com"
    assert h.lost_bytes == 1422
    assert h.lost_streams == [9]
    assert 100 < h.repair_ms < 110
    assert h.count("stalled") == 8
    assert h.count("unblocked") == 0
    assert h.count("before") == 4
    for r in h.responses:
        if r.verdict == "stalled":
            assert h.lost_at < r.wire < h.repaired_at <= r.app


@needs_tshark
def test_http3_only_the_lost_packets_streams_wait() -> None:
    """Over QUIC the lost packet held streams 52 and 56; the eight responses that crossed
    the wire after it were handed over before the repair, none stalled."""
    h = _analyse(3)
    assert h.protocol == "3"
    assert h.lost_streams == [52, 56]
    assert h.count("stalled") == 0
    assert h.count("unblocked") == 8
    lost = [r for r in h.responses if r.verdict == "lost"]
    assert {r.stream_id for r in lost} == {52, 56}
    assert all(r.app >= h.repaired_at for r in lost)
    for r in h.responses:
        if r.verdict == "unblocked":
            assert h.lost_at < r.wire < r.app < h.repaired_at


@needs_tshark
def test_http3_qpack_blocked_responses_are_named_so() -> None:
    """Six responses that arrived before the loss waited about 60 ms for the server's
    QPACK encoder stream (its bytes crossed the wire after theirs): called qpack, not
    stalled, and the encoder stream's frames are listed."""
    h = _analyse(3)
    assert h.encoder, "the encoder stream's frames were found"
    qpack = [r for r in h.responses if r.verdict == "qpack"]
    assert len(qpack) == 6
    assert all(r.waited_ms > hol.CLOSE_MS for r in qpack)


def test_quic_frames_line_up_by_frame_type() -> None:
    """tshark omits the offset of a frame at offset 0 and lists a stream type only where
    a unidirectional stream starts: the frame types line the lists up."""
    row = ["1", "0.0", "5000", "6,10,10,10", "3,7,11", "", "12,1,1", "0,0,0", "470", "0,2,3"]
    assert list(hol._quic_frames(row)) == [
        (3, 0, 12, False, 0), (7, 0, 1, False, 2), (11, 0, 1, False, 3),
    ]  # fmt: skip
    row = ["2", "0.0", "5000", "2,11,14", "0,7", "4", "992,172", "1,0", "1242", ""]
    assert list(hol._quic_frames(row)) == [(0, 0, 992, True, None), (7, 4, 172, False, None)]


def _hol(**kw: Any) -> hol.Hol:
    return hol.Hol(3, "3", "static.example.com", 10, 100.0, 20, 100.1, 1242, [52], **kw)


@pytest.mark.parametrize(
    ("sid", "wire", "app", "verdict"),
    [
        (52, 100.0, 100.11, "lost"),
        (4, 99.9, 99.905, "before"),
        (8, 100.02, 100.025, "unblocked"),
        (8, 100.02, 100.1, "stalled"),
        (8, 100.09, 100.1, "close"),  # 10 ms before the repair: cannot tell
        (8, 100.12, 100.125, "after"),
    ],
)
def test_verdicts(sid: int, wire: float, app: float, verdict: str) -> None:
    assert hol._verdict(_hol(), sid, wire, app) == verdict


def test_qpack_verdict_needs_an_encoder_frame_just_before_the_handover() -> None:
    h = _hol(encoder=[100.05])
    assert hol._verdict(h, 8, 100.02, 100.055) == "qpack"
    assert hol._verdict(h, 8, 100.02, 100.1) == "stalled"  # 50 ms after the encoder frame


def test_drop_rule_is_on_the_receivers_input_and_fires_once() -> None:
    """The packet-th match is iptables' --packet packet-1 (it counts from 0)."""
    f = Fault("drop", "edge", settings=(("min_bytes", 1000.0), ("packet", 9.0), ("port", 443.0)),
              proto="tcp", to="client")  # fmt: skip
    (rule,) = _iptables_rules(f)
    assert rule[:3] == ["INPUT", "-s", "198.51.100.80"]
    assert rule[rule.index("--sport") + 1] == "443"
    assert rule[rule.index("--length") + 1] == "1000:65535"
    assert rule[rule.index("--every") + 1] == "1000000"
    assert rule[rule.index("--packet") + 1] == "8"


def _outcome(detail: dict[str, Any]) -> StepOutcome:
    return StepOutcome(2, "browse", "https://www.example.com/hol", 0.0, detail=detail)


def test_hol_check_fails_without_a_loss() -> None:
    """No lost packet found (the drop never fired) fails the expectation, whatever the bound."""
    c = _hol_check(5, _outcome({}), "stalled", {"max": 0})
    assert not c.passed
    assert "no lost packet" in c.found


@needs_tshark
def test_hol_check_counts_the_verdict() -> None:
    detail = {"hol": _analyse(2).as_dict()}
    assert _hol_check(5, _outcome(detail), "stalled", {"min": 8}).passed
    c = _hol_check(5, _outcome(detail), "stalled", {"max": 0})
    assert not c.passed
    assert c.found.startswith("8 of 17")


@needs_tshark
def test_report_draws_one_figure_per_step() -> None:
    html = hol_section({"hol": [_analyse(2).as_dict(), _analyse(3).as_dict()]})
    assert html.count('<svg class="hol"') == 2
    assert "8 of 17 responses had crossed the wire after it and still waited" in html
    assert "QPACK" in html
    assert "stream(s) 52, 56" in html
    assert hol_section({}) == ""


def test_drop_after_bytes_counts_per_connection() -> None:
    """after_bytes puts a connbytes match before the counter: only packets of connections
    that have already brought that much from the sender are counted."""
    f = Fault("drop", "edge", settings=(("after_bytes", 9000.0), ("min_bytes", 1000.0),
              ("packet", 1.0), ("port", 443.0)), proto="udp", to="client")  # fmt: skip
    (rule,) = _iptables_rules(f)
    at = rule.index("connbytes")
    assert rule[at + 1 : at + 7] == ["--connbytes", "9000:", "--connbytes-dir", "reply",
                                     "--connbytes-mode", "bytes"]  # fmt: skip
    assert at < rule.index("statistic")
    assert rule[rule.index("--packet") + 1] == "0"


@needs_tshark
@pytest.mark.parametrize(("index", "proto", "nth", "frame"), [(2, "tcp", 6, 19), (3, "udp", 9, 84)])
def test_the_rules_own_choice_is_found_in_the_capture(
    index: int, proto: str, nth: int, frame: int
) -> None:
    """Replaying the drop rule's matches on the capture names the frame it took (the 6th
    TCP and the 9th UDP packet of 1,000 bytes or more of this trimmed run), and the
    analysis starts from that frame, not from whatever else was sent twice."""
    s = _step(index)
    drop = hol.Drop("198.51.100.80", proto, 443, 1000, 0, nth, s["started"])
    capture = DATA / "capture.pcapng"
    assert hol.dropped_frame(capture, drop, s["finished"], "198.51.100.100") == frame
    found = hol.analyse(capture, index, s["fetches"], s["started"], s["finished"],
                        "198.51.100.100", (drop,))  # fmt: skip
    assert found is not None
    assert found.lost_frame == frame
    never = hol.Drop("198.51.100.80", proto, 443, 1000, 10**9, 1, s["started"])
    assert hol.analyse(capture, index, s["fetches"], s["started"], s["finished"],
                       "198.51.100.100", (never,)) is None  # fmt: skip

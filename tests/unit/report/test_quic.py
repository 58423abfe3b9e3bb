"""QUIC in the report: datagrams read from tshark's rows; the handshake and HTTP/3 told."""

from __future__ import annotations

from lab.report.match import Matcher
from lab.report.narrate_quic import narrate_h3, narrate_quic
from lab.report.packets import messages_from_rows
from lab.report.quic_fields import quic_info

CLIENT, EDGE = "198.51.100.100", "198.51.100.80"


def row(frame: int, t: float, src: str, **fields: list[str]) -> dict[str, list[str]]:
    base = {"frame.number": [str(frame)], "frame.time_epoch": [str(t)], "ip.src": [src],
            "ip.dst": [EDGE if src == CLIENT else CLIENT], "udp.stream": ["12"]}  # fmt: skip
    return base | {k.replace("__", "."): v for k, v in fields.items()}


# Frames 428-433 of an http-versions capture (tshark 4.0, secrets embedded).
ROWS = [
    row(428, 10.000, CLIENT, quic__header_form=["1"], quic__long__packet_type=["0"],
        quic__frame_type=["6"], tls__handshake__type=["1"]),
    row(429, 10.040, EDGE, quic__header_form=["1", "1"], quic__long__packet_type=["0", "2"],
        quic__frame_type=["2", "6", "6"], tls__handshake__type=["2", "8"]),
    row(430, 10.042, EDGE, quic__header_form=["1", "0"], quic__long__packet_type=["2"],
        quic__frame_type=["6", "10", "10", "10"], quic__stream__stream_id=["3", "7", "11"],
        quic__stream__fin=["0", "0", "0"], http3__frame_type=["4"]),
    row(431, 10.046, CLIENT, quic__header_form=["1", "1", "0"], quic__long__packet_type=["0", "2"],
        quic__frame_type=["2", "2", "6", "2", "24", "0"]),
    row(432, 10.047, CLIENT, quic__header_form=["0"], quic__frame_type=["2"]),
    row(433, 10.069, CLIENT, quic__header_form=["0"], quic__frame_type=["11"],
        quic__stream__stream_id=["0"], quic__stream__fin=["1"], http3__frame_type=["1"]),
    row(441, 10.092, EDGE, quic__header_form=["0"], quic__frame_type=["10"],
        quic__stream__stream_id=["0"], quic__stream__fin=["0"], http3__frame_type=["1"]),
    row(445, 10.098, EDGE, quic__header_form=["0"], quic__frame_type=["15"],
        quic__stream__stream_id=["0"], quic__stream__fin=["1"]),
]  # fmt: skip
FETCH = {"url": "https://www.example.com/", "host": "www.example.com", "address": EDGE,
         "tls_ms": 47.0, "stream_id": 0, "status": 200, "cache": "HIT",
         "ttfb_ms": 22.4}  # fmt: skip


def test_coalesced_packets_and_frames_named() -> None:
    """The server's first datagram holds an Initial and a Handshake packet, ACK and CRYPTO."""
    info = quic_info(ROWS[1])
    assert info is not None
    assert info.packets == ["Initial", "Handshake"]
    assert info.label() == "QUIC Initial + Handshake: ACK, CRYPTO"


def test_streams_and_http3_frames() -> None:
    """A STREAM frame's id and FIN, and the HTTP/3 frame it carried, are in the label."""
    info = quic_info(ROWS[5])
    assert info is not None
    assert info.streams == [(0, True)]
    assert info.label() == "QUIC 1-RTT: STREAM 0 FIN (HTTP/3 HEADERS)"


def test_ack_only_datagrams_are_quiet() -> None:
    """A datagram of nothing but ACKs draws no arrow."""
    info = quic_info(ROWS[4])
    assert info is not None
    assert info.quiet
    assert [m.frame for m in messages_from_rows(ROWS) if m.proto == "quic"] == [
        428, 429, 430, 431, 433, 441, 445]  # fmt: skip


def test_no_quic_no_info() -> None:
    """A DNS datagram has no QUIC packets."""
    assert quic_info({"udp.stream": ["1"], "dns.id": ["7"]}) is None


def test_handshake_told_with_its_frames() -> None:
    """One round trip: Initial, the server's flight (with 0.5-RTT data), the client's Finished."""
    m = Matcher(messages_from_rows(ROWS), CLIENT)
    sec, conn = narrate_quic(m, FETCH, 0)
    assert conn == 12
    assert sec.frames == [428, 429, 430, 431]
    text = " ".join(sec.paragraphs)
    assert "1,200 bytes" in text
    assert "0.5-RTT" in text
    assert "46.0 ms after its Initial" in text


def test_request_and_response_on_one_stream() -> None:
    """The HTTP/3 request and its response are the frames of QUIC stream 0, FIN included."""
    m = Matcher(messages_from_rows(ROWS), CLIENT)
    sec = narrate_h3(m, FETCH, 12)
    assert sec.frames == [433, 441, 445]
    assert "ending with FIN in frame 445" in " ".join(sec.paragraphs)


def test_no_initial_says_so() -> None:
    """Without the client's Initial in the capture the section says what is missing."""
    m = Matcher(messages_from_rows(ROWS[1:3] + ROWS[4:]), CLIENT)  # no client Initial at all
    sec, conn = narrate_quic(m, FETCH, 0)
    assert conn is None
    assert "no QUIC Initial" in sec.paragraphs[0]

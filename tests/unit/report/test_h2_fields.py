"""HTTP/2 frames read from tshark rows, and the messages the report draws from them."""

from __future__ import annotations

from lab.report.h2_fields import h2_frames, has_preface
from lab.report.packets import messages_from_rows

CLIENT, EDGE = "198.51.100.100", "198.51.100.80"

# tshark 4.0 rows (trimmed) of a real capture: curl --http2 asking the edge for 3 URLs.
PREFACE = {
    "frame.number": ["13"], "ip.src": [CLIENT], "ip.dst": [EDGE], "tcp.stream": ["2"],
    "http2.magic": ["PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"], "http2.type": ["4", "8"],
    "http2.streamid": ["0", "0"], "http2.length": ["18", "4"],
    "http2.window_update.window_size_increment": ["33488897"], "http2.flags.ack.settings": ["0"],
}  # fmt: skip
REQUEST = {
    "frame.number": ["14"], "ip.src": [CLIENT], "ip.dst": [EDGE], "tcp.stream": ["2"],
    "http2.type": ["1"], "http2.streamid": ["1"], "http2.length": ["32"],
    "http2.header.count": ["4"],
    "http2.header.name": [":method", ":path", ":scheme", ":authority"],
    "http2.header.value": ["GET", "/", "https", "www.example.com"],
    "http2.header.repr": ["Indexed Header Field", "Indexed Header Field", "Indexed Header Field",
                          "Literal Header Field with Incremental Indexing - Indexed Name"],
    "http2.flags.end_stream": ["1"],
}  # fmt: skip
MIXED = {  # one TLS record: DATA for stream 3, HEADERS for 5, then two DATA frames
    "frame.number": ["63"], "ip.src": [EDGE], "ip.dst": [CLIENT], "tcp.stream": ["2"],
    "http2.type": ["0", "1", "0", "0"], "http2.streamid": ["3", "5", "5", "5"],
    "http2.length": ["100", "40", "150", "0"], "http2.flags.end_stream": ["1", "0", "0", "1"],
    "http2.header.count": ["2"], "http2.header.name": [":status", "x-cache"],
    "http2.header.value": ["404", "MISS"], "http2.header.repr": ["Indexed Header Field", "x"],
}  # fmt: skip


def test_frames_of_one_packet_in_order() -> None:
    """Types, streams, END_STREAM flags and header blocks line up frame by frame."""
    frames = h2_frames(MIXED)
    assert [(f.name, f.stream_id, f.end_stream) for f in frames] == [
        ("DATA", 3, True), ("HEADERS", 5, False), ("DATA", 5, False), ("DATA", 5, True),
    ]  # fmt: skip
    assert frames[1].headers == [(":status", "404"), ("x-cache", "MISS")]


def test_preface_settings_and_window_update() -> None:
    """The client's first packet: preface, SETTINGS and a connection-level WINDOW_UPDATE."""
    assert has_preface(PREFACE)
    frames = h2_frames(PREFACE)
    assert [f.label() for f in frames] == ["SETTINGS", "WINDOW_UPDATE +33488897 (connection)"]


def test_hpack_counts() -> None:
    """A request's HEADERS: its wire size, the plain size (RFC 7541 §4.1) and indexed fields."""
    (f,) = h2_frames(REQUEST)
    assert f.length == 32
    assert f.plain_size == sum(len(k) + len(v) + 32 for k, v in f.headers)
    assert f.indexed == 3


def test_messages_pair_h2_requests_and_responses_by_stream() -> None:
    """A response's request is the HEADERS of the same stream on the same connection."""
    rows = [PREFACE, REQUEST, {**REQUEST, "frame.number": ["15"], "http2.streamid": ["5"]}, MIXED]
    msgs = messages_from_rows(rows)
    kinds = [(m.proto, m.kind) for m in msgs]
    assert kinds == [
        ("http2", "preface"), ("http2", "settings"), ("http2", "window_update"),
        ("http", "request"), ("http", "request"), ("http", "response"), ("http2", "data"),
    ]  # fmt: skip
    response = msgs[5]
    assert response.http is not None
    assert response.http.request_in == 15  # stream 5's request, not stream 1's
    assert response.http.version == "HTTP/2"
    assert response.label == "HEADERS s5 · 404 · X-Cache MISS"
    assert msgs[6].label == "DATA s3,5 (3 frames, 250 B) END_STREAM"

"""QUIC and HTTP/3 in tshark's rows: which packets a datagram held and what they carried.

One UDP datagram may coalesce several QUIC packets (RFC 9000 section 12.2):
an Initial and a Handshake, say, in the server's first flight. tshark lists
each packet's header form (1 = long header, with a type; 0 = short header,
the 1-RTT packets) and every frame of every packet, decrypted with the
run's secrets. tshark 4.0 (Debian bookworm) names HTTP/3 frames but does not
decode their QPACK-compressed fields; Wireshark 4.2 and later do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

Row = Mapping[str, Sequence[str]]

FIELDS = (
    "udp.stream",
    "quic.header_form",
    "quic.long.packet_type",
    "quic.frame_type",
    "quic.stream.stream_id",
    "quic.stream.fin",
    "quic.scid",
    "quic.dcid",
    "http3.frame_type",
)
LONG_TYPES = {0: "Initial", 1: "0-RTT", 2: "Handshake", 3: "Retry"}  # RFC 9000 17.2
FRAME_NAMES = {  # RFC 9000 section 19 (8-15 are STREAM with its OFF/LEN/FIN bits)
    0: "PADDING", 1: "PING", 2: "ACK", 3: "ACK", 4: "RESET_STREAM", 5: "STOP_SENDING",
    6: "CRYPTO", 7: "NEW_TOKEN", 16: "MAX_DATA", 17: "MAX_STREAM_DATA", 18: "MAX_STREAMS",
    19: "MAX_STREAMS", 20: "DATA_BLOCKED", 21: "STREAM_DATA_BLOCKED", 22: "STREAMS_BLOCKED",
    23: "STREAMS_BLOCKED", 24: "NEW_CONNECTION_ID", 25: "RETIRE_CONNECTION_ID",
    26: "PATH_CHALLENGE", 27: "PATH_RESPONSE", 28: "CONNECTION_CLOSE", 29: "CONNECTION_CLOSE",
    30: "HANDSHAKE_DONE",
}  # fmt: skip
H3_NAMES = {0: "DATA", 1: "HEADERS", 3: "CANCEL_PUSH", 4: "SETTINGS", 5: "PUSH_PROMISE",
            7: "GOAWAY", 13: "MAX_PUSH_ID"}  # RFC 9114 section 7.2  # fmt: skip
QUIET = {"ACK", "PADDING", "PING"}  # frames that alone make a datagram not worth an arrow


def _ints(row: Row, name: str) -> list[int]:
    out = []
    for v in row.get(name) or []:
        try:
            out.append(int(v, 0))
        except ValueError:
            continue
    return out


@dataclass
class QuicInfo:
    conn: int  # tshark's udp.stream: one per client address and port
    packets: list[str]  # "Initial", "Handshake", "1-RTT", ... in datagram order
    frames: list[str]  # frame names, all packets together
    streams: list[tuple[int, bool]] = field(default_factory=list)  # (stream id, FIN)
    h3: list[str] = field(default_factory=list)  # HTTP/3 frame names

    @property
    def quiet(self) -> bool:
        """Only acknowledgements and padding: no data, no handshake."""
        return all(f in QUIET for f in self.frames)

    def label(self) -> str:
        kinds = " + ".join(dict.fromkeys(self.packets))
        what = [f for f in dict.fromkeys(self.frames) if f not in ("PADDING", "STREAM")]
        for sid, fin in self.streams:
            what.append(f"STREAM {sid}{' FIN' if fin else ''}")
        h3 = f" (HTTP/3 {', '.join(dict.fromkeys(self.h3))})" if self.h3 else ""
        return f"QUIC {kinds}: {', '.join(what) or 'PADDING'}{h3}"


def quic_info(row: Row) -> QuicInfo | None:
    """The QUIC packets of one datagram, or None when it holds none."""
    forms = _ints(row, "quic.header_form")
    if not forms:
        return None
    long_types = iter(_ints(row, "quic.long.packet_type"))
    packets = [LONG_TYPES.get(next(long_types, -1), "?") if f else "1-RTT" for f in forms]
    frames = [
        "STREAM" if 8 <= t <= 15 else FRAME_NAMES.get(t, f"0x{t:x}")
        for t in _ints(row, "quic.frame_type")
    ]
    fins = [bool(x) for x in _ints(row, "quic.stream.fin")]
    ids = _ints(row, "quic.stream.stream_id")
    streams = [(sid, fins[i] if i < len(fins) else False) for i, sid in enumerate(ids)]
    h3 = [H3_NAMES.get(t, f"0x{t:x}") for t in _ints(row, "http3.frame_type")]
    conn = _ints(row, "udp.stream")
    return QuicInfo(conn[0] if conn else -1, packets, frames, streams, h3)

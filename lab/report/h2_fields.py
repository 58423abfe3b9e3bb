"""HTTP/2 frames of one captured packet, read from tshark's http2 fields.

One TLS record can carry several HTTP/2 frames (HEADERS of three streams, a
SETTINGS ACK and a WINDOW_UPDATE), and tshark lists each field once per
frame in frame order, so the lists are walked together: ``http2.type`` and
``http2.streamid`` have one entry per frame, ``http2.length`` too,
``http2.flags.end_stream`` one per DATA or HEADERS frame, and the decoded
fields of each HEADERS block come ``http2.header.count`` at a time
(RFC 9113 §6 for the frame types, RFC 7541 for the header representations).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

Row = Mapping[str, Sequence[str]]

FIELDS = (
    "http2.magic",
    "http2.type",
    "http2.streamid",
    "http2.length",
    "http2.flags.end_stream",
    "http2.flags.ack.settings",
    "http2.header.count",
    "http2.header.name",
    "http2.header.value",
    "http2.header.repr",
    "http2.window_update.window_size_increment",
    "http2.goaway.error",
    "http2.rst_stream.error",
)

TYPES = {0: "DATA", 1: "HEADERS", 2: "PRIORITY", 3: "RST_STREAM", 4: "SETTINGS",
         5: "PUSH_PROMISE", 6: "PING", 7: "GOAWAY", 8: "WINDOW_UPDATE",
         9: "CONTINUATION"}  # fmt: skip
# RFC 9113 §7
ERRORS = {0: "NO_ERROR", 1: "PROTOCOL_ERROR", 2: "INTERNAL_ERROR", 3: "FLOW_CONTROL_ERROR",
          4: "SETTINGS_TIMEOUT", 5: "STREAM_CLOSED", 6: "FRAME_SIZE_ERROR", 7: "REFUSED_STREAM",
          8: "CANCEL", 9: "COMPRESSION_ERROR", 10: "CONNECT_ERROR", 11: "ENHANCE_YOUR_CALM",
          12: "INADEQUATE_SECURITY", 13: "HTTP_1_1_REQUIRED"}  # fmt: skip


@dataclass
class H2Frame:
    type: int
    stream_id: int
    length: int
    end_stream: bool = False
    ack: bool = False
    headers: list[tuple[str, str]] = field(default_factory=list)
    indexed: int = 0  # header fields sent as a dynamic or static table index (RFC 7541 §6.1)
    increment: int = 0  # WINDOW_UPDATE
    error: int | None = None  # GOAWAY, RST_STREAM

    @property
    def name(self) -> str:
        return TYPES.get(self.type, f"type {self.type}")

    def pseudo(self, name: str) -> str:
        return next((v for k, v in self.headers if k == name), "")

    @property
    def plain_size(self) -> int:
        """The fields' size without HPACK: name + value + 32 each (RFC 7541 §4.1)."""
        return sum(len(k) + len(v) + 32 for k, v in self.headers)

    def label(self) -> str:
        """A short arrow label for the frames that are not requests or responses."""
        if self.type == 4:
            return "SETTINGS ACK" if self.ack else "SETTINGS"
        if self.type == 8:
            where = "connection" if self.stream_id == 0 else f"stream {self.stream_id}"
            return f"WINDOW_UPDATE +{self.increment} ({where})"
        if self.type in (3, 7):
            code = ERRORS.get(self.error or 0, str(self.error))
            return f"{self.name} {code}" + (f" stream {self.stream_id}" if self.type == 3 else "")
        return f"{self.name} stream {self.stream_id}"


def _ints(row: Row, name: str) -> list[int]:
    out = []
    for v in row.get(name) or []:
        try:
            out.append(int(v, 0))
        except ValueError:
            out.append(0)
    return out


def h2_frames(row: Row) -> list[H2Frame]:
    """The HTTP/2 frames in one packet, in order, with their decoded header blocks."""
    types, sids, lengths = (
        _ints(row, "http2.type"),
        _ints(row, "http2.streamid"),
        _ints(row, "http2.length"),
    )
    ends = iter(_ints(row, "http2.flags.end_stream"))
    acks = iter(_ints(row, "http2.flags.ack.settings"))
    counts = iter(_ints(row, "http2.header.count"))
    names = list(row.get("http2.header.name") or [])
    values = list(row.get("http2.header.value") or [])
    reprs = list(row.get("http2.header.repr") or [])
    increments = iter(_ints(row, "http2.window_update.window_size_increment"))
    goaways = iter(_ints(row, "http2.goaway.error"))
    resets = iter(_ints(row, "http2.rst_stream.error"))
    out: list[H2Frame] = []
    pos = 0
    for i, kind in enumerate(types):
        frame = H2Frame(
            kind, sids[i] if i < len(sids) else 0, lengths[i] if i < len(lengths) else 0
        )
        if kind in (0, 1):
            frame.end_stream = bool(next(ends, 0))
        if kind == 1:
            n = next(counts, 0)
            frame.headers = list(zip(names[pos : pos + n], values[pos : pos + n], strict=False))
            frame.indexed = sum(
                1 for r in reprs[pos : pos + n] if r.startswith("Indexed Header Field")
            )
            pos += n
        elif kind == 4:
            frame.ack = bool(next(acks, 0))
        elif kind == 8:
            frame.increment = next(increments, 0)
        elif kind == 7:
            frame.error = next(goaways, 0)
        elif kind == 3:
            frame.error = next(resets, 0)
        out.append(frame)
    return out


def has_preface(row: Row) -> bool:
    """The client's connection preface (RFC 9113 §3.4) is in this packet."""
    return bool(row.get("http2.magic"))

"""One copy of a packet in hops.pcapng, from tshark's fields: each layer's header.

``copy_of`` turns one tshark row (field -> values, as lab/report/packets.py's
``tshark_rows`` gives them) into the Ethernet, IP, TCP, TLS and HTTP fields that
lab/report/encapsulation.py compares hop by hop. The TCP flags follow RFC 9293
§3.1, the TLS record types RFC 8446 §5.1, the HTTP/2 frame types RFC 9113 §6.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

Row = Mapping[str, Sequence[str]]

FIELDS = (
    "frame.number", "frame.interface_name", "frame.time_epoch", "frame.len",
    "eth.src", "eth.dst", "arp.src.hw_mac", "arp.src.proto_ipv4",
    "ip.src", "ip.dst", "ip.ttl", "ip.id", "ip.len", "ip.hdr_len", "ip.checksum",
    "tcp.srcport", "tcp.dstport", "tcp.seq_raw", "tcp.ack_raw", "tcp.flags", "tcp.hdr_len",
    "tcp.len", "tcp.checksum", "tls.record.content_type", "tls.record.length",
    "tls.handshake.type", "http2.magic", "http2.type", "http2.length", "http2.streamid",
    "http2.headers.method", "http2.headers.authority", "http2.headers.path",
    "http2.headers.status", "http.request.method", "http.host", "http.request.uri",
    "http.response.code",
)  # fmt: skip

TCP_FLAGS = ((0x02, "SYN"), (0x10, "ACK"), (0x08, "PSH"), (0x01, "FIN"), (0x04, "RST"),
             (0x20, "URG"))  # fmt: skip
TLS_TYPES = {20: "change_cipher_spec", 21: "alert", 22: "handshake", 23: "application_data"}
H2_TYPES = {0: "DATA", 1: "HEADERS", 4: "SETTINGS", 6: "PING", 7: "GOAWAY", 8: "WINDOW_UPDATE"}


def one(row: Row, name: str) -> str:
    """The first value of NAME in ROW, "" when tshark gave none."""
    values = row.get(name) or [""]
    return values[0]


def _all(row: Row, name: str) -> list[str]:
    return list(row.get(name) or [])


def _int(text: str, default: int = 0) -> int:
    try:
        return int(text, 0)
    except ValueError:
        return default


@dataclass(frozen=True)
class Copy:
    """One copy of the packet, as it crossed one network."""

    frame: int  # in hops.pcapng
    network: str
    time: float
    frame_len: int
    eth_src: str
    eth_dst: str
    ip_src: str
    ip_dst: str
    ttl: int
    ip_id: str
    ip_len: int
    ip_hdr: int
    ip_checksum: str
    sport: int
    dport: int
    seq: int
    ack: int
    flags: str
    tcp_hdr: int
    tcp_len: int
    tcp_checksum: str
    tls: tuple[tuple[str, int], ...]  # each record: (type, length)
    h2: tuple[tuple[str, int], ...]  # each HTTP/2 frame: (name, bytes with its 9-byte header)
    http: tuple[str, str, str] | None  # method, authority, path
    status: str  # an HTTP response's status, "" if none
    hello: bool  # a TLS ClientHello
    read_from: int = 0  # the frame whose TLS/HTTP fields these are, when not this one's

    @property
    def key(self) -> tuple[str, int, int, int]:
        return (self.ip_id, self.seq, self.ack, self.ip_len)


def copy_of(row: Row) -> Copy | None:
    """The Copy of one tshark row; None for anything but TCP over IPv4."""
    if not one(row, "ip.src") or not one(row, "tcp.srcport"):
        return None
    flags = _int(one(row, "tcp.flags"))
    h2 = [
        (H2_TYPES.get(_int(t), f"type {t}"), 9 + _int(n))
        for t, n in zip(_all(row, "http2.type"), _all(row, "http2.length"), strict=False)
    ]
    if one(row, "http2.magic"):
        h2.insert(0, ("connection preface", 24))  # RFC 9113 §3.4
    method = one(row, "http2.headers.method") or one(row, "http.request.method")
    http = None
    if method:
        http = (
            method,
            one(row, "http2.headers.authority") or one(row, "http.host"),
            one(row, "http2.headers.path") or one(row, "http.request.uri"),
        )
    types = _all(row, "tls.record.content_type")
    return Copy(
        frame=_int(one(row, "frame.number")),
        network=one(row, "frame.interface_name"),
        time=float(one(row, "frame.time_epoch") or 0),
        frame_len=_int(one(row, "frame.len")),
        eth_src=one(row, "eth.src"),
        eth_dst=one(row, "eth.dst"),
        ip_src=one(row, "ip.src"),
        ip_dst=one(row, "ip.dst"),
        ttl=_int(one(row, "ip.ttl")),
        ip_id=one(row, "ip.id"),
        ip_len=_int(one(row, "ip.len")),
        ip_hdr=_int(one(row, "ip.hdr_len"), 20),
        ip_checksum=one(row, "ip.checksum"),
        sport=_int(one(row, "tcp.srcport")),
        dport=_int(one(row, "tcp.dstport")),
        seq=_int(one(row, "tcp.seq_raw")),
        ack=_int(one(row, "tcp.ack_raw")),
        flags=" ".join(name for bit, name in TCP_FLAGS if flags & bit),
        tcp_hdr=_int(one(row, "tcp.hdr_len"), 20),
        tcp_len=_int(one(row, "tcp.len")),
        tcp_checksum=one(row, "tcp.checksum"),
        tls=tuple(
            (TLS_TYPES.get(_int(t), f"type {t}"), _int(n))
            for t, n in zip(types, _all(row, "tls.record.length"), strict=False)
        ),
        h2=tuple(h2),
        http=http,
        status=one(row, "http2.headers.status") or one(row, "http.response.code"),
        hello="1" in _all(row, "tls.handshake.type"),
    )

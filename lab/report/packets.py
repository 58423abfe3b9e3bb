"""Read the messages of a capture: DNS, TCP control segments, TLS handshake, HTTP/1.x and /2.

tshark does the protocol work (reassembly, TLS decryption with the secrets
embedded in the file); this module asks it for a fixed list of fields as
JSON and turns each frame into zero or more typed messages. The parsing of
tshark's rows is a pure function, so tests can feed it rows directly.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lab.report.dns_fields import DnsInfo, dns_info
from lab.report.h2_fields import FIELDS as H2_FIELDS
from lab.report.h2_fields import H2Frame, h2_frames, has_preface
from lab.report.quic_fields import FIELDS as QUIC_FIELDS
from lab.report.quic_fields import QuicInfo, quic_info
from lab.report.tls_fields import TlsInfo, tls_infos

Row = Mapping[str, Sequence[str]]

FIELDS = (
    "frame.number",
    "frame.time_epoch",
    "ip.src",
    "ip.dst",
    "tcp.stream",
    "tcp.srcport",
    "tcp.dstport",
    "tcp.len",
    "tcp.flags.syn",
    "tcp.flags.ack",
    "tcp.flags.fin",
    "tcp.flags.reset",
    "tcp.analysis.retransmission",
    "tcp.analysis.fast_retransmission",
    "udp.srcport",
    "udp.dstport",
    "dns.id",
    "dns.flags.response",
    "dns.qry.name",
    "dns.qry.type",
    "dns.flags.rcode",
    "dns.flags.authoritative",
    "dns.flags.truncated",
    "dns.flags.recdesired",
    "dns.count.answers",
    "dns.count.auth_rr",
    "dns.count.add_rr",
    "dns.resp.name",
    "dns.resp.type",
    "dns.resp.ttl",
    "dns.a",
    "dns.aaaa",
    "dns.cname",
    "dns.ns",
    "dns.soa.mname",
    "tls.handshake.type",
    "tls.handshake.extensions_server_name",
    "tls.handshake.extensions_alpn_str",
    "tls.handshake.extensions.supported_version",
    "tls.handshake.ciphersuite",
    "tls.handshake.extensions_key_share_group",
    "tls.handshake.certificate",
    "tls.handshake.extensions.psk.identity.identity",
    "tls.handshake.extensions.psk.identity.selected",
    "tls.handshake.session_ticket_lifetime_hint",
    "http.request.method",
    "http.request.uri",
    "http.request.version",
    "http.host",
    "http.request.line",
    "http.response.code",
    "http.response.phrase",
    "http.response.version",
    "http.response.line",
    "http.request_in",
    "http.content_length_header",
    "tls.app_data",
    *H2_FIELDS,
    *QUIC_FIELDS,
)


class TsharkError(RuntimeError):
    """tshark is missing or could not read the capture."""


@dataclass
class HttpInfo:
    request: bool
    method: str = ""
    uri: str = ""
    host: str = ""
    version: str = ""
    status: int = 0
    phrase: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    request_in: int = 0  # for a response: the frame of its request
    stream_id: int | None = None  # HTTP/2: the stream (RFC 9113 §5)
    hpack_bytes: int = 0  # HTTP/2: the HEADERS frame's size on the wire
    plain_bytes: int = 0  # HTTP/2: the same fields without HPACK (RFC 7541 §4.1 sizes)
    indexed: int = 0  # HTTP/2: fields sent as a table index

    def header(self, name: str) -> str:
        return next((v for k, v in self.headers if k.lower() == name.lower()), "")


@dataclass
class Message:
    """One thing a host said to another, as the sequence diagram draws it."""

    frame: int
    time: float
    src: str
    dst: str
    proto: str  # dns, tcp, tls, http
    kind: str  # query, response, syn, syn-ack, ack, fin, rst, retransmission,
    #            client-hello, server-hello, new-session-ticket, certificate, finished,
    #            request,
    #            encrypted (TLS records the capture's secrets cannot open)
    label: str
    stream: int | None = None  # tcp.stream, for TCP, TLS and HTTP
    dns: DnsInfo | None = None
    tls: TlsInfo | None = None
    http: HttpInfo | None = None
    quic: QuicInfo | None = None  # set on every message of a QUIC datagram (TLS in CRYPTO too)


def _one(row: Row, name: str, default: str = "") -> str:
    values = row.get(name) or []
    return values[0] if values else default


def _int(row: Row, name: str, default: int = 0) -> int:
    try:
        return int(_one(row, name, str(default)), 0)
    except ValueError:
        return default


def _headers(lines: Sequence[str]) -> list[tuple[str, str]]:
    out = []
    for line in lines:
        name, sep, value = line.rstrip("\r\n").partition(":")
        if sep:
            out.append((name.strip(), value.strip()))
    return out


def _tcp_kind(row: Row, handshake_acks: set[int], syn_acked: set[int]) -> str | None:
    """The TCP control event in this frame worth a diagram arrow, if any."""
    stream = _int(row, "tcp.stream", -1)
    if _one(row, "tcp.analysis.retransmission") or _one(row, "tcp.analysis.fast_retransmission"):
        return "retransmission"
    syn, ack = _one(row, "tcp.flags.syn") == "1", _one(row, "tcp.flags.ack") == "1"
    if _one(row, "tcp.flags.reset") == "1":
        return "rst"
    if syn:
        if ack:
            syn_acked.add(stream)
        return "syn-ack" if ack else "syn"
    if _one(row, "tcp.flags.fin") == "1":
        return "fin"
    # The ACK that completes the three-way handshake (RFC 9293 section 3.5).
    if ack and stream in syn_acked and stream not in handshake_acks:
        handshake_acks.add(stream)
        return "ack"
    return None


TCP_LABELS = {
    "syn": "SYN",
    "syn-ack": "SYN-ACK",
    "ack": "ACK",
    "fin": "FIN",
    "rst": "RST",
    "retransmission": "retransmission",
}


def _http(row: Row) -> HttpInfo | None:
    if _one(row, "http.request.method"):
        return HttpInfo(
            True,
            method=_one(row, "http.request.method"),
            uri=_one(row, "http.request.uri"),
            host=_one(row, "http.host"),
            version=_one(row, "http.request.version"),
            headers=_headers(row.get("http.request.line") or []),
        )
    if _one(row, "http.response.code"):
        return HttpInfo(
            False,
            status=_int(row, "http.response.code"),
            phrase=_one(row, "http.response.phrase"),
            version=_one(row, "http.response.version"),
            headers=_headers(row.get("http.response.line") or []),
            request_in=_int(row, "http.request_in"),
        )
    return None


def _http_label(h: HttpInfo) -> str:
    if h.request:
        return f"{h.method} {h.uri}"
    label = f"{h.status} {h.phrase}".strip()
    cache = h.header("X-Cache")
    return f"{label} · X-Cache {cache}" if cache else label


def _h2_http(f: H2Frame, request_in: int) -> HttpInfo:
    """A HEADERS frame as the HttpInfo of its request or response."""
    plain = [(k, v) for k, v in f.headers if not k.startswith(":")]
    common = {
        "version": "HTTP/2",
        "headers": plain,
        "stream_id": f.stream_id,
        "hpack_bytes": f.length,
        "plain_bytes": f.plain_size,
        "indexed": f.indexed,
    }
    if f.pseudo(":method"):
        return HttpInfo(True, method=f.pseudo(":method"), uri=f.pseudo(":path"),
                        host=f.pseudo(":authority"), **common)  # type: ignore[arg-type]  # fmt: skip
    status = f.pseudo(":status")
    return HttpInfo(False, status=int(status) if status.isdigit() else 0,
                    request_in=request_in, **common)  # type: ignore[arg-type]  # fmt: skip


def _h2_label(h: HttpInfo) -> str:
    return f"HEADERS s{h.stream_id} · {_http_label(h)}"


def messages_from_rows(rows: Sequence[Row]) -> list[Message]:
    """Turn tshark rows (field -> values) into messages, in capture order."""
    out: list[Message] = []
    handshake_acks: set[int] = set()
    syn_acked: set[int] = set()
    last_sealed: dict[int, tuple[str, str]] = {}  # stream -> direction of its last sealed arrow
    greeted: set[int] = set()  # streams whose ClientHello is in the capture
    h2_requests: dict[tuple[int, int], int] = {}  # (tcp stream, h2 stream) -> request frame
    for row in rows:
        src, dst = _one(row, "ip.src"), _one(row, "ip.dst")
        if not src:
            continue  # ARP and other non-IP frames
        frame = _int(row, "frame.number")
        when = float(_one(row, "frame.time_epoch", "0"))
        stream = _int(row, "tcp.stream", -1) if _one(row, "tcp.stream") else None
        quic = quic_info(row)
        if quic is not None and not quic.quiet:
            add_kind = "handshake" if any(p != "1-RTT" for p in quic.packets) else "data"
            out.append(Message(frame, when, src, dst, "quic", add_kind, quic.label(), None,
                               quic=quic))  # fmt: skip

        # Called only within this iteration, so the loop variables it reads are current.
        def add(
            proto: str,
            kind: str,
            label: str,
            dns: DnsInfo | None = None,
            tls: TlsInfo | None = None,
            http: HttpInfo | None = None,
        ) -> None:
            msg = Message(frame, when, src, dst, proto, kind, label, stream, dns, tls, http, quic)  # noqa: B023
            out.append(msg)

        if _one(row, "tcp.stream"):
            kind = _tcp_kind(row, handshake_acks, syn_acked)
            if kind and not (kind == "ack" and _int(row, "tcp.len") > 0):
                add("tcp", kind, TCP_LABELS[kind])
        dns = dns_info(row) if _one(row, "dns.id") else None
        if dns is not None:
            add("dns", "response" if dns.response else "query", dns.label(), dns=dns)
        for tls in tls_infos(row):
            add("tls", tls.kind, tls.label(), tls=tls)
            if tls.kind == "client-hello" and stream is not None:
                greeted.add(stream)
        frames = h2_frames(row)
        if frames:
            if has_preface(row):
                add("http2", "preface", "HTTP/2 preface (PRI * HTTP/2.0)")
            key = stream if stream is not None else -1
            data = [f for f in frames if f.type == 0]
            for f in frames:
                if f.type == 1 and (f.pseudo(":method") or f.pseudo(":status")):
                    info = _h2_http(f, h2_requests.get((key, f.stream_id), 0))
                    if info.request:
                        h2_requests[(key, f.stream_id)] = frame
                    add(
                        "http",
                        "request" if info.request else "response",
                        _h2_label(info),
                        http=info,
                    )
                elif f.type in (3, 4, 6, 7):
                    add("http2", f.name.lower(), f.label())
            updates = [f for f in frames if f.type == 8]
            if updates:
                total = sum(f.increment for f in updates)
                add("http2", "window_update", f"WINDOW_UPDATE x{len(updates)} +{total}")
            if data:
                sids = sorted({f.stream_id for f in data})
                size = sum(f.length for f in data)
                end = " END_STREAM" if any(f.end_stream for f in data) else ""
                add(
                    "http2",
                    "data",
                    f"DATA s{','.join(map(str, sids))} ({len(data)} frames, {size} B){end}",
                )
            last_sealed.pop(key, None)
        http = _http(row)
        if http is not None:
            add("http", "request" if http.request else "response", _http_label(http), http=http)
            last_sealed.pop(stream if stream is not None else -1, None)
        elif _one(row, "tls.app_data") and stream is not None and stream not in greeted:
            # Application data tshark could not decrypt: in TLS 1.3 the record
            # nonce counts every record since the handshake (RFC 8446 §5.3), so a
            # connection opened before the capture began cannot be read from the
            # middle. One arrow per burst in one direction, not one per record.
            if last_sealed.get(stream) != (src, dst):
                add("tls", "encrypted", "TLS data (connection older than the capture: sealed)")
                last_sealed[stream] = (src, dst)
    return out


def tshark_rows(capture: Path, fields: Sequence[str] = FIELDS) -> list[dict[str, list[str]]]:
    """Run tshark once over CAPTURE and return each frame's fields (all frames, in order)."""
    if shutil.which("tshark") is None:
        raise TsharkError("tshark is missing (Debian package tshark); run `lab bootstrap`")
    cmd = ["tshark", "-r", str(capture), "-T", "json", "-n"]
    for name in fields:
        cmd += ["-e", name]
    r = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise TsharkError(f"tshark could not read {capture}: {r.stderr.strip()[-500:]}")
    docs = json.loads(r.stdout or "[]")
    return [d["_source"]["layers"] for d in docs]


def read_messages(capture: Path) -> list[Message]:
    """Every message of the capture, in capture order."""
    return messages_from_rows(tshark_rows(capture))

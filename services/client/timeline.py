"""What the browser records of a run: each DNS lookup, each request, the whole timeline.

Written out as JSON (``timeline.json``) and read by the scenario runner, the
report, the HAR writer and the waterfall, so a field's meaning is fixed here.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class DnsResult:
    name: str
    server: str
    started: float
    ms: float
    rcode: str
    chain: list[str]
    addresses: list[str]
    cached_by_client: bool = False
    visit: int = 1


@dataclass
class Fetch:
    url: str
    host: str
    started: float  # when a connection took the request (time.time())
    address: str = ""
    # The client's own TCP port on the connection this request opened (0 over
    # QUIC or when reused): how a check finds that connection in the capture.
    local_port: int = 0
    # dns/connect/tls are the costs of the connection this request opened; a
    # request on a connection already open (reused_connection) has none. Over
    # QUIC (HTTP/3) transport and TLS are one handshake: connect_ms is 0 and
    # tls_ms is the whole QUIC handshake.
    dns_ms: float = 0.0
    connect_ms: float = 0.0
    tls_ms: float = 0.0
    send_ms: float = 0.0
    ttfb_ms: float = 0.0
    download_ms: float = 0.0
    total_ms: float = 0.0
    reused_connection: bool = False
    tls_version: str = ""
    cipher: str = ""
    alpn: str = ""
    http_version: str = ""  # "1.0", "1.1", "2" or "3": what the request was sent as
    connection: int = 0  # which connection of the run carried it, numbered from 1
    # Its HTTP/2 stream (odd, from 1) or QUIC stream (0, 4, 8, ...); None over HTTP/1.x.
    stream_id: int | None = None
    status: int = 0
    bytes: int = 0
    content_type: str = ""
    cache: str = ""
    via: str = ""
    error: str = ""
    initiator: str = ""
    visit: int = 1  # 1 for the first visit, 2 for the reload, ...
    # The connection this fetch used was set up by resuming an earlier TLS session
    # (no certificate sent), whether opened for this fetch or kept alive.
    tls_resumed: bool = False
    # Sent as QUIC 0-RTT early data on a resumed connection, before its handshake
    # completed, and accepted by the server (RFC 9001 §4.6); False when it waited
    # for the handshake, or the server refused the early data and it was resent.
    early_data: bool = False
    conditional: dict[str, str] = field(default_factory=dict)  # validators sent
    # --http auto: why the QUIC connection tried for this request (an Alt-Svc h3
    # alternative) failed, so that it went over TCP instead; "" when none was tried.
    fallback: str = ""


@dataclass
class Timeline:
    scenario: str
    started: float
    finished: float = 0.0
    dns: list[DnsResult] = field(default_factory=list)
    fetches: list[Fetch] = field(default_factory=list)
    ok: bool = True
    visits: int = 1
    http: str = "auto"  # the --http choice the run was made with

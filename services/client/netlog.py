"""Chromium's NetLog read into the lab's own timeline records (timeline.py).

A NetLog (``--log-net-log``) is Chromium's record of everything its network
stack did: one event per step, grouped by *source* (a URL request, a stream
job, a socket, a host-resolver job, an HTTP/2 session), joined to each other
by ``source_dependency`` parameters. Event and source names are numbers,
named in the file's own ``constants``, so nothing here hard-codes a Chromium
version's numbering.

What is read, per URL request (a ``URL_REQUEST`` source):

- when it started and ended (``REQUEST_ALIVE``), and its ``net_error`` if it
  failed (named from ``constants.netError``: ``ERR_NAME_NOT_RESOLVED``, ...);
- which stream job served it (``HTTP_STREAM_REQUEST_BOUND_TO_JOB``) and from
  that job the socket: a new one (``SOCKET_POOL_BOUND_TO_SOCKET``, with its
  ``TCP_CONNECT`` and ``SSL_CONNECT`` times, the address, TLS version,
  cipher, ALPN, resumption), or an HTTP/2 session already open
  (``HTTP2_SESSION_POOL_FOUND_EXISTING_SESSION*``; ``..._FROM_IP_POOL`` is
  connection coalescing, RFC 9113 section 9.1.1: another host name on the
  same address whose certificate covers it); or a QUIC session
  (``HTTP_STREAM_REQUEST_BOUND_TO_QUIC_SESSION``), whose handshake ends, from
  the client's side, with its first 1-RTT packet;
- the request's own phases: ``HTTP_TRANSACTION_SEND_REQUEST`` (send),
  ``HTTP_TRANSACTION_READ_RESPONSE_HEADERS`` (first byte), the last
  ``URL_REQUEST_JOB_BYTES_READ`` (body done); the status line and the cache
  headers; the HTTP/2 stream id from its flow-control events.

And per host-resolver job: the name, the query types Chromium asked for (A
and HTTPS, RFC 9460, by default), how long the lookup took, the CNAME chain,
the addresses, and whether it failed. A request that found its answer in the
host cache (``HOST_RESOLVER_MANAGER_CACHE_HIT``) is the "browser DNS cache"
of the articles.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from services.client.timeline import DnsResult, Fetch

BEGIN, END = 1, 2  # constants.logEventPhase
TLS13_SUITES = {  # RFC 8446 appendix B.4, as OpenSSL names them
    4865: "TLS_AES_128_GCM_SHA256",
    4866: "TLS_AES_256_GCM_SHA384",
    4867: "TLS_CHACHA20_POLY1305_SHA256",
}
ALPN_VERSION = {"h2": "2", "h3": "3", "http/1.1": "1.1"}
ONE_RTT = "ENCRYPTION_FORWARD_SECURE"  # Chromium's name for QUIC's 1-RTT packet space


@dataclass
class Event:
    name: str
    phase: int
    ms: float  # since the NetLog's time base
    params: dict[str, Any]

    def dep(self) -> int | None:
        d = self.params.get("source_dependency")
        return int(d["id"]) if isinstance(d, dict) and "id" in d else None


@dataclass
class NetLog:
    """A NetLog's events grouped by source, with names resolved."""

    base: float  # seconds since the epoch at time 0 (constants.timeTickOffset)
    sources: dict[int, list[Event]]
    kinds: dict[int, str]  # source id -> source type name
    errors: dict[int, str]  # net_error code -> name

    @classmethod
    def parse(cls, doc: dict[str, Any]) -> NetLog:
        const = doc.get("constants", {})
        names = {v: k for k, v in const.get("logEventTypes", {}).items()}
        source_types = {v: k for k, v in const.get("logSourceType", {}).items()}
        sources: dict[int, list[Event]] = defaultdict(list)
        kinds: dict[int, str] = {}
        for raw in doc.get("events", []):
            src = raw.get("source") or {}
            sid = int(src.get("id", -1))
            kinds.setdefault(sid, source_types.get(src.get("type"), "?"))
            sources[sid].append(
                Event(
                    names.get(raw.get("type"), "?"),
                    int(raw.get("phase", 0)),
                    float(raw.get("time", 0)),
                    raw.get("params") or {},
                )
            )
        errors = {int(v): k for k, v in const.get("netError", {}).items()}
        return cls(float(const.get("timeTickOffset", 0)) / 1000, dict(sources), kinds, errors)

    def of_kind(self, kind: str) -> Iterator[tuple[int, list[Event]]]:
        for sid, events in self.sources.items():
            if self.kinds.get(sid) == kind:
                yield sid, events

    def epoch(self, ms: float) -> float:
        return self.base + ms / 1000

    def error(self, code: Any) -> str:
        return self.errors.get(int(code), f"net_error {code}") if code else ""


def _find(events: list[Event], name: str, phase: int | None = None) -> Event | None:
    return next((e for e in events if e.name == name and (phase is None or e.phase == phase)), None)


def _span(events: list[Event], name: str) -> tuple[float, float] | None:
    """Begin and end time of the first NAME span in EVENTS."""
    b, e = _find(events, name, BEGIN), _find(events, name, END)
    return (b.ms, e.ms) if b and e else None


@dataclass
class _Socket:
    number: int  # connections numbered from 1 in the order they were opened
    address: str = ""
    connect: tuple[float, float] | None = None
    tls: tuple[float, float] | None = None
    tls_params: dict[str, Any] = field(default_factory=dict)
    quic: float | None = None  # a QUIC session: when it began (ms), else None for TCP


def _sockets(log: NetLog) -> dict[int, _Socket]:
    """TCP sockets and QUIC sessions by source id, numbered in the order they began."""
    found: list[tuple[float, int, _Socket]] = []
    for sid, events in log.of_kind("SOCKET"):
        tcp = _find(events, "TCP_CONNECT", END)
        span = _span(events, "TCP_CONNECT")
        if tcp is None or span is None:
            continue
        ssl_end = _find(events, "SSL_CONNECT", END)
        address = str(tcp.params.get("remote_address", "")).rsplit(":", 1)[0]
        tls_params = ssl_end.params if ssl_end else {}
        found.append(
            (span[0], sid, _Socket(0, address, span, _span(events, "SSL_CONNECT"), tls_params))
        )
    for sid, events in log.of_kind("QUIC_SESSION"):
        begin = _find(events, "QUIC_SESSION", BEGIN)
        if begin is None:
            continue
        # The handshake is done, from the client's side, when it first sends a
        # 1-RTT ("forward secure") packet: its Finished has gone (RFC 9001 4.1.1).
        sent = [e for e in events if e.name == "QUIC_SESSION_PACKET_SENT"]
        done = next((e.ms for e in sent if e.params.get("encryption_level") == ONE_RTT), None)
        peer = next((str(e.params.get("peer_address", "")) for e in events
                     if e.name == "QUIC_SESSION_PACKET_RECEIVED"), "")  # fmt: skip
        sock = _Socket(0, peer.rsplit(":", 1)[0], None, (begin.ms, done) if done else None,
                       {"version": "TLS 1.3", "next_proto": "h3"}, quic=begin.ms)  # fmt: skip
        found.append((begin.ms, sid, sock))
    out: dict[int, _Socket] = {}
    for n, (_t, sid, sock) in enumerate(sorted(found), 1):
        sock.number = n
        out[sid] = sock
    return out


def _session_sockets(log: NetLog) -> dict[int, int]:
    """HTTP/2 session source -> the socket it runs on."""
    out = {}
    for sid, events in log.of_kind("HTTP2_SESSION"):
        init = _find(events, "HTTP2_SESSION_INITIALIZED")
        if init and init.dep() is not None:
            out[sid] = init.dep() or 0
    return out


def _headers(event: Event | None) -> tuple[int, dict[str, str]]:
    """Status and lower-cased fields of a READ_RESPONSE_HEADERS event."""
    if event is None:
        return 0, {}
    lines = [str(x) for x in event.params.get("headers", [])]
    status = 0
    if lines and len(lines[0].split()) > 1 and lines[0].split()[1].isdigit():
        status = int(lines[0].split()[1])
    fields = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    return status, fields


def _lookups(log: NetLog) -> list[tuple[str, float, float]]:
    """(host, begin ms, end ms) of each host-resolver job, for a fetch's DNS time."""
    out = []
    for _sid, events in log.of_kind("HOST_RESOLVER_IMPL_JOB"):
        span = _span(events, "HOST_RESOLVER_MANAGER_JOB")
        begin = _find(events, "HOST_RESOLVER_MANAGER_JOB", BEGIN)
        if span and begin:
            out.append((hostname(begin.params.get("host", "")), *span))
    return out


def hostname(value: Any) -> str:
    """The host of a NetLog ``host`` or ``url`` value: "https://h", "h:443" or a URL."""
    text = str(value)
    return (urlsplit(text).hostname or text) if "://" in text else text.rsplit(":", 1)[0]


def fetches(log: NetLog, initiator_page: str = "") -> list[Fetch]:
    """One :class:`Fetch` per URL request in the NetLog, in the order they started."""
    sockets, sessions = _sockets(log), _session_sockets(log)
    lookups = _lookups(log)
    out: list[tuple[float, Fetch]] = []
    for _sid, events in log.of_kind("URL_REQUEST"):
        alive = _find(events, "REQUEST_ALIVE", BEGIN)
        if alive is None or "url" not in alive.params:
            continue
        url = str(alive.params["url"])
        end = _find(events, "REQUEST_ALIVE", END)
        start_job = _find(events, "URL_REQUEST_START_JOB", BEGIN)
        f = Fetch(url=url, host=urlsplit(url).hostname or "", started=log.epoch(alive.ms))
        f.initiator = str(start_job.params.get("initiator", "")) if start_job else ""
        if f.initiator in ("not an origin", "null"):
            f.initiator = ""
        err = (end.params.get("net_error") if end else None) or next(
            (e.params["net_error"] for e in events if "net_error" in e.params), 0
        )
        f.error = log.error(err)
        if _find(events, "CANCELLED") and not f.error:
            f.error = "ERR_ABORTED (cancelled by the page)"
        _connection(log, f, events, sockets, sessions, lookups)
        _phases(f, events, end)
        status, hdrs = _headers(_find(events, "HTTP_TRANSACTION_READ_RESPONSE_HEADERS"))
        f.status, f.content_type = status, hdrs.get("content-type", "")
        f.cache, f.via = hdrs.get("x-cache", ""), hdrs.get("via", "")
        f.bytes = sum(
            int(e.params.get("byte_count", 0))
            for e in events
            if e.name == "URL_REQUEST_JOB_BYTES_READ"
        )
        if _find(events, "HTTP_TRANSACTION_HTTP2_SEND_REQUEST_HEADERS"):
            f.http_version = "2"
        elif _find(events, "HTTP_TRANSACTION_QUIC_SEND_REQUEST_HEADERS"):
            f.http_version = "3"
        elif _find(events, "HTTP_TRANSACTION_SEND_REQUEST_HEADERS"):
            f.http_version = "1.1"
        ids = [e.params.get("stream_id", e.params.get("quic_stream_id")) for e in events
               if "stream_id" in e.params or "quic_stream_id" in e.params]  # fmt: skip
        f.stream_id = int(ids[0]) if ids else None
        out.append((alive.ms, f))
    return [f for _, f in sorted(out, key=lambda x: x[0])]


def _connection(
    log: NetLog,
    f: Fetch,
    events: list[Event],
    sockets: dict[int, _Socket],
    sessions: dict[int, int],
    lookups: list[tuple[str, float, float]],
) -> None:
    """Fill in the connection that carried F: new (with its costs) or reused."""
    quic = _find(events, "HTTP_STREAM_REQUEST_BOUND_TO_QUIC_SESSION")
    if quic is not None and quic.dep() in sockets:
        _quic_connection(f, events, sockets[quic.dep() or 0], lookups)
        return
    bound = _find(events, "HTTP_STREAM_REQUEST_BOUND_TO_JOB")
    job = log.sources.get(bound.dep() or -1, []) if bound else []
    sock: _Socket | None = None
    for e in job:
        if e.name == "SOCKET_POOL_BOUND_TO_SOCKET" and e.dep() in sockets:
            sock = sockets[e.dep() or 0]
            f.reused_connection = _find(job, "SOCKET_POOL_REUSED_AN_EXISTING_SOCKET") is not None
        elif e.name.startswith("HTTP2_SESSION_POOL_FOUND_EXISTING_SESSION") or (
            e.name == "HTTP_STREAM_JOB_HTTP2_SESSION_AVAILABLE"
        ):
            sock = sockets.get(sessions.get(e.dep() or -1, -1))
            f.reused_connection = True
    if sock is None:
        return
    f.connection, f.address = sock.number, sock.address
    tp = sock.tls_params
    f.tls_version = str(tp.get("version", "")).replace("TLS ", "TLSv")
    f.cipher = TLS13_SUITES.get(int(tp.get("cipher_suite", 0)), str(tp.get("cipher_suite", "")))
    f.alpn, f.tls_resumed = str(tp.get("next_proto", "")), bool(tp.get("is_resumed"))
    if f.reused_connection or sock.connect is None:
        return
    f.connect_ms = round(sock.connect[1] - sock.connect[0], 3)
    f.tls_ms = round(sock.tls[1] - sock.tls[0], 3) if sock.tls else 0.0
    # The lookup this connection waited for: the resolver job for the host that
    # ended after the request began and before the TCP connect began.
    alive = _find(events, "REQUEST_ALIVE", BEGIN)
    t0 = alive.ms if alive else 0.0
    waited = [b_e for h, *b_e in lookups if h == f.host and t0 <= b_e[1] <= sock.connect[0]]
    if waited:
        f.dns_ms = round(max(e - max(b, t0) for b, e in waited), 3)


def _quic_connection(
    f: Fetch, events: list[Event], sess: _Socket, lookups: list[tuple[str, float, float]]
) -> None:
    """A request on a QUIC session: the one that began it pays the handshake."""
    f.connection, f.address, f.tls_version, f.alpn = sess.number, sess.address, "TLSv1.3", "h3"
    alive = _find(events, "REQUEST_ALIVE", BEGIN)
    t0 = alive.ms if alive else 0.0
    f.reused_connection = sess.quic is not None and sess.quic < t0
    if f.reused_connection or sess.tls is None:
        return
    f.tls_ms = round(sess.tls[1] - sess.tls[0], 3)  # QUIC folds TCP's and TLS's round trips
    waited = [b_e for h, *b_e in lookups if h == f.host and t0 <= b_e[1] <= sess.tls[0]]
    if waited:
        f.dns_ms = round(max(e - max(b, t0) for b, e in waited), 3)


def _phases(f: Fetch, events: list[Event], end: Event | None) -> None:
    send = _span(events, "HTTP_TRANSACTION_SEND_REQUEST")
    headers = _find(events, "HTTP_TRANSACTION_READ_RESPONSE_HEADERS")
    reads = [e.ms for e in events if e.name == "URL_REQUEST_JOB_BYTES_READ"]
    alive = _find(events, "REQUEST_ALIVE", BEGIN)
    if alive and end:
        f.total_ms = round(end.ms - alive.ms, 3)
    if send:
        f.send_ms = round(send[1] - send[0], 3)
        if headers:
            f.ttfb_ms = round(headers.ms - send[1], 3)
            f.download_ms = round(max(reads, default=headers.ms) - headers.ms, 3)


def lookups(log: NetLog, server: str = "") -> list[DnsResult]:
    """Each name Chromium looked up (its resolver jobs) and each answer from its own cache."""
    out: list[DnsResult] = []
    for _sid, events in log.of_kind("HOST_RESOLVER_IMPL_JOB"):
        begin = _find(events, "HOST_RESOLVER_MANAGER_JOB", BEGIN)
        span = _span(events, "HOST_RESOLVER_MANAGER_JOB")
        if begin is None or span is None:
            continue
        name = hostname(begin.params.get("host", ""))
        task = _find(events, "HOST_RESOLVER_DNS_TASK", END)
        results = task.params.get("results", []) if task else []
        chain = [name]
        while nxt := next(
            (r["alias_target"] for r in results if r.get("domain_name") == chain[-1]
             and r.get("type") == "alias" and r.get("alias_target") not in chain), None
        ):  # fmt: skip
            chain.append(str(nxt))
        addresses = sorted(
            {
                str(ep["address"])
                for r in results
                for ep in r.get("endpoints", [])
                if "address" in ep
            }
        )
        out.append(
            DnsResult(
                name=name,
                server=server,
                started=log.epoch(span[0]),
                ms=round(span[1] - span[0], 3),
                rcode=_rcode(log, events) or ("NOERROR" if addresses else "SERVFAIL"),
                chain=chain,
                addresses=addresses,
            )
        )
    for _sid, events in log.sources.items():
        request: Event | None = None
        for e in events:
            if e.name == "HOST_RESOLVER_MANAGER_REQUEST" and e.phase == BEGIN:
                request = e
            elif e.name == "HOST_RESOLVER_MANAGER_CACHE_HIT" and request is not None:
                out.append(_cache_hit(log, e, request, server))
                request = None  # one answer per request (it may log one hit per family)
    return sorted(out, key=lambda d: d.started)


def _cache_hit(log: NetLog, hit: Event, request: Event, server: str) -> DnsResult:
    """An answer from Chromium's own host cache: no packet leaves the machine."""
    res = hit.params.get("results", {})
    name = hostname(request.params.get("host", ""))
    addresses = sorted(
        str(ep.get("endpoint_address", ep.get("address", "")))
        for ep in res.get("ip_endpoints", [])
        if isinstance(ep, dict)
    )
    chain = [str(a) for a in res.get("aliases", [])] or [name]
    return DnsResult(name, server, log.epoch(hit.ms), 0.0, "NOERROR", chain, addresses, True)


def _rcode(log: NetLog, job: list[Event]) -> str:
    """The job's RCODE from its DNS transactions, the A query's first (RFC 1035 4.1.1)."""
    names = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}
    found = ""
    for e in job:
        if e.name != "DNS_TRANSACTION" or e.dep() is None:
            continue
        tx = log.sources.get(e.dep() or -1, [])
        begin, resp = _find(tx, "DNS_TRANSACTION", BEGIN), _find(tx, "DNS_TRANSACTION_RESPONSE")
        if resp is None:
            end = _find(tx, "DNS_TRANSACTION", END)
            code = log.error(end.params.get("net_error") if end else 0)
            text = f"no answer ({code})" if code else "no answer"
        else:
            rcode = int(resp.params.get("rcode", 0))
            text = names.get(rcode, f"RCODE{rcode}")
        if begin and begin.params.get("query_type") == 1:
            return text
        found = found or text
    return found


def coalesced(log: NetLog) -> list[dict[str, str]]:
    """Hosts put on another host's HTTP/2 or QUIC connection (RFC 9113 9.1.1, RFC 9114 3.3)."""
    sessions = {
        sid: hostname(_find(ev, "HTTP2_SESSION", BEGIN).params.get("host", ""))  # type: ignore[union-attr]
        for sid, ev in log.of_kind("HTTP2_SESSION")
        if _find(ev, "HTTP2_SESSION", BEGIN)
    }
    seen: dict[str, str] = {}
    quic = {
        sid: hostname(begin.params.get("host", ""))
        for sid, ev in log.of_kind("QUIC_SESSION")
        if (begin := _find(ev, "QUIC_SESSION", BEGIN))
    }
    for _sid, events in log.of_kind("URL_REQUEST"):
        bound = _find(events, "HTTP_STREAM_REQUEST_BOUND_TO_QUIC_SESSION")
        alive = _find(events, "REQUEST_ALIVE", BEGIN)
        if bound and alive and (onto := quic.get(bound.dep() or -1)):
            host = urlsplit(str(alive.params.get("url", ""))).hostname or ""
            if host and onto != host:
                seen.setdefault(host, onto)
    for _sid, events in log.of_kind("HTTP_STREAM_JOB"):
        begin = _find(events, "HTTP_STREAM_JOB", BEGIN)
        hit = _find(events, "HTTP2_SESSION_POOL_FOUND_EXISTING_SESSION_FROM_IP_POOL")
        if begin and hit:
            host = hostname(begin.params.get("destination", ""))
            onto = sessions.get(hit.dep() or -1, "")
            if onto and onto != host:
                seen.setdefault(host, onto)
    return [{"host": h, "onto": o} for h, o in sorted(seen.items())]

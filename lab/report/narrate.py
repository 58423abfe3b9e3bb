"""Tell a run in plain sentences: what happened at each step, and why, with frames.

Inputs are the capture's messages, the client's timeline and the servers'
structured log lines; the matching of one to the other lives in
lab/report/match.py, the DNS part of the story in narrate_dns.py, the TLS
part (full and resumed handshakes) in narrate_tls.py. A run with several
visits (``browse --visits 2``) is told visit by visit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

from lab.report import hosts as plan_hosts
from lab.report.hosts import host_name
from lab.report.match import Matcher, Section, frames_text
from lab.report.narrate_dns import narrate_dns
from lab.report.narrate_quic import narrate_h3, narrate_quic
from lab.report.narrate_tls import narrate_tls
from lab.report.packets import HttpInfo, Message
from lab.topology import in_lab

# Where the textbooks are out of date: told once, at a connection's first reuse (the
# later ones are told in a line each, lab/report/repeats.py).
HTTP1_PIPELINING = (
    "What the textbooks add and browsers never did: HTTP/1.1 pipelining (RFC 9112, "
    "section 9.3.2) would let the client send this request before the previous answer "
    "arrived. Answers must come back in order, one slow answer holds up every one behind "
    "it, and proxies mishandled it, so no browser turned it on by default; each "
    "connection carries one exchange at a time, and browsers open up to six per host "
    "instead, as this client does."
)
HTTP2_PUSH = (
    "What the textbooks add and browsers no longer do: HTTP/2 server push (RFC 9113, "
    "section 8.4) let a server send a subresource before it was asked (a PUSH_PROMISE "
    "frame). It rarely helped (the browser often had the file cached already) and "
    "Chromium turned it off in 2022, Firefox in 2024; here, as on today's web, no "
    "PUSH_PROMISE crosses the wire and the client asks for each subresource itself."
)


def _hpack_text(h: HttpInfo) -> str:
    """What HPACK did to one HTTP/2 request's fields (RFC 7541)."""
    return (
        f"Over HTTP/2 there is no request line: the method, path, scheme and authority travel "
        f"as pseudo-header fields (:method, :path, ...) in a HEADERS frame on stream "
        f"{h.stream_id} (RFC 9113 §8.3). HPACK packed its fields into {h.hpack_bytes} bytes, "
        f"where written out they count {h.plain_bytes} (RFC 7541 §4.1 sizes); {h.indexed} of "
        "them went as a one-byte index into the static or the connection's dynamic table, "
        "which is why a second request on the same connection costs a few bytes of headers."
    )


def _is_tcp(x: Message, kind: str, stream: int | None) -> bool:
    """A TCP handshake segment of ``kind`` on ``stream``."""
    return x.kind == kind and x.stream == stream


def _tcp(m: Matcher, f: Mapping[str, Any], after: int) -> tuple[Section, int | None]:
    addr = str(f.get("address") or "")
    sec = Section(f"TCP: connect to {host_name(addr)} ({addr}) port 443")
    syn = m.take(lambda x: x.kind == "syn" and x.src == m.client and x.dst == addr, after)
    if syn is None:
        sec.paragraphs.append("The capture holds no SYN for this connection.")
        return sec, None
    hs = [syn] + [
        x
        for x in (
            m.take(partial(_is_tcp, kind=k, stream=syn.stream), syn.frame)
            for k in ("syn-ack", "ack")
        )
        if x is not None
    ]
    sec.frames = [x.frame for x in hs]
    rtt = (hs[1].time - syn.time) * 1000 if len(hs) > 1 else 0.0
    sec.paragraphs.append(
        f"With the address in hand, the client opened a TCP connection to {addr} port 443 "
        f"with the three-way handshake: SYN, SYN-ACK, ACK ({frames_text(sec.frames)}). "
        "Each side picks a random initial sequence number and acknowledges the other's, and "
        "they agree on options such as the maximum segment size and window scaling "
        "(RFC 9293, section 3.5)."
    )
    sec.paragraphs.append(
        f"It costs one round trip before any data can flow: {rtt:.2f} ms on the lab's bridge "
        f"(the client measured {float(f.get('connect_ms') or 0):.2f} ms); across the "
        "Internet that is typically tens of milliseconds."
    )
    return sec, syn.stream


def _upstream_text(m: Matcher, edge: str, first: int, last: int) -> tuple[str, list[int]]:
    ups = m.between(lambda x: x.src == edge and x.dst != m.client, first, last)
    if not ups:
        return "", []
    dsts = ", ".join(dict.fromkeys(host_name(x.dst) for x in ups))
    labels = "; ".join(dict.fromkeys(x.label for x in ups))
    return f" It talked to {dsts}: {labels}.", [x.frame for x in ups]


def _validators(req: Message, f: Mapping[str, Any]) -> list[str]:
    """The conditional headers the request carried (from the capture, else the timeline)."""
    names = ("If-None-Match", "If-Modified-Since")
    h = req.http
    seen = [f"{n}: {h.header(n)}" for n in names if h is not None and h.header(n)]
    sent = f.get("conditional") or {}
    return seen or [f"{n}: {sent[n]}" for n in names if n in sent]


def _not_modified(resp: HttpInfo, hit: bool) -> str:
    copy = "its cached copy" if hit else "the copy it got from the origin"
    return (
        f"And since the client's validator matched {copy}, the edge sent "
        f"{resp.status} {resp.phrase or 'Not Modified'} instead of the content: headers "
        "only, no body on the wire (RFC 9110, section 15.4.5; RFC 9111, section 4.3.2). "
        "The client used the copy it had kept. The 304 repeats the headers a 200 would "
        "carry (Cache-Control, ETag), so that copy is fresh again for its max-age."
    )


def _http(
    m: Matcher,
    f: Mapping[str, Any],
    stream: int | None,
    cdn: Mapping[str, Any] | None,
    first_hit: bool,
    missed_before: bool,
    brief: bool = False,
) -> Section:
    """One request and its answer; BRIEF: a connection already told in full, one line."""
    url, host = str(f.get("url")), str(f.get("host"))
    path = url.split(host, 1)[-1] or "/"
    sec = Section(f"HTTP: GET {url}")
    req = m.take(
        lambda x: x.kind == "request"
        and x.stream == stream
        and x.http is not None
        and x.http.uri == path
    )
    if req is None:
        sec.paragraphs.append(
            f"No decrypted request for {path} in the capture"
            + (f" ({f.get('error')})." if f.get("error") else ".")
        )
        return sec
    resp = m.take(
        lambda x: x.kind == "response" and x.http is not None and x.http.request_in == req.frame
    )
    sec.frames = [req.frame] + ([resp.frame] if resp else [])
    if brief and resp is not None and resp.http is not None:
        return _brief(m, sec, f, req, resp)
    h2 = req.http is not None and req.http.version == "HTTP/2"
    how = (
        (
            f"as stream {req.http.stream_id if req.http else '?'} of the HTTP/2 connection it "
            "already had open to this host, beside the other streams (multiplexed): no DNS "
            "lookup, no TCP or TLS handshake, no waiting for the previous answer"
            if h2
            else "on the connection it already had open to this host (HTTP/1.1 keep-alive): "
            "no DNS lookup, no TCP or TLS handshake, only the request"
        )
        if f.get("reused_connection")
        else "as the first request on the new connection"
    )
    sec.paragraphs.append(
        f"The client sent GET {path} with Host: {host} (frame {req.frame}), {how}."
    )
    if f.get("reused_connection"):
        sec.paragraphs.append(HTTP2_PUSH if h2 else HTTP1_PIPELINING)
    if h2 and req.http is not None:
        sec.paragraphs.append(_hpack_text(req.http))
    validators = _validators(req, f)
    if validators:
        plural = "s" if len(validators) > 1 else ""
        sec.paragraphs.append(
            f"It is a conditional request: the client sent the validator{plural} it kept "
            f'from the earlier response ({"; ".join(validators)}), meaning "send the '
            'resource only if it changed" (RFC 9110, section 13.1). A reload does this for '
            "everything it has a copy of."
        )
    if resp is None or resp.http is None:
        sec.paragraphs.append("No response to it is in the capture.")
        return sec
    h = resp.http
    cache = h.header("X-Cache")
    age = f", Age: {h.header('Age')} s" if h.header("Age") else ""
    body = (
        "headers only"
        if h.status == 304
        else f"{h.header('Content-Type') or 'no content type'}, {f.get('bytes', 0)} bytes"
    )
    sec.paragraphs.append(
        f"{host_name(resp.src)} answered {h.status} {h.phrase} (frame {resp.frame}), {body}, "
        f"X-Cache: {cache or '(none)'}{age}; "
        f"time to first byte {float(f.get('ttfb_ms') or 0):.2f} ms."
    )
    reason = f" ({cdn.get('reason')})" if cdn and cdn.get("reason") else ""
    if cache.upper().startswith("HIT"):
        why = (
            " Earlier in this run the same request was a MISS, which filled the cache."
            if missed_before
            else " The first run after the cache was emptied was a MISS; this one is fast "
            "because an earlier run paid for it."
            if first_hit
            else ""
        )
        sec.paragraphs.append(
            f"The edge had a fresh copy{reason}, so it answered from its cache: no request went "
            f"to the origin.{why}"
        )
        if h.status == 304:
            sec.paragraphs.append(_not_modified(h, True))
    elif cache:
        text, ups = _upstream_text(m, resp.src, req.frame, resp.frame)
        sec.frames += ups
        seen = (
            f"{text} ({frames_text(ups)})"
            if ups
            else " Its connection to the origin is not in this capture."
        )
        upstream = str((cdn or {}).get("upstream") or "")
        origins = f" (this name's origins: {upstream.replace(',', ', ')})" if upstream else ""
        sec.paragraphs.append(
            f"The edge had no usable copy{reason} ({cache}), so it forwarded the request "
            f"upstream over its own TLS connection{origins}.{seen} It kept the response "
            "as Cache-Control allows, added Via and X-Cache, and relayed it. A repeat within "
            "the freshness lifetime gets a HIT."
        )
        if h.status == 304:
            sec.paragraphs.append(_not_modified(h, False))
    return sec


def _brief(m: Matcher, sec: Section, f: Mapping[str, Any], req: Message, resp: Message) -> Section:
    """A further request on a connection the story already told: the facts in one line."""
    rq, h = req.http, resp.http
    assert rq is not None
    assert h is not None
    where = f"stream {rq.stream_id}" if rq.version == "HTTP/2" else "the same connection"
    packed = (
        f", HPACK {rq.hpack_bytes} B for {rq.plain_bytes} B of fields"
        f" ({rq.indexed} from the tables)"
        if rq.version == "HTTP/2" and rq.hpack_bytes
        else ""
    )
    cond = ", conditional" if _validators(req, f) else ""
    cache = h.header("X-Cache") or "-"
    line = (
        f"GET on {where} (frame {req.frame}{packed}{cond}) -> {h.status} {cache} "
        f"(frame {resp.frame}), first byte {float(f.get('ttfb_ms') or 0):.1f} ms."
    )
    if not cache.upper().startswith("HIT"):
        _text, ups = _upstream_text(m, resp.src, req.frame, resp.frame)
        sec.frames += ups
        line += f" The edge went to the origin for it ({frames_text(ups)})." if ups else ""
    sec.paragraphs.append(line)
    return sec


def _cdn_event(
    events: Sequence[Mapping[str, Any]], f: Mapping[str, Any]
) -> Mapping[str, Any] | None:
    """The edge's log line for fetch F: same host and path, nearest in time (a reload
    asks for the same URL a moment later)."""
    url, started = str(f.get("url")), float(f["started"])
    cands = [
        e
        for e in events
        if e.get("event") == "request"
        and e.get("host") == f.get("host")
        and url.endswith(str(e.get("path")))
        and e.get("cache") is not None
        and abs(float(e.get("time", 0)) - started) < 30
    ]
    if not cands:
        return None
    return min(cands, key=lambda e: abs(float(e.get("time", 0)) - started))


def _visit_section(n: int) -> Section:
    return Section(
        f"Visit {n}: the same page again, as a reload",
        [
            "The client closed its connections and opened the page again, as a user reloading "
            "it. It dropped its own DNS answers, so it asks the resolver again; it kept the TLS "
            "tickets the edge gave it and, for every response that carried a validator (ETag, "
            "Last-Modified), that validator and the body. So each new connection can resume its "
            "TLS session, and each request can be conditional."
        ],
    )


def _subresources_text(f: Mapping[str, Any], subs: Sequence[Mapping[str, Any]]) -> str:
    how = (
        "The page came back 304, so the client parsed the copy it had kept"
        if int(f.get("status") or 0) == 304
        else "The page is HTML. The client parsed it"
    )
    return (
        f"{how}, as a browser does, and found {len(subs)} subresources to fetch: "
        + ", ".join(str(x["url"]) for x in subs)
        + "."
    )


def _outside_section(
    m: Matcher,
    fetches: Sequence[Mapping[str, Any]],
    lookups: Mapping[tuple[str, int], list[Mapping[str, Any]]],
    events: Sequence[Mapping[str, Any]],
) -> Section:
    """The browser's requests to names outside the lab (its vendor's services)."""
    names = sorted({str(f["host"]) for f in fetches})
    errors = sorted({str(f.get("error") or f.get("status")) for f in fetches})
    frames: list[int] = []
    asked = [d for (n, _), v in lookups.items() if n in names for d in v]
    for d in asked:
        frames += narrate_dns(m, d, events).frames
    rcodes = sorted({str(d.get("rcode")) for d in asked if not d.get("cached_by_client")})
    answer = (
        "no such names exist, so the com. servers answered NXDOMAIN"
        if rcodes == ["NXDOMAIN"]
        else f"the lookups ended {', '.join(rcodes) or 'unanswered'}"
    )
    connected = any(f.get("connection") for f in fetches)
    return Section(
        "Background requests the page did not make",
        [
            f"The browser also tried, on its own, {len(fetches)} requests to {len(names)} names "
            f"outside the lab: {', '.join(names)}. These are its vendor's services (time sync, "
            "accounts, suggestions), which it contacts even when told to keep background "
            f"networking off. It looked each name up ({len(asked)} lookups); on the lab's closed "
            f"Internet {answer}, and the requests ended in {', '.join(errors)}"
            + ("" if connected else ", before any connection was opened")
            + (f" ({frames_text(sorted(set(frames)))})." if frames else ".")
        ],
        sorted(set(frames)),
    )


def narrate(
    messages: Sequence[Message], timeline: Mapping[str, Any], events: Sequence[Mapping[str, Any]]
) -> list[Section]:
    """The run told step by step; a step's story uses only the frames of its own time."""
    fetches = timeline.get("fetches") or []
    numbers = sorted({int(f["step"]) for f in fetches if f.get("step")})
    if len(numbers) <= 1:
        return _narrate(messages, timeline, events)
    steps = {int(s["index"]): s for s in timeline.get("steps") or []}
    out: list[Section] = []
    for n in numbers:
        step = steps.get(n, {})
        first, last = float(step.get("started") or 0), float(step.get("finished") or 1e18)
        mine = [f for f in fetches if f.get("step") == n]
        versions = sorted({str(f.get("http_version")) for f in mine if f.get("http_version")})
        over = f", over HTTP/{' and '.join(versions)}" if versions else ""
        out.append(
            Section(
                f"Step {n}: {step.get('kind', '')} {step.get('target', '')}{over}",
                [f"{len(mine)} requests; the sections below use only this step's frames."],
                heading=True,
            )
        )
        window = [x for x in messages if first <= x.time <= last]
        part = dict(timeline, fetches=mine, dns=[d for d in timeline.get("dns") or []
                                                 if d.get("step") == n])  # fmt: skip
        out += _narrate(window, part, events)
    return out


def _narrate(
    messages: Sequence[Message], timeline: Mapping[str, Any], events: Sequence[Mapping[str, Any]]
) -> list[Section]:
    """One section per thing the client did, in the order it did them."""
    m = Matcher(messages, plan_hosts.address("client"))
    out: list[Section] = []
    streams: dict[str, int | None] = {}
    by_connection: dict[int, int | None] = {}  # the client's connection number -> TCP stream
    quic: dict[int, int | None] = {}  # the client's connection number -> QUIC udp.stream
    told: set[int] = set()  # connections whose reuse was told in full once
    lookups: dict[tuple[str, int], list[Mapping[str, Any]]] = {}
    for d in timeline.get("dns") or []:
        lookups.setdefault((str(d["name"]), int(d.get("visit") or 1)), []).append(d)
    full_tls_ms: dict[str, float] = {}  # host -> the first full handshake's time
    missed: set[str] = set()  # URLs that were a MISS earlier in the run
    after = 0
    hits = 0
    visit = 1
    fetches = timeline.get("fetches") or []
    outside = [f for f in fetches if not in_lab(str(f["host"]))]
    for f in fetches:
        host, url = str(f["host"]), str(f["url"])
        if not in_lab(host):
            continue  # a browser's own background requests: one section at the end
        if int(f.get("visit") or 1) != visit:
            visit = int(f.get("visit") or 1)
            out.append(_visit_section(visit))
        if not f.get("reused_connection"):
            queue = lookups.get((host, visit)) or []
            if queue:
                sec = narrate_dns(m, queue.pop(0), events)
                out.append(sec)
                after = max(sec.frames, default=after)
            if str(f.get("http_version")) == "3":
                sec, conn = narrate_quic(m, f, after)
                out.append(sec)
                quic[int(f.get("connection") or 0)] = conn
            else:
                tcp, stream = _tcp(m, f, after)
                out.append(tcp)
                streams[host] = by_connection[int(f.get("connection") or 0)] = stream
                if stream is not None:
                    sec = narrate_tls(m, f, stream, full_tls_ms.get(host))
                    out.append(sec)
                    if not f.get("tls_resumed"):
                        full_tls_ms.setdefault(host, float(f.get("tls_ms") or 0))
        cache = str(f.get("cache") or "").upper()
        if str(f.get("http_version")) == "3":
            out.append(narrate_h3(m, f, quic.get(int(f.get("connection") or 0))))
        else:
            # A reused connection may be another host's (HTTP/2 coalescing, RFC 9113 §9.1.1).
            stream = streams.get(host, by_connection.get(int(f.get("connection") or 0)))
            conn = int(f.get("connection") or 0)
            # The first request on a connection and the first one reusing it are told
            # in full (a handshake; keep-alive or multiplexing, HPACK's dynamic table);
            # the ones after that in a line each.
            brief = bool(f.get("reused_connection")) and conn in told
            out.append(_http(m, f, stream, _cdn_event(events, f), not hits, url in missed, brief))
            if f.get("reused_connection"):
                told.add(conn)
        hits += cache.startswith("HIT")
        if cache.startswith("MISS"):
            missed.add(url)
        subs = [
            x for x in fetches if x.get("initiator") == url and int(x.get("visit") or 1) == visit
        ]
        if not f.get("initiator") and subs:
            out[-1].paragraphs.append(_subresources_text(f, subs))
    if outside:
        out.append(_outside_section(m, outside, lookups, events))
    fins = m.between(lambda x: x.kind == "fin", 0, 10**9)
    if fins:
        when = "At the end of each visit" if visit > 1 else "When the page was complete"
        out.append(
            Section(
                "TCP: connections closed",
                [
                    f"{when} the client closed its connections: each side sent a "
                    f"FIN and acknowledged the other's ({frames_text([x.frame for x in fins])})."
                ],
                [x.frame for x in fins],
            )
        )
    return out

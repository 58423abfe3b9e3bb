"""Tell a run in plain sentences: what happened at each step, and why, with frames.

Inputs are the capture's messages, the client's timeline and the servers'
structured log lines; the matching of one to the other lives in
lab/report/match.py, the DNS part of the story in narrate_dns.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lab.report.hosts import host_name
from lab.report.match import Matcher, Section, frames_text
from lab.report.narrate_dns import narrate_dns
from lab.report.packets import Message
from lab.topology import BY_SERVICE


def _tcp(m: Matcher, f: Mapping[str, Any], after: int) -> tuple[Section, int | None]:
    addr = str(f.get("address") or "")
    sec = Section(f"TCP: connect to {host_name(addr)} ({addr}) port 443")
    syn = m.take(lambda x: x.kind == "syn" and x.src == m.client and x.dst == addr, after)
    if syn is None:
        sec.paragraphs.append("The capture holds no SYN for this connection.")
        return sec, None
    hs = [syn] + [x for x in (m.take(lambda x: x.kind == k and x.stream == syn.stream, syn.frame)
                              for k in ("syn-ack", "ack")) if x is not None]
    sec.frames = [x.frame for x in hs]
    rtt = (hs[1].time - syn.time) * 1000 if len(hs) > 1 else 0.0
    sec.paragraphs.append(
        f"With the address in hand, the client opened a TCP connection to {addr} port 443 "
        f"with the three-way handshake: SYN, SYN-ACK, ACK ({frames_text(sec.frames)}). "
        "Each side picks a random initial sequence number and acknowledges the other's, and "
        "they agree on options such as the maximum segment size and window scaling "
        "(RFC 9293, section 3.5).")
    sec.paragraphs.append(
        f"It costs one round trip before any data can flow: {rtt:.2f} ms on the lab's bridge "
        f"(the client measured {float(f.get('connect_ms') or 0):.2f} ms); across the "
        "Internet that is typically tens of milliseconds.")
    return sec, syn.stream


def _tls(m: Matcher, f: Mapping[str, Any], stream: int) -> Section:
    sec = Section(f"TLS: handshake with {f.get('host')}")
    ch = m.take(lambda x: x.kind == "client-hello" and x.stream == stream)
    sh = m.take(lambda x: x.kind == "server-hello" and x.stream == stream)
    cert = m.take(lambda x: x.kind == "certificate" and x.stream == stream)
    fins = [x for x in (m.take(lambda x: x.kind == "finished" and x.stream == stream)
                        for _ in range(2)) if x is not None]
    sec.frames = [x.frame for x in (ch, sh, cert, *fins) if x is not None]
    if ch is None or ch.tls is None or sh is None or sh.tls is None:
        sec.paragraphs.append("The capture does not hold this handshake's hellos.")
        return sec
    version = sh.tls.versions[0] if sh.tls.versions else "TLS"
    group = sh.tls.groups[0] if sh.tls.groups else "an elliptic curve"
    sec.paragraphs.append(
        f"The ClientHello (frame {ch.frame}) names the site in the SNI extension "
        f"({ch.tls.sni}), so that the edge, which serves many names on one address, can pick "
        f"the right certificate. It offers {' and '.join(ch.tls.versions) or 'its versions'}, "
        f"ALPN {', '.join(ch.tls.alpn) or '(none)'} and, already, a key share: a fresh "
        f"ephemeral {', '.join(ch.tls.groups) or 'ECDHE'} public key.")
    sec.paragraphs.append(
        f"The ServerHello (frame {sh.frame}) settles on {version} with {sh.tls.cipher} and "
        f"returns the edge's own ephemeral {group} public key. Each side combines its private "
        "key with the other's public key (ECDHE) and gets the same shared secret, which never "
        "crossed the wire; HKDF turns it into the handshake keys and later the traffic keys "
        "(RFC 8446, section 7.1). Older write-ups have the client encrypt a session key with "
        "the server's RSA public key; TLS 1.3 removed that key transport. The ephemeral keys "
        "are discarded after the handshake, so even a later theft of the edge's private key "
        "would not decrypt this traffic (forward secrecy).")
    if cert is not None and cert.tls is not None and cert.tls.certs:
        leaf, chain = cert.tls.certs[0], cert.tls.certs[1:]
        inter = "".join(f" and the intermediate {c.subject}, issued by {c.issuer}"
                        for c in chain)
        sec.paragraphs.append(
            "Everything after the ServerHello is encrypted, the certificate included; this "
            "report can show it only because the run's session secrets are embedded in the "
            f"capture. The edge sent its chain (frame {cert.frame}): the leaf {leaf.subject}, "
            f"valid for {', '.join(leaf.dns_names) or 'its subject'}, issued by "
            f"{leaf.issuer}{inter}. The client verified the chain up to the lab's root CA, "
            f"the only CA it trusts, and checked that {ch.tls.sni} is among the leaf's names. "
            "With CertificateVerify the edge signs the handshake transcript with the leaf's "
            "private key, proving it holds that key.")
    if fins:
        sec.paragraphs.append(
            f"The Finished messages ({frames_text([x.frame for x in fins])}) are MACs over the "
            "whole handshake: had anyone altered a hello on the way, they would not match. "
            f"The handshake took {float(f.get('tls_ms') or 0):.2f} ms as the client measured "
            f"it; ALPN settled on {', '.join(sh.tls.alpn) or f.get('alpn') or 'HTTP/1.1'}.")
    return sec


def _upstream_text(m: Matcher, edge: str, first: int, last: int) -> tuple[str, list[int]]:
    ups = m.between(lambda x: x.src == edge and x.dst != m.client, first, last)
    if not ups:
        return "", []
    dsts = ", ".join(dict.fromkeys(host_name(x.dst) for x in ups))
    labels = "; ".join(dict.fromkeys(x.label for x in ups))
    return f" It talked to {dsts}: {labels}.", [x.frame for x in ups]


def _http(m: Matcher, f: Mapping[str, Any], stream: int | None,
          cdn: Mapping[str, Any] | None, first_hit: bool) -> Section:
    url, host = str(f.get("url")), str(f.get("host"))
    path = url.split(host, 1)[-1] or "/"
    sec = Section(f"HTTP: GET {url}")
    req = m.take(lambda x: x.kind == "request" and x.stream == stream and x.http is not None
                 and x.http.uri == path)
    if req is None:
        sec.paragraphs.append(f"No decrypted request for {path} in the capture"
                              + (f" ({f.get('error')})." if f.get("error") else "."))
        return sec
    resp = m.take(lambda x: x.kind == "response" and x.http is not None
                  and x.http.request_in == req.frame)
    sec.frames = [req.frame] + ([resp.frame] if resp else [])
    how = ("on the connection it already had open to this host (HTTP/1.1 keep-alive): no DNS "
           "lookup, no TCP or TLS handshake, only the request" if f.get("reused_connection")
           else "as the first request on the new connection")
    sec.paragraphs.append(f"The client sent GET {path} with Host: {host} (frame {req.frame}), "
                          f"{how}.")
    if resp is None or resp.http is None:
        sec.paragraphs.append("No response to it is in the capture.")
        return sec
    h = resp.http
    cache = h.header("X-Cache")
    age = f", Age: {h.header('Age')} s" if h.header("Age") else ""
    sec.paragraphs.append(
        f"{host_name(resp.src)} answered {h.status} {h.phrase} (frame {resp.frame}), "
        f"{h.header('Content-Type') or 'no content type'}, {f.get('bytes', 0)} bytes, "
        f"X-Cache: {cache or '(none)'}{age}; time to first byte {float(f.get('ttfb_ms') or 0):.2f} ms.")
    reason = f" ({cdn.get('reason')})" if cdn and cdn.get("reason") else ""
    if cache.upper().startswith("HIT"):
        why = (" The first run after the cache was emptied was a MISS; this one is fast "
               "because an earlier run paid for it." if first_hit else "")
        sec.paragraphs.append(
            f"The edge had a fresh copy{reason}, so it answered from its cache: no request went "
            f"to the origin.{why}")
    elif cache:
        text, ups = _upstream_text(m, resp.src, req.frame, resp.frame)
        sec.frames += ups
        seen = (f"{text} ({frames_text(ups)})" if ups else
                " Its connection to the origin is not in this capture.")
        upstream = (cdn or {}).get("upstream") or "the origin"
        sec.paragraphs.append(
            f"The edge had no usable copy{reason} ({cache}), so it opened its own TLS "
            f"connection to {upstream} and forwarded the request.{seen} It kept the response "
            "as Cache-Control allows, added Via and X-Cache, and relayed it. A repeat within "
            "the freshness lifetime gets a HIT.")
    return sec


def _cdn_event(events: Sequence[Mapping[str, Any]], f: Mapping[str, Any]) -> Mapping[str, Any] | None:
    url = str(f.get("url"))
    for e in events:
        if (e.get("event") == "request" and e.get("host") == f.get("host")
                and url.endswith(str(e.get("path"))) and e.get("cache") is not None
                and abs(float(e.get("time", 0)) - float(f["started"])) < 30):
            return e
    return None


def narrate(messages: Sequence[Message], timeline: Mapping[str, Any],
            events: Sequence[Mapping[str, Any]]) -> list[Section]:
    """One section per step of the run, in the order the client took them."""
    m = Matcher(messages, BY_SERVICE["client"].ipv4)
    out: list[Section] = []
    streams: dict[str, int | None] = {}
    dns_by_name = {str(d["name"]): d for d in timeline.get("dns") or []}
    after = 0
    hits = 0
    fetches = timeline.get("fetches") or []
    for f in fetches:
        host = str(f["host"])
        if not f.get("reused_connection"):
            d = dns_by_name.pop(host, None)
            if d is not None:
                sec = narrate_dns(m, d, events)
                out.append(sec)
                after = max(sec.frames, default=after)
            tcp, stream = _tcp(m, f, after)
            out.append(tcp)
            streams[host] = stream
            if stream is not None:
                out.append(_tls(m, f, stream))
        out.append(_http(m, f, streams.get(host), _cdn_event(events, f), not hits))
        hits += str(f.get("cache") or "").upper().startswith("HIT")
        if f is fetches[0] and len(fetches) > 1:
            out[-1].paragraphs.append(
                f"The page is HTML. The client parsed it, as a browser does, and found "
                f"{len(fetches) - 1} subresources to fetch: "
                + ", ".join(str(x["url"]) for x in fetches[1:]) + ".")
    fins = m.between(lambda x: x.kind == "fin", 0, 10**9)
    if fins:
        out.append(Section("TCP: connections closed", [
            f"When the page was complete the client closed its connections: each side sent a "
            f"FIN and acknowledged the other's ({frames_text([x.frame for x in fins])})."],
            [x.frame for x in fins]))
    return out

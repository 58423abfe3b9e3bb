"""The instrumented browser: open a page like a browser does, timing every phase.

Runs inside the lab's client container. For the page and each subresource it
does what a browser's network stack does, one visible step at a time:

1. DNS      ask the stub resolver's server (/etc/resolv.conf: the lab resolver)
            for the host's A record, recursion desired, and follow the CNAMEs
2. TCP      connect to port 443 (the three-way handshake)
3. TLS      handshake with SNI, verifying the chain against the lab CA only
4. HTTP     send the request, wait for the first byte, read the body
5. parse    find stylesheets, scripts, images and fonts, and fetch them the same
            way, reusing an open connection to a host already visited

A browser caches DNS answers and keeps connections alive; so does this client,
so a second host (static.example.com) costs a lookup and a handshake while a
second asset on it does not. Prints one line per event as it goes and writes
the whole timeline as JSON.

``--visits N`` opens the page again in the same process once the previous
visit has closed its connections, as a user reloading it: the client's own DNS
cache is dropped (so the lab resolver answers from *its* cache), every
connection is new but its TLS handshake resumes the session the server gave on
the first visit (a PSK from a NewSessionTicket, RFC 8446 §2.2), and every
response that carried a validator is asked for again conditionally
(If-None-Match / If-Modified-Since, RFC 9110 §13.1), so an unchanged one comes
back as 304 Not Modified with headers only.
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import ssl
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from dnslib import QTYPE, RCODE, DNSRecord

from services.client.revalidate import (
    Stored,
    conditional_headers,
    receive,
    representation_type,
)

CA_FILE = "/certs/ca.crt"
RESOLV_CONF = "/etc/resolv.conf"

Dial = Callable[[tuple[str, int], float], socket.socket]


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
    started: float
    address: str = ""
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
    conditional: dict[str, str] = field(default_factory=dict)  # validators sent


@dataclass
class Timeline:
    scenario: str
    started: float
    finished: float = 0.0
    dns: list[DnsResult] = field(default_factory=list)
    fetches: list[Fetch] = field(default_factory=list)
    ok: bool = True
    visits: int = 1


def nameserver(resolv_conf: str = RESOLV_CONF) -> str:
    for line in Path(resolv_conf).read_text().splitlines():
        words = line.split()
        if words[:1] == ["nameserver"] and len(words) > 1:
            return words[1]
    raise RuntimeError(f"no nameserver in {resolv_conf}")


def resolve(name: str, server: str, timeout: float = 5.0, port: int = 53) -> DnsResult:
    """One recursive query for NAME's A record, as a stub resolver sends it."""
    query = DNSRecord.question(name, "A")
    started = time.time()
    t0 = time.perf_counter()
    reply = DNSRecord.parse(query.send(server, port, timeout=timeout))
    ms = (time.perf_counter() - t0) * 1000
    chain = [f"{rr.rname} CNAME {rr.rdata}" for rr in reply.rr if rr.rtype == QTYPE.CNAME]
    addrs = [str(rr.rdata) for rr in reply.rr if rr.rtype == QTYPE.A]
    return DnsResult(name, server, started, round(ms, 3), RCODE[reply.header.rcode], chain, addrs)


class AssetFinder(HTMLParser):
    """Collect the URLs a browser would fetch to render the page."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if (
            tag == "link"
            and a.get("href")
            and (a.get("rel") or "") in ("stylesheet", "icon", "preload")
        ):
            self.urls.append(str(a["href"]))
        elif tag in ("script", "img") and a.get("src"):
            self.urls.append(str(a["src"]))


class Browser:
    """One browser profile: DNS, connections and TLS sessions per host, an HTTP cache.

    CA_FILE, RESOLV_CONF, DNS_PORT and DIAL default to the client container's;
    tests point them at in-process servers on 127.0.0.1.
    """

    def __init__(
        self,
        keylog: str | None,
        emit: bool = True,
        *,
        ca_file: str = CA_FILE,
        resolv_conf: str = RESOLV_CONF,
        dns_port: int = 53,
        dial: Dial = socket.create_connection,
    ) -> None:
        self.server = nameserver(resolv_conf)
        self.dns_port = dns_port
        self.dial = dial
        self.ctx = ssl.create_default_context(cafile=ca_file)  # the lab CA, nothing else
        self.ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        self.ctx.set_alpn_protocols(["http/1.1"])
        if keylog:
            self.ctx.keylog_filename = keylog
        self.dns_cache: dict[str, DnsResult] = {}
        self.conns: dict[str, http.client.HTTPSConnection] = {}
        # Kept across visits: the last TLS session (ticket) per host, and the
        # validators and bodies of the responses that had any.
        self.sessions: dict[str, ssl.SSLSession] = {}
        self.stored: dict[str, Stored] = {}
        self.visit = 1
        self.timeline = Timeline("browse", time.time())
        self.emit = emit

    def say(self, event: str, **fields: object) -> None:
        if self.emit:
            print(json.dumps({"time": time.time(), "event": event, **fields}), flush=True)

    def lookup(self, host: str) -> DnsResult:
        if host in self.dns_cache:
            hit = self.dns_cache[host]
            return DnsResult(
                host,
                hit.server,
                time.time(),
                0.0,
                hit.rcode,
                hit.chain,
                hit.addresses,
                cached_by_client=True,
            )
        self.say("dns.query", name=host, server=self.server)
        res = resolve(host, self.server, port=self.dns_port)
        res.visit = self.visit
        self.timeline.dns.append(res)
        self.say(
            "dns.answer",
            name=host,
            rcode=res.rcode,
            ms=res.ms,
            chain=res.chain,
            addresses=res.addresses,
        )
        if res.rcode != "NOERROR" or not res.addresses:
            raise RuntimeError(f"DNS lookup of {host} failed: {res.rcode}, no address")
        self.dns_cache[host] = res
        return res

    def connect(self, f: Fetch, host: str, port: int) -> http.client.HTTPSConnection:
        if host in self.conns:
            f.reused_connection = True
            return self.conns[host]
        res = self.lookup(host)
        f.dns_ms = res.ms
        f.address = res.addresses[0]
        t0 = time.perf_counter()
        raw = self.dial((f.address, port), 10.0)
        f.connect_ms = (time.perf_counter() - t0) * 1000
        self.say("tcp.connected", host=host, address=f.address, port=port, ms=f.connect_ms)
        t0 = time.perf_counter()
        saved = self.sessions.get(host)
        try:
            # With a saved session the ClientHello offers its ticket as a pre-shared
            # key; the server may accept it and skip the certificate (RFC 8446 §2.2).
            tls = self.ctx.wrap_socket(raw, server_hostname=host, session=saved)
        except ssl.SSLCertVerificationError as e:
            raw.close()
            raise RuntimeError(
                f"TLS certificate verification failed for {host}: {e.verify_message}"
            ) from e
        except OSError:
            raw.close()  # a failed handshake must not leak the socket
            raise
        f.tls_ms = (time.perf_counter() - t0) * 1000
        cipher = tls.cipher()
        self.say(
            "tls.established",
            host=host,
            version=tls.version(),
            cipher=cipher[0] if cipher else "",
            alpn=tls.selected_alpn_protocol(),
            ms=f.tls_ms,
            resumed=bool(tls.session_reused),
            offered_session=saved is not None,
        )
        conn = http.client.HTTPSConnection(host, port, context=self.ctx, timeout=30)
        conn.sock = tls
        self.conns[host] = conn
        return conn

    def fetch(self, url: str, initiator: str = "") -> tuple[Fetch, bytes]:
        parts = urlsplit(url)
        host = parts.hostname or ""
        f = Fetch(url=url, host=host, started=time.time(), initiator=initiator, visit=self.visit)
        stored = self.stored.get(url)
        t_start = time.perf_counter()
        body = b""
        try:
            conn = self.connect(f, host, parts.port or 443)
            sock = conn.sock
            if isinstance(sock, ssl.SSLSocket):
                cipher = sock.cipher()
                f.tls_version, f.cipher = sock.version() or "", cipher[0] if cipher else ""
                f.alpn = sock.selected_alpn_protocol() or ""
                f.tls_resumed = bool(sock.session_reused)
            t0 = time.perf_counter()
            path = parts.path or "/"
            f.conditional = conditional_headers(stored)
            conn.request(
                "GET",
                path + (f"?{parts.query}" if parts.query else ""),
                headers={
                    "User-Agent": "weblab-browse/0.1",
                    "Accept": "*/*",
                    "Accept-Encoding": "identity",
                    **f.conditional,
                },
            )
            f.send_ms = (time.perf_counter() - t0) * 1000
            t0 = time.perf_counter()
            resp = conn.getresponse()  # returns once the status line and headers arrived
            f.ttfb_ms = (time.perf_counter() - t0) * 1000
            t0 = time.perf_counter()
            body = resp.read()
            f.download_ms = (time.perf_counter() - t0) * 1000
            f.status, f.bytes = resp.status, len(body)
            f.content_type = resp.getheader("Content-Type", "")
            f.cache = resp.getheader("X-Cache", "")
            f.via = resp.getheader("Via", "")
            if isinstance(sock, ssl.SSLSocket) and sock.session is not None:
                # In TLS 1.3 the ticket comes after the handshake (NewSessionTicket,
                # RFC 8446 §4.6.1): read the session once a response has been read.
                self.sessions[host] = sock.session
            outcome = receive(stored, resp.status, resp.getheaders(), body)
            body = outcome.body
            if outcome.stored is not None:
                self.stored[url] = outcome.stored
            if resp.getheader("Connection", "").lower() == "close":
                self.conns.pop(host, None)
        except (OSError, RuntimeError, http.client.HTTPException) as e:
            f.error = str(e)
            self.conns.pop(host, None)
            self.timeline.ok = False
        f.total_ms = (time.perf_counter() - t_start) * 1000
        for name in (
            "dns_ms",
            "connect_ms",
            "tls_ms",
            "send_ms",
            "ttfb_ms",
            "download_ms",
            "total_ms",
        ):
            setattr(f, name, round(getattr(f, name), 3))
        self.timeline.fetches.append(f)
        self.say(
            "http.done",
            url=url,
            status=f.status,
            bytes=f.bytes,
            cache=f.cache,
            ttfb_ms=f.ttfb_ms,
            error=f.error,
            visit=f.visit,
            tls_resumed=f.tls_resumed,
            conditional=bool(f.conditional),
        )
        return f, body

    def _visit(self, url: str) -> None:
        page, body = self.fetch(url)
        shown = representation_type(page.status, page.content_type, self.stored.get(url))
        if "html" in shown:
            finder = AssetFinder()
            finder.feed(body.decode("utf-8", "replace"))
            for ref in finder.urls:
                self.fetch(urljoin(url, ref), initiator=url)
        elif not page.error:
            self.timeline.ok = False
        for conn in self.conns.values():
            conn.close()
        self.conns.clear()

    def open_page(self, url: str, visits: int = 1) -> Timeline:
        """Open URL, then open it again VISITS - 1 times as a reload."""
        self.timeline.visits = visits
        for n in range(1, visits + 1):
            self.visit = n
            # A reload starts with no answer of the client's own: the lookup goes to
            # the resolver, whose cache still holds the first visit's answers.
            self.dns_cache.clear()
            self._visit(url)
        self.timeline.finished = time.time()
        return self.timeline


def _visits(value: str) -> int:
    n = int(value)
    if n < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Open a web page through the lab, timing each step")
    ap.add_argument("url", nargs="?", default="https://www.example.com/")
    ap.add_argument("--out", type=Path, help="folder for timeline.json and the TLS key log")
    ap.add_argument(
        "--visits",
        type=_visits,
        default=1,
        help="open the page this many times, the later ones as a reload "
        "(resumed TLS, conditional requests); default 1",
    )
    args = ap.parse_args(argv)
    keylog = str(args.out / "client.keylog") if args.out else None
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
    timeline = Browser(keylog).open_page(args.url, args.visits)
    doc = json.dumps(asdict(timeline), indent=2)
    if args.out:
        (args.out / "timeline.json").write_text(doc)
    return 0 if timeline.ok else 1


if __name__ == "__main__":
    sys.exit(main())

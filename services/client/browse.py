"""The instrumented browser: open a page like a browser does, timing every phase.

Runs inside the lab's client container. For the page and each subresource it
does what a browser's network stack does, one visible step at a time:

1. DNS      ask the stub resolver's server (/etc/resolv.conf: the lab resolver)
            for the host's A record, recursion desired, and follow the CNAMEs
2. TCP      connect to port 443 (the three-way handshake)
3. TLS      handshake with SNI, verifying the chain against the lab CA only,
            ALPN choosing the HTTP version (RFC 7301); over HTTP/3, steps 2
            and 3 are one QUIC handshake on UDP port 443 (quicdial.py)
4. HTTP     send the request, wait for the first byte, read the body
5. parse    find stylesheets, scripts, images and fonts, and fetch them

``--http`` picks the HTTP version as a browser would, or forces one:

- ``auto`` (the default) offers h2 and http/1.1 and speaks what the server picks;
  like Chromium it also remembers the ``Alt-Svc: h3=":443"`` a response
  announces (altsvc.py) and opens the origin's later connections (the next
  host's request after the page, the reload) over QUIC, falling back to TCP,
  with the reason on the fetch (``fallback``), when the QUIC handshake fails
  or has no answer within ALT_SVC_WAIT. Chromium races the two; this client,
  one step at a time, tries QUIC first;
- ``3`` speaks HTTP/3 to every host, over QUIC or not at all: one connection per
  host, every request a QUIC stream on it at once (h3conn.py);
- ``2`` offers only h2: a server that does not pick it fails the fetch. One
  connection per host; a host's subresources all go out at once as streams
  on it (h2conn.py);
- ``1.1``: keep-alive, and up to six connections per host, each taking the next
  subresource when free (h1pool.py);
- ``1.0``: a new connection for every request (HTTP/1.0 has no keep-alive
  unless the server offers it); ALPN still says http/1.1, as no token names 1.0.

A browser caches DNS answers and keeps connections alive; so does this client,
so a second host (static.example.com) costs a lookup and a handshake while a
second asset on it rides on an open connection. Hosts are fetched one after
the other, in the order the page names them (the lab's subresources all live
on one host), so the order of the DNS questions is the page's. Prints one line
per event as it goes and writes the whole timeline as JSON, in the page's order.

``--visits N`` opens the page again in the same process once the previous
visit has closed its connections, as a user reloading it: the client's own DNS
cache is dropped (so the lab resolver answers from *its* cache), every
connection is new but its TLS handshake resumes the session the server gave on
the first visit (a PSK from a NewSessionTicket, RFC 8446 §2.2), and every
response that carried a validator is asked for again conditionally
(If-None-Match / If-Modified-Since, RFC 9110 §13.1), so an unchanged one comes
back as 304 Not Modified with headers only. Cookies (cookies.py) last the run.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import threading
import time
from collections import deque
from dataclasses import asdict
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from services.client import h1pool
from services.client.altsvc import AltSvcCache
from services.client.assets import AssetFinder
from services.client.connect import ALPN_OFFER, Connector, Dial
from services.client.cookies import Jar
from services.client.exchange import Conn, Job, Response, elapsed_ms
from services.client.h2conn import H2Conn
from services.client.h3conn import H3Conn
from services.client.quicdial import QuicConnector, QuicLink, Route
from services.client.revalidate import (
    Stored,
    conditional_headers,
    field_value,
    receive,
    representation_type,
)
from services.client.stub import RESOLV_CONF, Stub, nameserver
from services.client.timeline import DnsResult, Fetch, Timeline

__all__ = ["Browser", "DnsResult", "Fetch", "Timeline", "main"]

CA_FILE = "/certs/ca.crt"
USER_AGENT = "weblab-browse/0.1"
TIMED = ("dns_ms", "connect_ms", "tls_ms", "send_ms", "ttfb_ms", "download_ms", "total_ms")
HTTP_CHOICES = (*ALPN_OFFER, "3")  # "3": QUIC only (no TCP, so no ALPN offer over TCP)
ALT_SVC_WAIT = 2.0  # seconds a QUIC handshake learned from Alt-Svc gets before TCP is used


class Browser:
    """One browser profile: DNS, connections and TLS sessions per host, an HTTP cache, cookies.

    HTTP is the --http choice. CA_FILE, RESOLV_CONF, DNS_PORT, DIAL (TCP) and
    UDP_ROUTE (QUIC) default to the client container's; tests point them at
    in-process servers on 127.0.0.1.
    TIMEOUT bounds each connect and each wait for the server; ALT_SVC_WAIT the
    QUIC handshake tried for an Alt-Svc alternative before falling back to TCP.
    """

    def __init__(
        self,
        keylog: str | None,
        emit: bool = True,
        *,
        http: str = "auto",
        ca_file: str = CA_FILE,
        resolv_conf: str = RESOLV_CONF,
        dns_port: int = 53,
        dial: Dial = socket.create_connection,
        timeout: float = 30.0,
        alt_svc_wait: float = ALT_SVC_WAIT,
        udp_route: Route = lambda addr: addr,
    ) -> None:
        if http not in HTTP_CHOICES:
            raise ValueError(f"http must be one of {', '.join(HTTP_CHOICES)}, not {http!r}")
        self.http, self.timeout, self.alt_svc_wait = http, timeout, alt_svc_wait
        tcp = http if http in ALPN_OFFER else "auto"  # under "3", TCP is never dialled
        self.connector = Connector(tcp, ca_file, keylog, dial, timeout, self.say)
        self.quic = QuicConnector(ca_file, keylog, self.say, self.connector.number, udp_route)
        self.timeline = Timeline("browse", time.time(), http=http)
        self.dns = Stub(nameserver(resolv_conf), dns_port, self.timeline.dns, self.say)
        # The connections of the current visit, per host: HTTP/2's or HTTP/3's
        # one, or the HTTP/1.1 ones that are open and free.
        self.mux: dict[str, H2Conn | H3Conn] = {}
        self.idle: dict[str, list[Conn]] = {}
        # Kept across visits: the validators and bodies of the responses that had
        # any, the cookies and the Alt-Svc alternatives (the TLS sessions and
        # QUIC tickets are the connectors').
        self.stored: dict[str, Stored] = {}
        self.jar = Jar(time.time)
        self.altsvc = AltSvcCache()
        self.visit = 1
        self.emit = emit
        # HTTP/1.x's connections run in threads: a lock for the output and the cache.
        self._lock = threading.Lock()

    def say(self, event: str, **fields: object) -> None:
        if self.emit:
            line = json.dumps({"time": time.time(), "event": event, **fields})
            with self._lock:
                print(line, flush=True)

    def lookup(self, host: str) -> DnsResult:
        return self.dns.lookup(host, self.visit)

    def open(self, job: Job) -> Conn:
        """A new connection for JOB: DNS (or the client's cache), TCP, TLS."""
        return self.connector.open(job, self.lookup(job.fetch.host))

    def _open_h1(self, job: Job) -> Conn:
        conn = self.open(job)
        if conn.protocol == "2":  # only auto can get here, from a server that changed its mind
            conn.close()
            raise RuntimeError(f"{job.fetch.host} chose h2 on a later connection, not http/1.1")
        return conn

    def begin(self, job: Job) -> None:
        """Fill in JOB's request now that a connection takes it (an Exchanges method)."""
        if job.began:
            return
        f = job.fetch
        job.began, f.started = time.perf_counter(), time.time()
        f.conditional = conditional_headers(self.stored.get(f.url))
        job.fields = [
            ("User-Agent", USER_AGENT),
            ("Accept", "*/*"),
            ("Accept-Encoding", "identity"),
            *f.conditional.items(),
        ]
        cookie = self.jar.header(f.host, job.path)
        if cookie:  # one field, also over HTTP/2 (RFC 9113 §8.2.3 allows either)
            job.fields.append(("Cookie", cookie))

    def done(self, job: Job, result: Response | Exception) -> None:
        """Record JOB's outcome (an Exchanges method)."""
        f = job.fetch
        if isinstance(result, Exception):
            f.error = str(result) or type(result).__name__
            self.timeline.ok = False
        else:
            f.status, f.bytes = result.status, len(result.body)
            f.content_type = field_value(result.fields, "Content-Type")
            f.cache = field_value(result.fields, "X-Cache")
            f.via = field_value(result.fields, "Via")
            if isinstance(job.conn, Conn):
                self.connector.remember(f.host, job.conn.sock)
            if self.http == "auto":
                alt_svc = field_value(result.fields, "Alt-Svc")
                self.altsvc.learn((f.host, job.port), alt_svc, time.time())
            self.jar.receive(f.host, job.path, result.fields)
            with self._lock:
                outcome = receive(self.stored.get(f.url), result.status, result.fields, result.body)
                if outcome.stored is not None:
                    self.stored[f.url] = outcome.stored
            job.content = outcome.body
        f.total_ms = elapsed_ms(job.began)
        for name in TIMED:
            setattr(f, name, round(getattr(f, name), 3))
        self.say(
            "http.done",
            url=f.url,
            status=f.status,
            bytes=f.bytes,
            cache=f.cache,
            ttfb_ms=f.ttfb_ms,
            error=f.error,
            visit=f.visit,
            tls_resumed=f.tls_resumed,
            conditional=bool(f.conditional),
            http_version=f.http_version,
            connection=f.connection,
            stream_id=f.stream_id,
            fallback=f.fallback,
        )

    def _job(self, url: str, initiator: str = "") -> Job:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port or 443
        f = Fetch(url=url, host=host, started=time.time(), initiator=initiator, visit=self.visit)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return Job(f, host if port == 443 else f"{host}:{port}", path, port)

    def _host(self, jobs: list[Job]) -> None:
        """Fetch JOBS, all for one host, the way its connection's protocol allows."""
        host = jobs[0].fetch.host
        waiting = deque(jobs)
        while waiting:
            mux = self.mux.get(host)
            if mux is not None and not mux.failed:
                mux.fetch(list(waiting))
                return
            if mux is not None:  # ended by the server (GOAWAY): the next request opens anew
                self.mux.pop(host).close()
            if host in self.idle:
                idle = self.idle.pop(host)
                self.idle[host] = h1pool.run(list(waiting), idle, self._open_h1, self)
                return
            # A first connection tells which protocol the host speaks (ALPN); a
            # browser, too, waits for it before opening more.
            job = waiting.popleft()
            self.begin(job)
            try:
                conn = self._connect(job)
            except (OSError, RuntimeError) as e:
                self.done(job, e)
                continue  # the next request tries a connection of its own
            try:
                if isinstance(conn, H3Conn):
                    self.mux[host] = conn  # JOB's request already left with the handshake
                elif conn.protocol == "2":
                    self.mux[host] = H2Conn(conn, self)  # sends the preface
                else:
                    self.idle[host] = [conn]
            except OSError as e:
                conn.close()
                self.done(job, e)
                continue
            waiting.appendleft(job)

    def _h3(self, job: Job, res: DnsResult, port: int, timeout: float) -> H3Conn:
        """An HTTP/3 connection whose handshake carries JOB's request (0-RTT when resumed)."""
        made: list[H3Conn] = []

        def early(link: QuicLink) -> None:
            conn = H3Conn(link, self, self.timeout)
            conn.send_early([job])
            made.append(conn)

        self.quic.open(job, res, port, timeout, early)
        return made[0]

    def _connect(self, job: Job) -> Conn | H3Conn:
        """JOB's new connection: QUIC under --http 3 or for a known h3 alternative, else TCP."""
        f = job.fetch
        if self.http == "3":
            res = self.lookup(f.host)
            return self._h3(job, res, job.port, min(10.0, self.timeout))
        origin = (f.host, job.port)
        alt = self.altsvc.lookup(origin, time.time()) if self.http == "auto" else None
        if alt is None:
            return self.open(job)
        # RFC 7838 §2.1: the alternative may be another host, but the certificate
        # must still be the origin's, so SNI stays f.host (quicdial does that).
        where = f"{alt.host or f.host}:{alt.port}"
        try:
            return self._h3(job, self.lookup(alt.host or f.host), alt.port, self.alt_svc_wait)
        except (OSError, RuntimeError) as e:
            self.altsvc.mark_broken(origin, time.time())
            f.fallback = f"HTTP/3 to {where} (Alt-Svc) failed after {f.tls_ms:.0f} ms: {e}"
            self.say("quic.fallback", host=f.host, alternative=where, why=str(e), ms=f.tls_ms)
            f.connect_ms = f.tls_ms = 0.0
        return self.open(job)

    def _visit(self, url: str) -> None:
        page = self._job(url)
        self._host([page])
        self.timeline.fetches.append(page.fetch)
        f = page.fetch
        shown = representation_type(f.status, f.content_type, self.stored.get(url))
        if "html" in shown:
            finder = AssetFinder()
            finder.feed(page.content.decode("utf-8", "replace"))
            subs = [self._job(urljoin(url, ref), initiator=url) for ref in finder.urls]
            by_host: dict[str, list[Job]] = {}
            for job in subs:
                by_host.setdefault(job.fetch.host, []).append(job)
            for jobs in by_host.values():
                self._host(jobs)
            self.timeline.fetches += [job.fetch for job in subs]
        elif not f.error:
            self.timeline.ok = False
        for mux in self.mux.values():
            mux.close()
        for conns in self.idle.values():
            for conn in conns:
                conn.close()
        self.mux.clear()
        self.idle.clear()

    def open_page(self, url: str, visits: int = 1) -> Timeline:
        """Open URL, then open it again VISITS - 1 times as a reload."""
        self.timeline.visits = visits
        for n in range(1, visits + 1):
            self.visit = n
            # A reload starts with no answer of the client's own: the lookup goes to
            # the resolver, whose cache still holds the first visit's answers.
            self.dns.forget()
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
    ap.add_argument(
        "--http",
        choices=list(HTTP_CHOICES),
        default="auto",
        help="HTTP version: auto (ALPN h2 or http/1.1, the server picks; h3 once a "
        "response's Alt-Svc offers it, TCP if QUIC fails), 3 (HTTP/3 over QUIC or fail), "
        "2 (h2 or fail), 1.1 (keep-alive, 6 connections per host), 1.0 (a connection "
        "per request); default auto",
    )
    args = ap.parse_args(argv)
    # The key log the capture decrypts TLS and QUIC with: the run folder's, else
    # SSLKEYLOGFILE as browsers and curl honour it.
    keylog = str(args.out / "client.keylog") if args.out else os.environ.get("SSLKEYLOGFILE")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
    timeline = Browser(keylog, http=args.http).open_page(args.url, args.visits)
    doc = json.dumps(asdict(timeline), indent=2)
    if args.out:
        (args.out / "timeline.json").write_text(doc)
    return 0 if timeline.ok else 1


if __name__ == "__main__":
    sys.exit(main())

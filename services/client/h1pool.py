"""HTTP/1.0 and HTTP/1.1 for the browser: one exchange at a time per connection, six per host.

An HTTP/1.1 connection stays open for the next request (RFC 9112 §9.3) but
carries one exchange at a time. Pipelining (§9.3.2) would send the next request
before the last response ended, yet a slow response still holds up every one
behind it, and browsers gave it up. What they do instead is open several
connections to a host and hand each request to whichever is free: six per host
in Chrome, Firefox and Safari. RFC 9112 §9.4 asks clients to limit their
connections and no longer names a number (RFC 2616 said two).

HTTP/1.0 (RFC 1945) has no persistent connections: the server closes after
each response, which is how the client knows the body ended when there is no
Content-Length (RFC 1945 §7.2.2). Keep-alive was an extension a 1.0 client
asked for with ``Connection: keep-alive`` (RFC 9112 Appendix C.2.2); this
client does not ask, so every request costs a new TCP and TLS handshake,
unless a server volunteers ``Connection: keep-alive`` in its response.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

from services.client.exchange import Conn, Exchanges, Job, Response, elapsed_ms, stamp

LIMIT = 6  # connections per host, as browsers do


def request_bytes(job: Job, version: str) -> bytes:
    """The request head: request line, Host (RFC 9112 §3.2) and JOB's fields."""
    # HTTP/1.0 had no Host field, but every 1.0 client since the late 1990s sends
    # it: without it a server holding several names cannot tell which is meant.
    lines = [f"GET {job.path} HTTP/{version}", f"Host: {job.authority}"]
    lines += [f"{name}: {value}" for name, value in job.fields]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def exchange(conn: Conn, job: Job) -> tuple[Response, bool]:
    """Send JOB on CONN and read the whole response; also whether CONN can carry another."""
    f = job.fetch
    t0 = time.perf_counter()
    conn.sock.sendall(request_bytes(job, conn.protocol))
    f.send_ms = elapsed_ms(t0)
    t0 = time.perf_counter()
    # http.client's parser frames the body as RFC 9112 §6.3 says: chunked,
    # Content-Length, or (a 1.0 response without either) until the server closes.
    resp = http.client.HTTPResponse(conn.sock, method="GET")
    try:
        resp.begin()  # returns once the status line and the header section arrived
        f.ttfb_ms = elapsed_ms(t0)
        t0 = time.perf_counter()
        body = resp.read()
        f.download_ms = elapsed_ms(t0)
    finally:
        resp.close()
    keep = not resp.will_close
    if conn.protocol == "1.0":
        # A response to a 1.0 request persists only if the server says so, whatever
        # version its status line names (RFC 9112 §9.3).
        said = resp.getheader("Connection", "") or ""
        keep = keep and "keep-alive" in [t.strip().lower() for t in said.split(",")]
    return Response(resp.status, resp.getheaders(), body), keep


def run(
    jobs: Sequence[Job],
    idle: Sequence[Conn],
    connect: Callable[[Job], Conn],
    browser: Exchanges,
    limit: int = LIMIT,
) -> list[Conn]:
    """Fetch JOBS from one host over at most LIMIT connections at once; return those still open.

    Each connection is a worker: the i-th starts with the i-th job, on the i-th
    IDLE connection when there is one, else on a new one from CONNECT; then it
    takes the next job left, until none is. So a page with five images on a host
    opens five connections (minus those idle), whatever the timing.
    """
    queue = deque(jobs)
    n = min(limit, len(queue))
    starts = [(idle[i] if i < len(idle) else None, queue.popleft()) for i in range(n)]
    kept = list(idle[n:])  # more idle connections than work: they stay idle
    lock = threading.Lock()

    def work(conn: Conn | None, job: Job | None) -> None:
        while job is not None:
            conn = _carry(conn, job, connect, browser)
            with lock:
                job = queue.popleft() if queue else None
        if conn is not None:
            with lock:
                kept.append(conn)

    threads = [
        threading.Thread(target=work, args=start, name=f"h1-{i}")
        for i, start in enumerate(starts[1:], 2)
    ]
    for t in threads:
        t.start()
    if starts:
        work(*starts[0])  # the first worker is the calling thread
    for t in threads:
        t.join()
    return kept


def _carry(
    conn: Conn | None, job: Job, connect: Callable[[Job], Conn], browser: Exchanges
) -> Conn | None:
    """One job on CONN (or a new connection); the connection if it stays usable."""
    browser.begin(job)
    try:
        if conn is None:
            conn = connect(job)
        stamp(job, conn)
        resp, keep = exchange(conn, job)
    except (OSError, RuntimeError, http.client.HTTPException) as e:
        if conn is not None:
            conn.close()
        browser.done(job, e)
        return None
    browser.done(job, resp)
    if not keep:
        conn.close()
        return None
    return conn

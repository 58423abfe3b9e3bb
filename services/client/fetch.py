"""One HTTP request as an API client makes it: JSON, auth, retries with backoff.

Runs inside the client container. Retries follow what a careful client does:
only for answers that invite one (429 and 503, or a dropped connection), only
for requests that are safe to repeat (idempotent methods, or a POST carrying
an Idempotency-Key so the server can recognise the repeat), waiting as long as
Retry-After says (RFC 9110 §10.2.3) or an exponential backoff with jitter.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import socket
import ssl
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

CA_FILE = "/certs/ca.crt"
IDEMPOTENT = {"GET", "HEAD", "PUT", "DELETE", "OPTIONS"}
RETRY_STATUS = {429, 503}
DEMO_USER = {"username": "alice", "password": "wonderland"}
EXPIRED_WAIT = 7.0  # 1 s lifetime + the API's 5 s leeway + 1


@dataclass
class Attempt:
    started: float
    status: int = 0
    ms: float = 0.0
    error: str = ""
    retry_after: str = ""
    waited_s: float = 0.0


@dataclass
class FetchResult:
    method: str
    url: str
    status: int = 0
    ok: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    error: str = ""
    attempts: list[Attempt] = field(default_factory=list)
    idempotency_key: str = ""
    redirects: list[str] = field(default_factory=list)


def _context(keylog: str | None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=CA_FILE)
    if keylog:
        ctx.keylog_filename = keylog
    return ctx


def _connection(
    url: str, ctx: ssl.SSLContext, connect_to: str | None
) -> http.client.HTTPConnection:
    """Open the connection; ``connect_to`` = "address:port" overrides DNS, like curl's
    --connect-to: the TLS name (SNI and the certificate check) stays the URL's host."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    addr, to_port = connect_to.rsplit(":", 1) if connect_to else (host, str(port))
    raw = socket.create_connection((addr, int(to_port)), timeout=15)
    if not https:
        conn = http.client.HTTPConnection(host, port, timeout=15)
        conn.sock = raw
        return conn
    try:
        tls = ctx.wrap_socket(raw, server_hostname=host)
    except ssl.SSLCertVerificationError as e:
        raw.close()
        # Report the check that failed as OpenSSL names it, not "connection error".
        raise CertificateError(
            f"TLS certificate verification failed: {e.verify_message} "
            f"(OpenSSL error {e.verify_code})"
        ) from e
    conn = http.client.HTTPSConnection(host, port, context=ctx, timeout=15)
    conn.sock = tls
    return conn


class CertificateError(OSError):
    """The server's certificate was refused; the message says which check failed."""


def _once(
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes | None,
    ctx: ssl.SSLContext,
    connect_to: str | None = None,
) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(url)
    conn = _connection(url, ctx, connect_to)
    try:
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def _delay(attempt: int, retry_after: str, cap: float = 10.0) -> float:
    """Seconds to wait: Retry-After when the server gave one, else backoff with jitter."""
    if retry_after.isdigit():
        return float(min(float(retry_after), cap))
    return float(min(cap, 0.2 * 2**attempt) * random.uniform(0.5, 1.0))


def login(base: str, ctx: ssl.SSLContext, retries: int = 0, expires_in: int | None = None) -> str:
    """Log in as the demo user, retrying 429/503 as told (login is safe to repeat)."""
    creds: dict[str, object] = dict(DEMO_USER)
    if expires_in is not None:
        creds["expires_in"] = expires_in
    for n in range(retries + 1):
        status, headers, body = _once(
            "POST",
            base + "/api/login",
            {"Content-Type": "application/json"},
            json.dumps(creds).encode(),
            ctx,
        )
        if status in RETRY_STATUS and n < retries:
            time.sleep(_delay(n, headers.get("retry-after", "")))
            continue
        if status != 200:
            raise RuntimeError(f"login failed with {status}: {body[:200]!r}")
        return str(json.loads(body)["access_token"])
    raise AssertionError("unreachable")


def fetch(
    method: str,
    url: str,
    headers: dict[str, str] | None = None,
    payload: Any = None,
    retries: int = 0,
    token: str | None = None,
    keylog: str | None = None,
    connect_to: str | None = None,
    follow: bool = False,
) -> FetchResult:
    ctx = _context(keylog)
    method = method.upper()
    hdrs = {"User-Agent": "weblab-fetch/0.1", "Accept": "application/json"}
    hdrs.update(headers or {})
    result = FetchResult(method, url)
    body = None
    if payload is not None:
        body = json.dumps(payload).encode()
        hdrs.setdefault("Content-Type", "application/json")
    if token in ("login", "tampered", "expired"):
        parts = urlsplit(url)
        try:
            # "expired": a token asked to live one second, used once it is past
            # the API's 5 s clock-skew leeway (RFC 7519 §4.1.4).
            real = login(
                f"{parts.scheme}://{parts.netloc}", ctx, retries, 1 if token == "expired" else None
            )
            if token == "expired":
                time.sleep(EXPIRED_WAIT)
        except (RuntimeError, OSError, http.client.HTTPException) as e:
            result.error = f"could not get a token: {e}"
            return result
        # "tampered": the payload's last character changed, the signature kept, as
        # an attacker editing the claims would: the API must refuse it.
        head, claims, sig = real.split(".")
        token = (
            f"{head}.{claims[:-1]}{'A' if claims[-1] != 'A' else 'B'}.{sig}"
            if token == "tampered"
            else real
        )
    if token:
        hdrs["Authorization"] = f"Bearer {token}"
    if retries and method not in IDEMPOTENT:
        # Without a key a repeated POST could create a second row (draft-ietf-
        # httpapi-idempotency-key-header); with it the server replays the first answer.
        hdrs.setdefault("Idempotency-Key", str(uuid.uuid4()))
    result.idempotency_key = hdrs.get("Idempotency-Key", "")
    n = 0
    while n <= retries:
        a = Attempt(time.time())
        t0 = time.perf_counter()
        try:
            status, rh, raw = _once(method, url, hdrs, body, ctx, connect_to)
        except (OSError, http.client.HTTPException) as e:
            a.error, a.ms = f"{type(e).__name__}: {e}", (time.perf_counter() - t0) * 1000
            result.attempts.append(a)
            result.error = a.error
            if n < retries and not isinstance(e, CertificateError):
                a.waited_s = _delay(n, "")
                time.sleep(a.waited_s)
                n += 1
                continue
            return result
        a.status, a.ms = status, round((time.perf_counter() - t0) * 1000, 3)
        a.retry_after = rh.get("retry-after", "")
        result.attempts.append(a)
        result.status, result.headers, result.error = status, rh, ""
        try:
            result.body = json.loads(raw) if raw else None
        except ValueError:
            result.body = raw.decode("utf-8", "replace")[:2000]
        if status in RETRY_STATUS and n < retries:
            a.waited_s = _delay(n, a.retry_after)
            time.sleep(a.waited_s)
            n += 1
            continue
        location = rh.get("location", "")
        if (
            follow
            and status in (301, 302, 303, 307, 308)
            and location
            and len(result.attempts) < 10
        ):
            # Follow as a browser does: 303 (and 301/302 after a POST) become GET.
            result.redirects.append(f"{status} {url} -> {location}")
            url = urljoin(url, location)
            result.url = url
            if status == 303 or (status in (301, 302) and method == "POST"):
                method, body = "GET", None
            continue
        break
    result.ok = 200 <= result.status < 400
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="One HTTP request with retries, as JSON")
    ap.add_argument("method")
    ap.add_argument("url")
    ap.add_argument("--header", action="append", default=[], help="Name: value")
    ap.add_argument("--json", dest="payload", help="request body, JSON text")
    ap.add_argument("--retries", type=int, default=0)
    ap.add_argument(
        "--token",
        help="a bearer token; `login`: log in as the demo user first; "
        "`tampered`: that token with its claims altered; "
        "`expired`: a 1-second token, used 7 s later",
    )
    ap.add_argument("--keylog")
    ap.add_argument("--connect-to", help="ADDRESS:PORT to connect to instead of the URL's host")
    ap.add_argument("--follow", action="store_true", help="follow redirects, as a browser does")
    args = ap.parse_args(argv)
    headers = dict(h.split(":", 1) for h in args.header)
    headers = {k.strip(): v.strip() for k, v in headers.items()}
    payload = json.loads(args.payload) if args.payload is not None else None
    res = fetch(
        args.method,
        args.url,
        headers,
        payload,
        args.retries,
        args.token,
        args.keylog,
        args.connect_to,
        args.follow,
    )
    print(json.dumps(asdict(res)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

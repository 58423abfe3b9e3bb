"""``python -m services.client.h3get [options] URL``: one HTTP/3 request, curl-style.

Debian bookworm's curl has no HTTP/3, so this is the lab's: the browser's own
QUIC dialer (quicdial.py) and HTTP/3 streams (h3conn.py), trusting only the
lab CA, with QUIC's TLS secrets appended to ``SSLKEYLOGFILE`` when set, so a
capture of the request decrypts. Options and exit codes follow curl's, so a
command line moves between the two.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time
from typing import BinaryIO, TextIO
from urllib.parse import urlsplit

from services.client.exchange import Job, Response, elapsed_ms
from services.client.h3conn import H3Conn
from services.client.quicdial import QuicConnector, QuicHandshakeError, QuicLink
from services.client.timeline import DnsResult, Fetch

CA_FILE = "/certs/ca.crt"  # the lab CA, as browse and fetch trust it
# curl's exit codes (man curl, EXIT CODES), so scripts written for curl work.
EXIT_USAGE = 2
EXIT_URL = 3
EXIT_RESOLVE = 6
EXIT_CONNECT = 7
EXIT_HTTP = 22  # --fail and a status >= 400
EXIT_TIMEOUT = 28
EXIT_TLS = 35
EXIT_CERT = 60
EPILOG = """\
exit status (curl's): 0 any HTTP response (with -f/--fail: a status below
400, else 22 and no body, as curl -f); 3 malformed URL; 6 name not resolved;
7 no QUIC server there (ICMP port unreachable); 28 handshake or response timed
out; 35 QUIC/TLS handshake failed; 60 certificate not trusted by the lab CA;
1 any other failure; 2 usage error.
"""


class Result:
    """The one exchange's outcome (an exchange.Exchanges for h3conn)."""

    def __init__(self) -> None:
        self.response: Response | Exception | None = None

    def begin(self, job: Job) -> None:
        job.began = job.began or time.perf_counter()

    def done(self, job: Job, result: Response | Exception) -> None:
        self.response = result


class Failure(Exception):
    """What went wrong, in one line, and curl's exit code for it."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def _field(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"not a 'Name: value' header: {text!r}")
    return name.strip(), value.strip()


def _resolve_entry(text: str) -> tuple[str, int, str]:
    host, _, rest = text.partition(":")
    port, _, address = rest.partition(":")
    if not host or not port.isdigit() or not address:
        raise argparse.ArgumentTypeError(f"--resolve wants HOST:PORT:ADDRESS, not {text!r}")
    return host, int(port), address.strip("[]")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="h3get",
        description="Make one HTTP/3 request over QUIC, trusting the lab CA (curl-like).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("url", help="an https:// URL (UDP port 443 unless given)")
    ap.add_argument("-I", "--head", action="store_true", help="HEAD; print the status and fields")
    ap.add_argument("-i", "--include", action="store_true", help="print the fields before the body")
    ap.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="handshake, request and response fields on stderr (> sent, < received, * connection)",
    )
    ap.add_argument(
        "-X", "--request", metavar="METHOD", help="method (default GET, POST with --data)"
    )
    ap.add_argument(
        "-H",
        "--header",
        metavar="'Name: value'",
        type=_field,
        action="append",
        default=[],
        help="a request field (repeatable)",
    )
    ap.add_argument("--data", metavar="JSON", help="request body, sent as application/json")
    ap.add_argument(
        "-f", "--fail", action="store_true", help="exit 22, no body, on a status >= 400"
    )
    ap.add_argument(
        "--cacert", default=CA_FILE, help=f"CA certificate to trust (default {CA_FILE})"
    )
    ap.add_argument(
        "--resolve",
        metavar="HOST:PORT:ADDRESS",
        type=_resolve_entry,
        action="append",
        default=[],
        help="use ADDRESS for HOST:PORT, not DNS (curl's)",
    )
    ap.add_argument(
        "--connect-timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="QUIC handshake limit (default 10)",
    )
    ap.add_argument(
        "-m",
        "--max-time",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="response wait after the handshake (default 30)",
    )
    return ap


def _lookup(host: str, port: int, pinned: list[tuple[str, int, str]]) -> DnsResult:
    t0 = time.perf_counter()
    for name, at, address in pinned:
        if (name, at) == (host, port):
            return DnsResult(host, "--resolve", time.time(), 0.0, "NOERROR", [], [address])
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    except socket.gaierror as e:
        raise Failure(EXIT_RESOLVE, f"could not resolve host {host}: {e.strerror}") from e
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    return DnsResult(host, "system", time.time(), elapsed_ms(t0), "NOERROR", [], addresses)


def _handshake_failure(e: QuicHandshakeError) -> Failure:
    codes = {"timeout": EXIT_TIMEOUT, "refused": EXIT_CONNECT, "tls": EXIT_CERT}
    return Failure(codes.get(e.kind, EXIT_TLS), str(e))


def fetch(args: argparse.Namespace, err: TextIO) -> tuple[Job, Response]:
    """Make the request ARGS describe; its job (with timings) and response, or Failure."""
    parts = urlsplit(args.url)
    if parts.scheme != "https" or not parts.hostname:
        raise Failure(EXIT_URL, f"not an https:// URL: {args.url!r} (HTTP/3 is https only)")
    host, port = parts.hostname, parts.port or 443
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    job = Job(Fetch(args.url, host, time.time()), host if port == 443 else f"{host}:{port}", path)
    job.method = args.request or ("HEAD" if args.head else "POST" if args.data else "GET")
    job.fields = [("User-Agent", "weblab-h3get"), ("Accept", "*/*")]
    if args.data is not None:
        job.body = args.data.encode()
        job.fields.append(("Content-Type", "application/json"))
    named = {name.lower() for name, _ in args.header}
    job.fields = [(n, v) for n, v in job.fields if n.lower() not in named] + args.header
    res = _lookup(host, port, args.resolve)
    keylog = os.environ.get("SSLKEYLOGFILE") or None

    def say(event: str, **fields: object) -> None:
        if args.verbose and event == "quic.established":
            resumed = "resumed" if fields.get("resumed") else "full"
            print(
                f"* QUIC to {fields['address']} UDP {fields['port']}: {fields['version']} "
                f"{fields['cipher']}, ALPN {fields['alpn']}, {resumed} handshake in "
                f"{float(str(fields['ms'])):.1f} ms",
                file=err,
            )

    result = Result()
    made: list[H3Conn] = []

    def early(link: QuicLink) -> None:
        made.append(H3Conn(link, result, args.max_time))
        made[0].send_early([job])  # with the Finished (h3get has no ticket: no 0-RTT)

    connector = QuicConnector(args.cacert, keylog, say, lambda: 1)
    try:
        connector.open(job, res, port, args.connect_timeout, early)
    except QuicHandshakeError as e:
        raise _handshake_failure(e) from e
    except OSError as e:
        raise Failure(1, f"QUIC connection to {host}: {e}") from e
    if args.verbose:
        print(f"> {job.method} {path} HTTP/3", file=err)
        print(f"> :authority: {job.authority}", file=err)
        for name, value in job.fields:
            print(f"> {name.lower()}: {value}", file=err)
    conn = made[0]
    try:
        conn.fetch([job])
    finally:
        conn.close()
    outcome = result.response
    if isinstance(outcome, Exception):
        timed_out = str(outcome).startswith("no answer over HTTP/3")
        raise Failure(EXIT_TIMEOUT if timed_out else 1, str(outcome))
    if outcome is None:
        raise Failure(1, f"no response from {host} over HTTP/3")
    return job, outcome


def _head(response: Response) -> str:
    return "".join(
        [f"HTTP/3 {response.status}\r\n", *(f"{n}: {v}\r\n" for n, v in response.fields), "\r\n"]
    )


def main(
    argv: list[str] | None = None, out: BinaryIO | None = None, err: TextIO | None = None
) -> int:
    out = sys.stdout.buffer if out is None else out
    err = sys.stderr if err is None else err
    args = parser().parse_args(argv)
    if args.data is not None:
        try:
            json.loads(args.data)
        except ValueError as e:
            print(f"h3get: --data is not JSON: {e}", file=err)
            return EXIT_USAGE
    try:
        _job, response = fetch(args, err)
    except Failure as e:
        print(f"h3get: {e}", file=err)
        return e.code
    failed = args.fail and response.status >= 400
    if args.verbose:
        for line in _head(response).splitlines()[:-1]:
            print(f"< {line}" if line else "<", file=err)
    if failed:
        print(f"h3get: the requested URL returned error: {response.status}", file=err)
        return EXIT_HTTP
    if args.head or args.include:
        out.write(_head(response).encode("latin-1"))
    if not args.head:
        out.write(response.body)
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``python -m services.cdn --cert C --key K --ca CA --port 443 --route HOST=URL ...``

--route PUBLIC_HOST=https://UPSTREAM[:PORT][,https://UPSTREAM2...]
                                repeatable; several upstreams are used round-robin
                                with failover; each is reached by its own name (SNI,
                                Host, certificate)
--resolve UPSTREAM:PORT:ADDRESS optional, repeatable, as curl's --resolve
--health-interval SECONDS       active GET of --health-path on every upstream (0: off)
--plain                         test mode: listen without TLS, allow http:// upstreams
                                (no --cert/--key/--ca needed); for http-cache-tests
--no-uvloop                     the standard asyncio loop even when uvloop is installed
Environment: SSLKEYLOGFILE (optional; TLS key log for client and upstream sides);
EDGE_EXTRA_ROUTES (optional; more --route values, space-separated: a user's own
services, `lab up --with weblab.yaml`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import ssl
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from services.cdn.app import EdgeConfig, make_app
from services.cdn.routing import RouteError, Router, parse_resolve, parse_route
from services.common.httpserver import run
from services.common.logs import setup
from services.common.redirect import make_redirect_app
from services.common.tls import client_context, server_context


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m services.cdn", description="The lab's CDN edge: TLS, routing, cache."
    )
    parser.add_argument("--cert", type=Path, help="leaf + intermediate, PEM")
    parser.add_argument("--key", type=Path, help="private key, PEM")
    parser.add_argument("--ca", type=Path, help="root CA that upstreams chain to")
    parser.add_argument(
        "--plain",
        action="store_true",
        help="listen on plain HTTP and allow http:// upstreams (test mode)",
    )
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=443)
    parser.add_argument(
        "--no-h3",
        action="store_true",
        help="TCP only: no HTTP/3 on UDP --port and no Alt-Svc (default: HTTP/3 on)",
    )
    parser.add_argument(
        "--route", action="append", default=[], metavar="HOST=URL[,URL...]", required=True
    )
    parser.add_argument("--resolve", action="append", default=[], metavar="NAME:PORT:ADDR")
    parser.add_argument("--upstream-timeout", type=float, default=10.0, metavar="SECONDS")
    parser.add_argument("--cache-entries", type=int, default=1000)
    parser.add_argument("--health-interval", type=float, default=5.0, metavar="SECONDS")
    parser.add_argument("--health-path", default="/healthz")
    parser.add_argument(
        "--no-uvloop",
        action="store_true",
        help="run on asyncio's own loop even when uvloop is installed",
    )
    parser.add_argument(
        "--http-port",
        type=int,
        default=None,
        help="also listen for plain HTTP here, answering 301 to https, as CDNs "
        "do for sites that are HTTPS-only (default: off)",
    )
    args = parser.parse_args(argv)
    if not args.plain and not (args.cert and args.key and args.ca):
        parser.error("--cert, --key and --ca are required (or --plain for test mode)")
    try:
        extra = os.environ.get("EDGE_EXTRA_ROUTES", "").split()
        routes = tuple(parse_route(r, allow_http=args.plain) for r in [*args.route, *extra])
        Router(routes)  # rejects duplicates now rather than at the first request
        pins = {(name, port): addr for name, port, addr in map(parse_resolve, args.resolve)}
    except RouteError as e:
        parser.error(str(e))
    setup("cdn")
    ctx: ssl.SSLContext | None = None
    upstream_tls: ssl.SSLContext | None = None
    try:
        if args.ca:
            upstream_tls = client_context(args.ca)
        if not args.plain:
            ctx = server_context(args.cert, args.key)
    except OSError as e:
        parser.exit(1, f"python -m services.cdn: error: cannot start: {e}\n")
    config = EdgeConfig(
        routes=routes,
        upstream_tls=upstream_tls,
        clock=time.time,
        pins=pins,
        upstream_timeout=args.upstream_timeout,
        cache_entries=args.cache_entries,
        health_interval=args.health_interval,
        health_path=args.health_path,
        scheme="http" if args.plain else "https",
    )
    app = make_app(config)
    if not args.no_uvloop:
        use_uvloop()
    if ctx is None:
        # Plain HTTP/1.x (test mode), with the same error pages as over TLS.
        run(app, host=args.host, port=args.port, ssl_context=None, service="cdn")
    else:
        plain_app = None if args.http_port is None else (make_redirect_app(), args.http_port)
        run(app, host=args.host, port=args.port, ssl_context=ctx, service="cdn", plain=plain_app,
            h3=None if args.no_h3 else (args.cert, args.key))  # fmt: skip
    return 0


def use_uvloop() -> bool:
    """Run on uvloop when it is installed: its transports (TLS included) cost less per
    request than asyncio's. asyncio.run (in httpserver.run) makes its loop with
    asyncio.new_event_loop(), which follows the policy. Python 3.11 (the lab image);
    set_event_loop_policy is deprecated from 3.14, where
    asyncio.run(main, loop_factory=uvloop.new_event_loop) is the way."""
    try:
        import uvloop
    except ImportError:
        return False
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True


if __name__ == "__main__":
    sys.exit(main())

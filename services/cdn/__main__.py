"""``python -m services.cdn --cert C --key K --ca CA --port 443 --route HOST=URL ...``

--route PUBLIC_HOST=https://UPSTREAM[:PORT]   repeatable; the upstream is reached by
                                              its own name (SNI, Host, certificate)
--resolve UPSTREAM:PORT:ADDRESS               optional, repeatable, as curl's --resolve
Environment: SSLKEYLOGFILE (optional; TLS key log for client and upstream sides).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from services.cdn.app import EdgeConfig, make_app
from services.cdn.routing import RouteError, Router, parse_resolve, parse_route
from services.common.logs import setup
from services.common.httpserver import run
from services.common.tls import client_context, server_context


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.cdn",
                                     description="The lab's CDN edge: TLS, routing, cache.")
    parser.add_argument("--cert", type=Path, required=True, help="leaf + intermediate, PEM")
    parser.add_argument("--key", type=Path, required=True, help="private key, PEM")
    parser.add_argument("--ca", type=Path, required=True, help="root CA that upstreams chain to")
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=443)
    parser.add_argument("--route", action="append", default=[], metavar="HOST=URL",
                        required=True)
    parser.add_argument("--resolve", action="append", default=[], metavar="NAME:PORT:ADDR")
    parser.add_argument("--upstream-timeout", type=float, default=10.0, metavar="SECONDS")
    parser.add_argument("--cache-entries", type=int, default=1000)
    args = parser.parse_args(argv)
    try:
        routes = tuple(parse_route(r) for r in args.route)
        Router(routes)  # rejects duplicates now rather than at the first request
        pins = {(name, port): addr for name, port, addr in map(parse_resolve, args.resolve)}
    except RouteError as e:
        parser.error(str(e))
    setup("cdn")
    try:
        ctx = server_context(args.cert, args.key)
        upstream_tls = client_context(args.ca)
    except OSError as e:
        parser.exit(1, f"python -m services.cdn: error: cannot start: {e}\n")
    config = EdgeConfig(routes=routes, upstream_tls=upstream_tls, clock=time.time, pins=pins,
                        upstream_timeout=args.upstream_timeout, cache_entries=args.cache_entries)
    run(make_app(config), host=args.host, port=args.port, ssl_context=ctx, service="cdn")
    return 0


if __name__ == "__main__":
    sys.exit(main())

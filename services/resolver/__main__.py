"""``python -m services.resolver (--hints FILE | --root-zone FILE) --allow NET [...]``.

Exit status: 0 after a clean stop, 1 when the hints cannot be loaded or the
port cannot be bound, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import logging
import os
import signal
import sys

from services.common.logs import log_event, setup
from services.dnscore.listen import listen
from services.dnscore.program import StartupEvents, load_and_serve
from services.dnscore.querylog import QUERY_LOG_RATE
from services.resolver.cache import Cache, CacheConfig
from services.resolver.control import DEFAULT_SOCKET, Controls, serve_control
from services.resolver.hints import RootServer, load_hints
from services.resolver.iterate import Resolver
from services.resolver.server import CLIENT_DEADLINE, Network, RecursiveServer
from services.resolver.transport import NetworkTransport

logger = logging.getLogger("services.resolver")

STARTUP = StartupEvents(
    load_error="resolver_hints_error", load_message="bad hints", bind_error="resolver_bind_error"
)


def _network(text: str) -> Network:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"not a network: {text!r}") from e


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (argparse exits 2 on a usage error)."""
    parser = argparse.ArgumentParser(
        prog="python -m services.resolver", description="Caching recursive resolver for the lab."
    )
    roots = parser.add_mutually_exclusive_group(required=True)
    roots.add_argument("--hints", metavar="FILE", help="root hints in named.root format")
    roots.add_argument(
        "--root-zone", metavar="FILE", help="take the root servers from the root zone file instead"
    )
    parser.add_argument(
        "--allow",
        action="append",
        type=_network,
        required=True,
        metavar="NET",
        help="client network allowed to recurse; repeatable",
    )
    parser.add_argument("--listen", default="0.0.0.0", help="address to bind (default 0.0.0.0)")
    parser.add_argument("--port", type=int, default=53, help="UDP and TCP port (default 53)")
    parser.add_argument(
        "--upstream-port",
        type=int,
        default=53,
        help="port of the authoritative servers (default 53)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=1.5,
        help="seconds to wait for one server before the next (default 1.5)",
    )
    parser.add_argument("--name", default="resolver", help="service name for the logs")
    parser.add_argument(
        "--no-qname-minimisation",
        dest="qname_minimisation",
        action="store_false",
        help="send the full name to every server (RFC 9156 is on by default)",
    )
    parser.add_argument(
        "--serve-stale",
        action="store_true",
        help="answer from expired data (TTL 30) when all upstreams fail (RFC 8767)",
    )
    parser.add_argument(
        "--max-ttl", type=int, default=86400, help="cap on cached TTLs in seconds (default 86400)"
    )
    parser.add_argument(
        "--min-ttl", type=int, default=0, help="floor for cached TTLs in seconds (default 0: none)"
    )
    parser.add_argument(
        "--deadline",
        type=float,
        default=CLIENT_DEADLINE,
        help=f"seconds for a whole client question before SERVFAIL (default {CLIENT_DEADLINE:g})",
    )
    parser.add_argument(
        "--control-socket",
        default=DEFAULT_SOCKET,
        help=f"Unix socket for services.resolver.ctl (default {DEFAULT_SOCKET}; '' to disable)",
    )
    parser.add_argument(
        "--no-wire-cache",
        action="store_true",
        help="disable the packed-reply cache (for measurements)",
    )
    parser.add_argument(
        "--query-log-rate",
        type=int,
        default=QUERY_LOG_RATE,
        metavar="N",
        help="resolver_query lines a second for cached answers before the "
        "rest are only counted in a resolver_query_summary line "
        f"(default {QUERY_LOG_RATE}; 0: summaries only)",
    )
    args = parser.parse_args(argv)
    if args.query_log_rate < 0:
        parser.error("--query-log-rate must be 0 or more")
    if not 0 <= args.min_ttl <= args.max_ttl:
        parser.error("need 0 <= --min-ttl <= --max-ttl")
    return args


async def serve(args: argparse.Namespace, roots: list[RootServer]) -> None:
    """Listen until SIGTERM or SIGINT."""
    transport = NetworkTransport(port=args.upstream_port, timeout=args.timeout)
    config = CacheConfig(max_ttl=args.max_ttl, min_ttl=args.min_ttl, serve_stale=args.serve_stale)
    resolver = Resolver(
        transport, Cache(config=config), roots, qname_minimisation=args.qname_minimisation
    )
    server = RecursiveServer(
        resolver,
        args.allow,
        deadline=args.deadline,
        wire_cache=not args.no_wire_cache,
        query_log_rate=args.query_log_rate,
    )
    listener = await listen(
        server.handle, args.listen, args.port, fast=server.cached if server.wire_cache else None
    )
    control = None
    if args.control_socket:
        try:
            control = await serve_control(
                args.control_socket, Controls(resolver.cache.dump, server.flush, transport)
            )
        except OSError as e:
            # The resolver still works without its control channel; say so.
            logger.error(
                "no control socket", extra={"event": "resolver_control_error", "error": str(e)}
            )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    log_event(
        logger,
        "resolver_started",
        listen=args.listen,
        port=listener.port,
        roots=[r.name for r in roots],
        allow=[str(n) for n in args.allow],
        qname_minimisation=args.qname_minimisation,
        serve_stale=args.serve_stale,
        control_socket=args.control_socket or None,
    )
    await stop.wait()
    if control is not None:
        control.close()
        with contextlib.suppress(OSError):
            os.unlink(args.control_socket)
    await listener.close()
    transport.close()  # the weakened mode's fixed-port socket, if it is on
    server.log.flush()
    log_event(logger, "resolver_stopped")


def main(argv: list[str] | None = None) -> int:
    """Load the root servers, then serve."""
    args = parse_args(argv)
    setup(args.name)
    return load_and_serve(
        logger,
        STARTUP,
        lambda: load_hints(args.hints or args.root_zone),
        lambda roots: serve(args, roots),
        args.listen,
        args.port,
    )


if __name__ == "__main__":
    sys.exit(main())

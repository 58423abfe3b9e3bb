"""``python -m services.forwarder (--upstream ADDR[:PORT] | --upstream-file PATH) [...]``.

Exit status: 0 after a clean stop, 1 when a port cannot be bound, 2 for a
usage error (a bad address, say).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from pathlib import Path

from services.common.logs import log_event, setup
from services.dnscore.listen import Listener, listen
from services.dnscore.program import StartupEvents, load_and_serve
from services.dnscore.querylog import QUERY_LOG_RATE
from services.forwarder.cache import MAX_TTL, AnswerCache
from services.forwarder.control import DEFAULT_SOCKET, Controls, serve_control
from services.forwarder.server import Forwarder
from services.forwarder.transport import TIMEOUT, ForwardTransport
from services.forwarder.upstream import (
    DNS_PORT,
    Endpoint,
    FixedUpstream,
    Upstream,
    UpstreamFile,
    parse_endpoint,
)

logger = logging.getLogger("services.forwarder")

STARTUP = StartupEvents(
    load_error="forwarder_config_error",
    load_message="bad configuration",
    bind_error="forwarder_bind_error",
)
STUB_ADDRESS = "127.0.0.53"  # where systemd-resolved's stub listens, and resolv.conf points


def _endpoint(text: str) -> Endpoint:
    try:
        return parse_endpoint(text, default_port=0)  # 0: --upstream-port, filled in below
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from e


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (argparse exits 2 on a usage error)."""
    parser = argparse.ArgumentParser(
        prog="python -m services.forwarder",
        description="Caching DNS forwarder: the client's stub cache and the home router's cache.",
    )
    upstream = parser.add_mutually_exclusive_group(required=True)
    upstream.add_argument(
        "--upstream", type=_endpoint, metavar="ADDR[:PORT]", help="the recursive server to ask"
    )
    upstream.add_argument(
        "--upstream-file",
        type=Path,
        metavar="PATH",
        help="take it from the first 'nameserver ADDR' line of PATH (written by the DHCP "
        "lease hook), read again whenever the file changes",
    )
    parser.add_argument(
        "--upstream-port",
        type=int,
        default=DNS_PORT,
        help=f"port of an upstream named without one (default {DNS_PORT})",
    )
    parser.add_argument(
        "--listen",
        action="append",
        metavar="ADDR",
        help=f"address to bind, UDP and TCP; repeatable (default {STUB_ADDRESS})",
    )
    parser.add_argument("--port", type=int, default=DNS_PORT, help="UDP and TCP port (default 53)")
    parser.add_argument(
        "--name",
        default="forwarder",
        metavar="LAYER",
        help="this layer's name (stub, router) in the logs and the dump (default forwarder)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=TIMEOUT,
        help=f"seconds to wait for the upstream, per try; two tries (default {TIMEOUT:g})",
    )
    parser.add_argument(
        "--max-ttl",
        type=int,
        default=MAX_TTL,
        help=f"cap on how long an answer is cached, in seconds (default {MAX_TTL})",
    )
    parser.add_argument("--no-cache", action="store_true", help="forward every question")
    parser.add_argument(
        "--control-socket",
        default=DEFAULT_SOCKET,
        help=f"Unix socket for services.forwarder.ctl (default {DEFAULT_SOCKET}; '' to disable)",
    )
    parser.add_argument(
        "--query-log-rate",
        type=int,
        default=QUERY_LOG_RATE,
        metavar="N",
        help="forwarder_query lines a second for cache hits before the rest are only "
        f"counted in a forwarder_query_summary line (default {QUERY_LOG_RATE}; 0: summaries only)",
    )
    args = parser.parse_args(argv)
    args.listen = args.listen or [STUB_ADDRESS]
    if not 1 <= args.upstream_port <= 65535:
        parser.error("--upstream-port must be 1-65535")
    if args.upstream is not None and args.upstream.port == 0:
        args.upstream = Endpoint(args.upstream.host, args.upstream_port)
    if args.max_ttl < 0:
        parser.error("--max-ttl must be 0 or more")
    if args.timeout <= 0:
        parser.error("--timeout must be more than 0")
    if args.query_log_rate < 0:
        parser.error("--query-log-rate must be 0 or more")
    return args


def make_upstream(args: argparse.Namespace) -> Upstream:
    """The fixed upstream, or the file that names it."""
    if args.upstream is not None:
        return FixedUpstream(args.upstream)
    return UpstreamFile(args.upstream_file, args.upstream_port)


async def serve(args: argparse.Namespace, upstream: Upstream) -> None:
    """Listen on every --listen address until SIGTERM or SIGINT."""
    cache = None if args.no_cache else AnswerCache(max_ttl=args.max_ttl)
    forwarder = Forwarder(
        upstream,
        ForwardTransport(timeout=args.timeout),
        cache,
        layer=args.name,
        query_log_rate=args.query_log_rate,
    )
    listeners: list[Listener] = []
    try:
        for address in args.listen:
            listeners.append(await listen(forwarder.handle, address, args.port))
    except OSError:
        for listener in listeners:
            await listener.close()
        raise
    control = None
    if args.control_socket:
        controls = Controls(
            args.name, forwarder.dump, forwarder.flush, forwarder.counters, cache is not None
        )
        try:
            control = await serve_control(args.control_socket, controls)
        except OSError as e:
            # The forwarder still works without its control channel; say so.
            logger.error(
                "no control socket", extra={"event": "forwarder_control_error", "error": str(e)}
            )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    log_event(
        logger,
        "forwarder_started",
        layer=args.name,
        listen=[f"{lis.host}:{lis.port}" for lis in listeners],
        upstream=upstream.describe(),
        cache=cache is not None,
        max_ttl=args.max_ttl,
        control_socket=args.control_socket or None,
    )
    upstream.current()  # read the file now, so a missing lease is logged at start-up
    await stop.wait()
    if control is not None:
        control.close()
        with contextlib.suppress(OSError):
            os.unlink(args.control_socket)
    for listener in listeners:
        await listener.close()
    forwarder.log.flush()
    log_event(logger, "forwarder_stopped", layer=args.name)


def main(argv: list[str] | None = None) -> int:
    """Parse the options, then serve."""
    args = parse_args(argv)
    setup(args.name)
    return load_and_serve(
        logger,
        STARTUP,
        lambda: make_upstream(args),
        lambda upstream: serve(args, upstream),
        ",".join(args.listen),
        args.port,
    )


if __name__ == "__main__":
    sys.exit(main())

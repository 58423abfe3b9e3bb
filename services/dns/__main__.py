"""``python -m services.dns --zone FILE [--zone FILE ...] --name NAME [--listen ADDR] [--port N]``.

Exit status: 0 after a clean stop, 1 when a zone file is bad or the port
cannot be bound (one line saying which), 2 for a usage error.

SIGHUP reloads every zone file. The new set replaces the old one only if all
files load and pass the checks; otherwise the error is logged (JSON,
``dns_reload_failed`` with ``file:line: reason``) and the last good set stays
in service, as ``nsd-control reload`` and ``rndc reload`` do.
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
from services.dns.server import AuthoritativeServer
from services.dns.zone import ZoneSet, load_zone
from services.dnscore import renumber
from services.dnscore.listen import TcpPolicy, listen
from services.dnscore.masterfile import ZoneFileError
from services.dnscore.program import StartupEvents, load_and_serve
from services.dnscore.querylog import QUERY_LOG_RATE
from services.dnscore.wire import CLASSIC_UDP_LIMIT, MAX_EDNS_PAYLOAD, OUR_EDNS_PAYLOAD

logger = logging.getLogger("services.dns")

EXTRA_ENV = "LAB_ZONES_EXTRA"
STARTUP = StartupEvents(
    load_error="dns_zone_error", load_message="bad zone file", bind_error="dns_bind_error"
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (argparse exits 2 on a usage error)."""
    parser = argparse.ArgumentParser(
        prog="python -m services.dns", description="Authoritative DNS server for the lab."
    )
    parser.add_argument(
        "--zone",
        action="append",
        required=True,
        metavar="FILE",
        help="RFC 1035 master file; repeat for several zones",
    )
    parser.add_argument("--name", default="dns", help="this server's host name, for the logs")
    parser.add_argument("--listen", default="0.0.0.0", help="address to bind (default 0.0.0.0)")
    parser.add_argument("--port", type=int, default=53, help="UDP and TCP port (default 53)")
    parser.add_argument(
        "--edns-max",
        type=int,
        default=OUR_EDNS_PAYLOAD,
        help=f"largest UDP reply to EDNS clients, {CLASSIC_UDP_LIMIT}.."
        f"{MAX_EDNS_PAYLOAD} (default {OUR_EDNS_PAYLOAD})",
    )
    parser.add_argument(
        "--tcp-idle",
        type=float,
        default=10.0,
        help="seconds an idle TCP connection stays open (default 10)",
    )
    parser.add_argument(
        "--tcp-max-connections",
        type=int,
        default=128,
        help="simultaneous TCP connections (default 128)",
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
        help="dns_query lines a second before the rest are only counted in "
        f"a dns_query_summary line (default {QUERY_LOG_RATE}; "
        "0: summaries only)",
    )
    parser.add_argument(
        "--net",
        default=os.environ.get(renumber.ENV) or None,
        metavar="PREFIX",
        help="the lab's first three octets: the zones' 198.51.100.x addresses are "
        f"served as PREFIX.x (default: ${renumber.ENV}, else as written)",
    )
    parser.add_argument(
        "--extra-records",
        type=Path,
        default=os.environ.get(EXTRA_ENV) or None,
        metavar="DIR",
        help="a directory of <zone>.records files added to the zones of those names "
        f"(a user's own services, `lab up --with`; default: ${EXTRA_ENV})",
    )
    args = parser.parse_args(argv)
    if args.net is not None:
        try:
            renumber.check_prefix(args.net)
        except ValueError as e:
            parser.error(str(e))
    if args.query_log_rate < 0:
        parser.error("--query-log-rate must be 0 or more")
    if not CLASSIC_UDP_LIMIT <= args.edns_max <= MAX_EDNS_PAYLOAD:
        parser.error(f"--edns-max must be between {CLASSIC_UDP_LIMIT} and {MAX_EDNS_PAYLOAD}")
    return args


def load_zones(paths: list[str], net: str | None = None, extra: Path | None = None) -> ZoneSet:
    """Load and check every zone file (raises ZoneFileError on the first problem).

    NET is the lab's prefix when it is not the documentation one (``LAB_NET``); EXTRA
    a directory of more records per zone (``--extra-records``)."""
    return ZoneSet(load_zone(path, net, extra) for path in paths)


def reload(
    server: AuthoritativeServer, paths: list[str], net: str | None = None, extra: Path | None = None
) -> bool:
    """Replace the server's zones with freshly loaded ones; keep the old on error."""
    try:
        zones = load_zones(paths, net, extra)
    except ZoneFileError as e:
        logger.error(
            "reload failed",
            extra={
                "event": "dns_reload_failed",
                "error": str(e),
                "kept": sorted(server.zones.zones),
            },
        )
        return False
    server.replace_zones(zones)
    log_event(logger, "dns_reloaded", zones=sorted(zones.zones))
    return True


async def serve(args: argparse.Namespace, zones: ZoneSet) -> None:
    """Listen until SIGTERM or SIGINT."""
    server = AuthoritativeServer(
        zones,
        args.name,
        edns_max=args.edns_max,
        wire_cache=not args.no_wire_cache,
        query_log_rate=args.query_log_rate,
    )
    policy = TcpPolicy(idle_timeout=args.tcp_idle, max_connections=args.tcp_max_connections)
    listener = await listen(
        server.handle,
        args.listen,
        args.port,
        policy,
        fast=server.cached if server.wire_cache else None,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    with contextlib.suppress(NotImplementedError, AttributeError):
        loop.add_signal_handler(
            signal.SIGHUP, reload, server, list(args.zone), args.net, args.extra_records
        )
    log_event(
        logger,
        "dns_started",
        server=args.name,
        listen=args.listen,
        port=listener.port,
        zones=sorted(zones.zones),
    )
    await stop.wait()
    await listener.close()
    server.log.flush()
    log_event(logger, "dns_stopped", server=args.name)


def main(argv: list[str] | None = None) -> int:
    """Load every zone (refuse to start on any error), then serve."""
    args = parse_args(argv)
    setup(args.name)
    return load_and_serve(
        logger,
        STARTUP,
        lambda: load_zones(args.zone, args.net, args.extra_records),
        lambda zones: serve(args, zones),
        args.listen,
        args.port,
    )


if __name__ == "__main__":
    sys.exit(main())

"""``python -m services.dns --zone FILE [--zone FILE ...] --name NAME [--listen ADDR] [--port N]``.

Exit status: 0 after a clean stop, 1 when a zone file is bad or the port
cannot be bound (one line saying which), 2 for a usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

from services.common.logs import log_event, setup
from services.dns.listen import listen
from services.dns.masterfile import ZoneFileError
from services.dns.server import AuthoritativeServer
from services.dns.zone import ZoneSet, load_zone

logger = logging.getLogger("services.dns")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (argparse exits 2 on a usage error)."""
    parser = argparse.ArgumentParser(prog="python -m services.dns",
                                     description="Authoritative DNS server for the lab.")
    parser.add_argument("--zone", action="append", required=True, metavar="FILE",
                        help="RFC 1035 master file; repeat for several zones")
    parser.add_argument("--name", default="dns", help="this server's host name, for the logs")
    parser.add_argument("--listen", default="0.0.0.0", help="address to bind (default 0.0.0.0)")
    parser.add_argument("--port", type=int, default=53, help="UDP and TCP port (default 53)")
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace, zones: ZoneSet) -> None:
    """Listen until SIGTERM or SIGINT."""
    server = AuthoritativeServer(zones, args.name)
    listener = await listen(server.handle, args.listen, args.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    log_event(logger, "dns_started", server=args.name, listen=args.listen, port=listener.port,
              zones=sorted(zones.zones))
    await stop.wait()
    await listener.close()
    log_event(logger, "dns_stopped", server=args.name)


def main(argv: list[str] | None = None) -> int:
    """Load every zone (refuse to start on any error), then serve."""
    args = parse_args(argv)
    setup(args.name)
    try:
        zones = ZoneSet(load_zone(path) for path in args.zone)
    except ZoneFileError as e:
        # Refuse to start: a server with half its data would answer wrongly.
        logger.error("bad zone file", extra={"event": "dns_zone_error", "error": str(e)})
        return 1
    try:
        asyncio.run(serve(args, zones))
    except OSError as e:
        logger.error("cannot listen", extra={"event": "dns_bind_error", "error": str(e),
                                             "listen": args.listen, "port": args.port})
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

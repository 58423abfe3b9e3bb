"""``python -m services.resolver.ctl [--socket PATH] COMMAND``.

Commands: ``dump [NAME] [--json]``, ``flush [NAME]``, ``weaken PORT|off``,
``stats [--json]``.

Talks to the running resolver over its control socket (run it inside the
resolver's container). ``dump`` prints a table of cache entries with their
remaining TTL and kind (answer, negative, delegation), or JSON with
``--json``, for NAME and the names below it if given; ``flush`` empties the
cache, or drops NAME and all names below. ``weaken PORT`` sends every
upstream query from that one source port (the RFC 5452 demonstration,
services/resolver/fixedport.py), ``weaken off`` goes back to a random port
per query. ``stats`` shows the upstream counters: replies accepted and
ignored by reason, and the kernel's UDP drops.
Exit 0 on success, 1 when the resolver cannot be reached or refuses the
request, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from services.dnscore.control import request
from services.resolver.control import DEFAULT_SOCKET


def table(entries: list[dict[str, Any]]) -> str:
    """Human table: name, type, kind, TTL left, data."""
    rows = [("NAME", "TYPE", "KIND", "TTL", "DATA")]
    for e in entries:
        ttl = f"{e['ttl']}" + (" (stale)" if e.get("stale") else "")
        data = ", ".join(e["records"][:3]) + (" ..." if len(e["records"]) > 3 else "")
        rows.append((e["name"], e["type"], e["kind"], ttl, data))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(r[:4], widths, strict=True)) + "  " + r[4]
        for r in rows
    ]
    return "\n".join(lines) + f"\n{len(entries)} entries\n"


def port_or_off(text: str) -> int | None:
    """``weaken``'s argument: a port number 1-65535, or ``off``."""
    if text.lower() == "off":
        return None
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port 1-65535 or 'off', not {text!r}")
    return port


def stats_text(reply: dict[str, Any]) -> str:
    """Human summary of the ``stats`` reply."""
    port = reply["fixed_port"]
    lines = [
        "source port: "
        + (f"{port} (WEAKENED: fixed, RFC 5452 demonstration)" if port else "random per query")
    ]
    up = reply.get("upstream") or {}
    if up:
        lines.append(
            f"upstream UDP: {up['queries']} queries, {up['accepted']} replies accepted, "
            f"{up['ignored']} ignored (wrong source {up['wrong_source']}, "
            f"wrong ID {up['wrong_id']}, wrong question {up['wrong_question']}, "
            f"garbage {up['garbage']})"
        )
    if reply.get("rcvbuf"):
        lines.append(f"upstream socket receive buffer: {reply['rcvbuf']:,} bytes")
    kernel = reply.get("kernel_udp")
    if kernel:
        lines.append(
            "kernel UDP (this namespace): "
            + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in kernel.items())
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run one control command against the resolver."""
    parser = argparse.ArgumentParser(prog="python -m services.resolver.ctl")
    parser.add_argument("--socket", default=DEFAULT_SOCKET, help=f"default {DEFAULT_SOCKET}")
    sub = parser.add_subparsers(dest="cmd", required=True)
    dump = sub.add_parser("dump", help="list cache entries with remaining TTL")
    dump.add_argument("name", nargs="?", help="only this name and the names below it")
    dump.add_argument("--json", action="store_true", help="machine-readable output")
    flush = sub.add_parser("flush", help="empty the cache, or one name and below")
    flush.add_argument("name", nargs="?")
    weaken = sub.add_parser(
        "weaken", help="send every upstream query from one source port (RFC 5452 demo), or off"
    )
    weaken.add_argument("port", type=port_or_off, metavar="PORT|off")
    stats = sub.add_parser("stats", help="upstream replies accepted and ignored, kernel UDP drops")
    stats.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args(argv)
    payload: dict[str, Any] = {"cmd": args.cmd}
    if args.cmd in ("dump", "flush") and args.name:
        payload["name"] = args.name
    if args.cmd == "weaken":
        payload["fixed_port"] = args.port
    try:
        reply = request(args.socket, payload)
    except (OSError, ValueError) as e:
        sys.stderr.write(
            f"ctl: cannot reach the resolver at {args.socket}: {e}; "
            "is it running, and is this its container?\n"
        )
        return 1
    if not reply.get("ok"):
        sys.stderr.write(f"ctl: {reply.get('error', 'request failed')}\n")
        return 1
    if args.cmd == "dump":
        sys.stdout.write(
            json.dumps(reply["entries"], indent=1) + "\n" if args.json else table(reply["entries"])
        )
    elif args.cmd == "weaken":
        port = reply["fixed_port"]
        sys.stdout.write(
            f"weakened mode ON: every upstream query from source port {port}\n"
            if port is not None
            else "weakened mode off: a random source port per upstream query\n"
        )
    elif args.cmd == "stats":
        sys.stdout.write(json.dumps(reply, indent=1) + "\n" if args.json else stats_text(reply))
    else:
        what = reply["name"] or "everything"
        sys.stdout.write(f"flushed {reply['flushed']} entries ({what})\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

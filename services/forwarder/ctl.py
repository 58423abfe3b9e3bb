"""``python -m services.forwarder.ctl [--socket PATH] COMMAND``.

Commands: ``dump [NAME] [--json]``, ``flush [NAME]``, ``stats [--json]``.

Talks to a running forwarder over its control socket (run it inside the
forwarder's container). ``dump`` prints the layer's name and a table of
cached answers with their remaining TTL and hits, or JSON with ``--json``,
for NAME and the names below it if given; ``flush`` empties the cache, or
drops NAME and all names below; ``stats`` shows questions, cache hits and
misses, collapsed questions and queries sent upstream.
Exit 0 on success, 1 when the forwarder cannot be reached or refuses the
request, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from services.dnscore.control import request
from services.forwarder.control import DEFAULT_SOCKET


def table(layer: str, entries: list[dict[str, Any]], cache: bool = True) -> str:
    """Human table under the layer's name: name, type, kind, TTL left/kept, hits, data."""
    head = f"layer: {layer}" + ("" if cache else " (cache off: --no-cache)")
    rows = [("NAME", "TYPE", "KIND", "TTL", "HITS", "DATA")]
    for e in entries:
        data = ", ".join(e["records"][:3]) + (" ..." if len(e["records"]) > 3 else "")
        ttl = f"{e['ttl']}/{e['original_ttl']}"
        rows.append((e["name"], e["type"], e["kind"], ttl, str(e["hits"]), data))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(r[:5], widths, strict=True)) + "  " + r[5]
        for r in rows
    ]
    return head + "\n" + "\n".join(lines) + f"\n{len(entries)} entries\n"


def stats_text(reply: dict[str, Any]) -> str:
    """Human summary of the ``stats`` reply."""
    upstream = reply.get("upstream") or "none (no DHCP lease yet?)"
    return (
        f"layer: {reply['layer']}\n"
        f"questions: {reply['queries']} ({reply['hits']} cache hits, {reply['misses']} misses, "
        f"{reply['collapsed']} of them collapsed onto one in flight)\n"
        f"upstream: {upstream}, {reply['upstream_queries']} queries sent\n"
        f"SERVFAIL: {reply['servfail']}; bad packets: {reply['bad_packets']}\n"
    )


def main(argv: list[str] | None = None) -> int:
    """Run one control command against the forwarder."""
    parser = argparse.ArgumentParser(prog="python -m services.forwarder.ctl")
    parser.add_argument("--socket", default=DEFAULT_SOCKET, help=f"default {DEFAULT_SOCKET}")
    sub = parser.add_subparsers(dest="cmd", required=True)
    dump = sub.add_parser("dump", help="list cached answers with remaining TTL and hits")
    dump.add_argument("name", nargs="?", help="only this name and the names below it")
    dump.add_argument("--json", action="store_true", help="machine-readable output")
    flush = sub.add_parser("flush", help="empty the cache, or one name and below")
    flush.add_argument("name", nargs="?")
    stats = sub.add_parser("stats", help="questions, cache hits and misses, upstream queries")
    stats.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args(argv)
    payload: dict[str, Any] = {"cmd": args.cmd}
    if args.cmd in ("dump", "flush") and args.name:
        payload["name"] = args.name
    try:
        reply = request(args.socket, payload)
    except (OSError, ValueError) as e:
        sys.stderr.write(
            f"ctl: cannot reach the forwarder at {args.socket}: {e}; "
            "is it running, and is this its container?\n"
        )
        return 1
    if not reply.get("ok"):
        sys.stderr.write(f"ctl: {reply.get('error', 'request failed')}\n")
        return 1
    if args.cmd == "dump":
        if args.json:
            sys.stdout.write(json.dumps(reply, indent=1) + "\n")
        else:
            sys.stdout.write(table(reply["layer"], reply["entries"], reply["cache"]))
    elif args.cmd == "stats":
        sys.stdout.write(json.dumps(reply, indent=1) + "\n" if args.json else stats_text(reply))
    else:
        what = reply["name"] or "everything"
        sys.stdout.write(f"{reply['layer']}: flushed {reply['flushed']} entries ({what})\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A lab router: routes, and for the home router NAT, then it stays up.

A router here is an ordinary Linux network namespace with two interfaces and
``net.ipv4.ip_forward = 1`` (compose.yaml sets the sysctl). This program adds
the static routes the topology gives it (no routing daemon: the lab's shape
is fixed), and on the home router masquerades the home LAN behind the
router's address on the ISP's network (iptables MASQUERADE, the NAT a home
router does). It then writes /run/router.ready, which is its health check,
and waits. The kernel forwards every packet; nothing here touches them.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

READY = Path("/run/router.ready")


class RouterError(RuntimeError):
    pass


def run(*cmd: str) -> str:
    r = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise RouterError(f"`{' '.join(cmd)}` failed: {(r.stderr or r.stdout).strip()}")
    return r.stdout


def interfaces() -> dict[str, ipaddress.IPv4Interface]:
    """This namespace's IPv4 interfaces (loopback left out), by name."""
    out: dict[str, ipaddress.IPv4Interface] = {}
    for link in json.loads(run("ip", "-j", "-4", "addr", "show")):
        for a in link.get("addr_info", []):
            if link["ifname"] != "lo" and a.get("family") == "inet":
                out[link["ifname"]] = ipaddress.IPv4Interface(f"{a['local']}/{a['prefixlen']}")
    return out


def outgoing(gateway: str, ifaces: dict[str, ipaddress.IPv4Interface]) -> str:
    """The interface whose network holds GATEWAY."""
    addr = ipaddress.IPv4Address(gateway)
    for name, iface in ifaces.items():
        if addr in iface.network:
            return name
    nets = ", ".join(f"{n} {i.network}" for n, i in ifaces.items())
    raise RouterError(f"gateway {gateway} is on none of this router's networks ({nets})")


def parse_route(text: str) -> tuple[str, str]:
    """'DST via GW' as (DST, GW); DST is 'default' or a network."""
    words = text.split()
    if len(words) != 3 or words[1] != "via":
        raise RouterError(f"--route {text!r}: expected 'DST via GATEWAY'")
    dst, _, gw = words
    if dst != "default":
        ipaddress.IPv4Network(dst)
    ipaddress.IPv4Address(gw)
    return dst, gw


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m services.router", description=__doc__)
    ap.add_argument("--name", default="router", help="for log lines")
    ap.add_argument("--route", action="append", default=[], metavar="'DST via GW'")
    ap.add_argument(
        "--masquerade",
        metavar="SUBNET",
        help="NAT SUBNET behind the address of the interface the default route uses",
    )
    args = ap.parse_args(argv)

    def say(m: str) -> None:  # a JSON log line; services never print prose
        print(json.dumps({"router": args.name, "msg": m}), flush=True)

    try:
        ifaces = interfaces()
        say("interfaces " + ", ".join(f"{n} {i}" for n, i in sorted(ifaces.items())))
        default_dev = ""
        for text in args.route:
            dst, gw = parse_route(text)
            dev = outgoing(gw, ifaces)
            run("ip", "route", "replace", dst, "via", gw, "dev", dev)
            say(f"route {dst} via {gw} dev {dev}")
            if dst == "default":
                default_dev = dev
        if args.masquerade:
            if not default_dev:
                raise RouterError("--masquerade needs a default route (--route 'default via GW')")
            ipaddress.IPv4Network(args.masquerade)
            rule = ["POSTROUTING", "-s", args.masquerade, "-o", default_dev, "-j", "MASQUERADE"]
            run("iptables", "-t", "nat", "-A", *rule)
            say(f"masquerade {args.masquerade} behind {ifaces[default_dev].ip} ({default_dev})")
    except (RouterError, ValueError) as e:
        print(f"router {args.name}: {e}", file=sys.stderr, flush=True)
        return 2
    READY.write_text("ok\n")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.pause()
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())

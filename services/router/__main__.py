"""A lab router: routes, and for the home router NAT, DHCP and a DNS cache.

A router here is an ordinary Linux network namespace with two interfaces and
``net.ipv4.ip_forward = 1`` (compose.yaml sets the sysctl). This program adds
the static routes the topology gives it (no routing daemon: the lab's shape
is fixed), and on the home router masquerades the home LAN behind the
router's address on the ISP's network (iptables MASQUERADE, the NAT a home
router does). The kernel forwards every packet; nothing here touches them.

The home router also runs what a home router runs beside its NAT:

- a DHCP server for the LAN (Debian's dnsmasq with its DNS side off,
  ``--port=0``): the address, the gateway and the DNS server for the client;
  ``--dhcp-host MAC,ADDRESS`` keeps the client at the address the lab's plan
  gives it, as a reservation in a home router's settings does;
- the "router cache": services.forwarder on its LAN address, asking the
  ISP's resolver.

It then writes /run/router.ready (its health check) and waits; if a child
stops, the router says so and stops too, so `lab status` shows it unhealthy.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
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
    ap.add_argument(
        "--dhcp-range",
        metavar="FIRST,LAST",
        help="serve DHCP on the interface of FIRST's network (dnsmasq)",
    )
    ap.add_argument("--dhcp-host", action="append", default=[], metavar="MAC,ADDRESS")
    ap.add_argument("--lease-time", default="1h", help="DHCP lease time (dnsmasq syntax)")
    ap.add_argument(
        "--dns-forwarder",
        metavar="UPSTREAM",
        help="the router cache (services.forwarder) on the LAN, asking UPSTREAM",
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
        children = start_children(args, ifaces, say)
    except (RouterError, ValueError) as e:
        print(f"router {args.name}: {e}", file=sys.stderr, flush=True)
        return 2
    READY.write_text("ok\n")
    return supervise(children, say)


def lan(
    first: str, ifaces: dict[str, ipaddress.IPv4Interface]
) -> tuple[str, ipaddress.IPv4Interface]:
    name = outgoing(first, ifaces)
    return name, ifaces[name]


def dnsmasq_argv(
    dev: str,
    iface: ipaddress.IPv4Interface,
    first: str,
    last: str,
    hosts: list[str],
    lease: str,
    dns: str,
) -> list[str]:
    """dnsmasq as a DHCP server only (``--port=0``: no DNS), on DEV, handing out the
    router's own LAN address as gateway and DNS server (the router cache)."""
    argv = [
        "dnsmasq",
        "--keep-in-foreground",
        "--log-facility=-",
        "--port=0",
        f"--interface={dev}",
        "--bind-interfaces",
        "--dhcp-authoritative",
        "--log-dhcp",
        "--no-ping",
        "--user=root",
        "--dhcp-leasefile=/run/dnsmasq.leases",
        f"--dhcp-range={first},{last},{iface.netmask},{lease}",
        f"--dhcp-option=option:router,{iface.ip}",
        f"--dhcp-option=option:dns-server,{dns}",
    ]
    for host in hosts:
        mac, _, addr = host.partition(",")
        ipaddress.IPv4Address(addr)
        if len(mac.split(":")) != 6:
            raise RouterError(f"--dhcp-host {host!r}: expected MAC,ADDRESS")
        argv.append(f"--dhcp-host={mac},{addr},{lease}")
    return argv


def start_children(
    args: argparse.Namespace, ifaces: dict[str, ipaddress.IPv4Interface], say: Callable[[str], None]
) -> list[subprocess.Popen[bytes]]:
    children: list[subprocess.Popen[bytes]] = []
    if args.dhcp_range:
        first, _, last = args.dhcp_range.partition(",")
        dev, iface = lan(first, ifaces)
        argv = dnsmasq_argv(dev, iface, first, last, args.dhcp_host, args.lease_time, str(iface.ip))
        children.append(subprocess.Popen(argv))
        say(f"DHCP {first}-{last} on {dev}, gateway and DNS {iface.ip}")
    if args.dns_forwarder:
        if not args.dhcp_range:
            raise RouterError("--dns-forwarder listens on the DHCP side: give --dhcp-range")
        _, iface = lan(args.dhcp_range.split(",")[0], ifaces)
        argv = [
            sys.executable,
            "-m",
            "services.forwarder",
            "--name",
            "router",
            "--listen",
            str(iface.ip),
            "--upstream",
            args.dns_forwarder,
        ]
        children.append(subprocess.Popen(argv))
        say(f"router cache on {iface.ip}:53, asking {args.dns_forwarder}")
    return children


def supervise(children: list[subprocess.Popen[bytes]], say: Callable[[str], None]) -> int:
    """Wait; SIGTERM stops the children, a child that stops stops the router."""

    def stop(*_: object) -> None:
        for c in children:
            if c.poll() is None:
                c.terminate()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    if not children:
        signal.pause()
        return 0
    while True:
        pid, status = os.wait()
        child = next((c for c in children if c.pid == pid), None)
        if child is not None:
            name = child.args[0] if isinstance(child.args, list) else child.args
            say(f"{name!s} (pid {pid}) stopped with status {status}; the router stops")
            READY.unlink(missing_ok=True)
            stop()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())

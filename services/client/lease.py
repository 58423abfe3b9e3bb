"""The client's start on the home LAN: a DHCP lease, then the OS stub cache, then its command.

``python -m services.client.lease [--timeout S] -- COMMAND...``

Docker gives the container an address when it attaches it to the home
network; a machine on a home LAN has none until the router's DHCP server
leases it one. So the address Docker set is removed first, and dhclient
(Debian's isc-dhcp-client) asks for a lease: DISCOVER, OFFER, REQUEST, ACK
from 0.0.0.0 to the broadcast address, all in the capture when a run is
recording. Its hook (services/client/dhclient-hook.sh) applies the lease
(address, default route via the router) and writes /run/weblab/lease.json
and the lease's DNS server for the stub. dhclient stays running and renews
the lease at half its time, as a real client does.

Then the OS stub cache starts: services.forwarder as ``stub`` on 127.0.0.53,
where resolv.conf points (as systemd-resolved's stub does), asking the DNS
server the lease named. Without a lease the client still starts, with no
address and a lease.json that says why, so `lab status` and the browse step
can tell the user in those words instead of timing out on DNS.

``renew`` and ``release`` (``python -m services.client.lease renew``) are
what the dhcp scenario runs: give the lease back, ask for a new one.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

RUN = Path("/run/weblab")
LEASE = RUN / "lease.json"
UPSTREAM = RUN / "upstream.conf"
HOOK = Path(__file__).with_name("dhclient-hook.sh")
LEASES = RUN / "dhclient.leases"
PID = RUN / "dhclient.pid"


def say(msg: str, **fields: Any) -> None:
    print(json.dumps({"event": "client_lease", "msg": msg, **fields}), flush=True)


def home_interface() -> str:
    """The interface Docker attached to the home network (the one with a global IPv4)."""
    r = subprocess.run(
        ["ip", "-j", "-4", "addr", "show", "scope", "global"],
        capture_output=True,
        text=True,
        check=True,
    )
    for link in json.loads(r.stdout):
        if link.get("addr_info"):
            return str(link["ifname"])
    r = subprocess.run(["ip", "-j", "link", "show"], capture_output=True, text=True, check=True)
    names = [str(link["ifname"]) for link in json.loads(r.stdout) if link["ifname"] != "lo"]
    if not names:
        raise RuntimeError("no network interface besides lo")
    return names[0]


def dhclient(interface: str, *extra: str, timeout: float = 20.0) -> int:
    argv = [
        "dhclient",
        "-4",
        "-v",
        "-1",
        "-sf",
        str(HOOK),
        "-lf",
        str(LEASES),
        "-pf",
        str(PID),
        *extra,
        interface,
    ]
    try:
        return subprocess.run(argv, timeout=timeout, check=False).returncode
    except subprocess.TimeoutExpired:
        return 124


def no_lease(interface: str, why: str) -> None:
    LEASE.write_text(
        json.dumps(
            {
                "reason": "FAIL",
                "interface": interface,
                "address": None,
                "error": why,
                "at": int(time.time()),
            }
        )
        + "\n"
    )


def lease() -> dict[str, Any]:
    """The client's lease as the hook last wrote it ({} before the first attempt)."""
    try:
        doc = json.loads(LEASE.read_text())
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def acquire(interface: str, timeout: float) -> bool:
    t0 = time.monotonic()
    rc = dhclient(interface, timeout=timeout)
    got = lease()
    if rc == 0 and got.get("address"):
        say("lease", **got, took_ms=round((time.monotonic() - t0) * 1000, 1))
        return True
    why = (
        f"no DHCP server answered on {interface} within {timeout:g} s "
        "(is the home router's DHCP server running? `lab status`, `lab logs home-router`)"
    )
    no_lease(interface, why)
    say("no lease", error=why, dhclient_exit=rc)
    return False


def release(interface: str) -> None:
    """Give the lease back (DHCPRELEASE) and stop dhclient; the hook removes the address."""
    dhclient(interface, "-r")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] in (["renew"], ["release"]):
        interface = lease().get("interface") or home_interface()
        release(interface)
        if argv[0] == "release":
            return 0
        return 0 if acquire(interface, 20.0) else 1
    ap = argparse.ArgumentParser(prog="python -m services.client.lease", description=__doc__)
    ap.add_argument("--timeout", type=float, default=20.0, help="seconds to wait for a lease")
    ap.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND to run after")
    args = ap.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    RUN.mkdir(parents=True, exist_ok=True)
    interface = home_interface()
    # The address Docker assigned goes: this machine takes the router's lease instead.
    subprocess.run(["ip", "-4", "addr", "flush", "dev", interface], check=True)
    acquire(interface, args.timeout)
    stub = [
        sys.executable,
        "-m",
        "services.forwarder",
        "--name",
        "stub",
        "--listen",
        "127.0.0.53",
        "--upstream-file",
        str(UPSTREAM),
        "--control-socket",
        "/run/weblab-stub.sock",
    ]
    subprocess.Popen(stub)
    say("stub cache on 127.0.0.53, asking the lease's DNS server")
    if command:
        os.execvp(command[0], command)
    return 0


if __name__ == "__main__":
    sys.exit(main())

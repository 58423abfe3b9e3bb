"""NSD and Unbound configured from the lab's zones and hints, started in a MiniInternet."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

from harness.addresses import NSD_FOR, UNBOUND_ADDRESS
from harness.dnsquery import wait_ready
from harness.dnsservers import compose_services, root_hints
from harness.netns import MiniInternet, NetnsError


def nsd_conf(
    tmp: Path, address: str, zone_files: Sequence[str], tag: str, identity: str = ""
) -> Path:
    """An NSD 4.6 configuration: one server process, RRL off, IPv4 only, files in tmp."""
    work = tmp / f"nsd-{tag}"
    work.mkdir(parents=True, exist_ok=True)
    zones = "".join(f'zone:\n  name: "{_origin(f)}"\n  zonefile: "{f}"\n' for f in zone_files)
    conf = work / "nsd.conf"
    conf.write_text(f"""server:
  ip-address: {address}
  port: 53
  do-ip4: yes
  do-ip6: no
  server-count: 1
  username: ""
  chroot: ""
  database: ""
  zonelistfile: "{work}/zone.list"
  xfrdfile: "{work}/xfrd.state"
  pidfile: "{work}/nsd.pid"
  logfile: "{work}/nsd.log"
  identity: "{identity or "nsd-" + tag}"
  verbosity: 0
  rrl-ratelimit: 0
  rrl-whitelist-ratelimit: 0
remote-control:
  control-enable: no
{zones}""")
    return conf


def _origin(zone_file: str) -> str:
    name = Path(zone_file).name.removesuffix(".zone")
    return "." if name == "root" else name + "."


def check_zones(zone_files: Sequence[str]) -> list[str]:
    """Problems ``nsd-checkzone`` finds in our zone files (empty when all pass)."""
    problems = []
    for f in zone_files:
        r = subprocess.run(
            ["nsd-checkzone", _origin(f), f],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if r.returncode != 0:
            problems.append(f"{f}: {(r.stdout + r.stderr).strip()}")
    return problems


def start_nsd(
    net: MiniInternet,
    tmp: Path,
    address: str,
    zone_files: Sequence[str],
    tag: str,
    identity: str = "",
) -> subprocess.Popen[bytes]:
    """NSD in the foreground (-d) on ``address``; waits until it answers."""
    conf = nsd_conf(tmp, address, zone_files, tag, identity)
    proc = net.start(["nsd", "-d", "-c", str(conf)], log=tmp / f"nsd-{tag}.out")
    wait_ready(net, address, _origin(zone_files[0]), "SOA", proc=proc)
    return proc


def start_nsds(net: MiniInternet, tmp: Path) -> dict[str, subprocess.Popen[bytes]]:
    """One NSD for each of our distinct zone sets (see NSD_FOR), same identity as ours."""
    services = compose_services()
    return {
        name: start_nsd(
            net, tmp, address, services[name].zones(), name, services[name].option("--name")
        )
        for name, address in NSD_FOR.items()
    }


def unbound_conf(
    tmp: Path, address: str = UNBOUND_ADDRESS, qname_minimisation: bool = True
) -> Path:
    """Unbound 1.17 as a plain iterator (unsigned zones) from our root hints."""
    work = tmp / "unbound"
    work.mkdir(parents=True, exist_ok=True)
    conf = work / "unbound.conf"
    conf.write_text(f"""server:
  interface: {address}
  port: 53
  outgoing-interface: {address}
  do-ip4: yes
  do-ip6: no
  num-threads: 1
  do-daemonize: no
  chroot: ""
  username: ""
  directory: "{work}"
  use-syslog: no
  logfile: ""
  verbosity: 0
  pidfile: "{work}/unbound.pid"
  root-hints: "{root_hints(tmp)}"
  module-config: "iterator"
  do-not-query-localhost: no
  qname-minimisation: {"yes" if qname_minimisation else "no"}
  # allow_snoop, not allow: plain "allow" REFUSES RD=0 questions, while ours
  # answers them from its cache (services/resolver/server.py), as allow_snoop does.
  access-control: 198.51.100.0/24 allow_snoop
  access-control: 198.18.2.0/24 allow_snoop
  access-control: 127.0.0.0/8 allow_snoop
remote-control:
  control-enable: no
""")
    return conf


def start_unbound(net: MiniInternet, tmp: Path) -> subprocess.Popen[bytes]:
    """Unbound on UNBOUND_ADDRESS; waits until it resolves the root NS set."""
    conf = unbound_conf(tmp)
    check = subprocess.run(
        ["unbound-checkconf", str(conf)], capture_output=True, text=True, timeout=30, check=False
    )
    if check.returncode != 0:
        raise NetnsError(f"unbound-checkconf: {check.stdout}{check.stderr}")
    proc = net.start(["unbound", "-d", "-c", str(conf)], log=tmp / "unbound.out")
    wait_ready(net, UNBOUND_ADDRESS, ".", "NS", proc=proc, rd=True)
    return proc

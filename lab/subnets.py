"""Which /24 a lab lives in: the default, the one asked for, or a free one.

One lab on a machine uses the documentation plan the zone files and the
README are written in: TEST-NET-2 (198.51.100.0/24) for its servers, 198.18.2.0/24
for the ISP, 198.18.0.0/24 and 198.18.1.0/24 for the home and
the transit link. Another lab started beside it (a second CI job, a
pytest-xdist worker, another student) cannot share those: Docker refuses two
networks with overlapping pools. It gets an aligned /22 from a pool in
198.18.0.0/15 (RFC 2544's benchmarking range, never routed on the Internet)
instead, four /24s for its four networks (lab/topology.py), named by the
first; or the one ``LAB_SUBNET`` names.

Kept out of the pool: 198.18.0.0/22 (the documentation plan's home and transit),
198.18.200.0/22 (bench/delay_bench.py's throw-away network is in it), and
192.0.2.0/24 is never in it (this machine's own network).

The choice is remembered per Compose project in ``runs/labs/<project>.json``
so that `lab status`, `lab run` and `lab down` for that project use the same
plan as the `lab up` that chose it. Everything here but the two small file
helpers is a pure function of what Docker and ``ip route`` reported.
"""

from __future__ import annotations

import ipaddress
import json
import socket
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab import topology

ENV = "LAB_SUBNET"
POOL = ipaddress.IPv4Network("198.18.0.0/15")
RESERVED = tuple(
    ipaddress.IPv4Network(n) for n in ("198.18.0.0/22", "198.18.200.0/22", "192.0.2.0/24")
)
PROJECT_LABEL = "com.docker.compose.project"


@dataclass(frozen=True)
class Taken:
    """A subnet something else on the machine already uses, and what."""

    subnet: ipaddress.IPv4Network
    by: str  # "Docker network 'other_internet' (project other)", "route via eth0"


def candidates() -> Iterator[str]:
    """The first /24 of each of the pool's /22s in the order a lab tries them: 198.19.0.0/24
    up, then 198.18.4.0/24 up."""
    blocks: list[ipaddress.IPv4Network] = list(POOL.subnets(new_prefix=22))
    for block in blocks[64:] + blocks[:64]:
        if not any(block.overlaps(r) for r in RESERVED):
            yield str(next(block.subnets(new_prefix=24)))


def taken(networks: Iterable[Mapping[str, Any]], routes: Iterable[Mapping[str, Any]],
          project: str) -> list[Taken]:  # fmt: skip
    """What is in use, from ``docker network inspect`` and ``ip -j route``; PROJECT's own not."""
    out: list[Taken] = []
    for net in networks:
        owner = (net.get("Labels") or {}).get(PROJECT_LABEL)
        if owner == project:
            continue
        for cfg in (net.get("IPAM") or {}).get("Config") or []:
            subnet = cfg.get("Subnet")
            if not subnet or ":" in subnet:
                continue
            who = f"Docker network {net.get('Name')!r}" + (f" (project {owner})" if owner else "")
            out.append(Taken(ipaddress.IPv4Network(subnet, strict=False), who))
    for route in routes:
        dst = str(route.get("dst", ""))
        # Docker's own bridges are already in the network list, with their owner.
        if dst in ("default", "") or str(route.get("dev", "")).startswith(("br-", "docker")):
            continue
        try:
            routed = ipaddress.IPv4Network(dst, strict=False)
        except ValueError:  # an IPv6 route, or a word of ip(8)'s
            continue
        out.append(Taken(routed, f"the host's route via {route.get('dev')}"))
    return out


# The hosts the machine installs from (lab/bootstrap.py, lab/tooling.py, the image
# build). A lab network over one of their addresses would take the host's route to
# it: on this machine all three answer from 203.0.113.80, in TEST-NET-3.
REGISTRIES = ("deb.debian.org", "pypi.org", "registry.npmjs.org")


def registries(names: Iterable[str] = REGISTRIES) -> list[Taken]:
    """The registries' IPv4 addresses as the host's resolver gives them (none when it
    cannot: a machine offline), each a /32 a lab must not cover."""
    out = []
    for name in names:
        try:
            infos = socket.getaddrinfo(name, 80, socket.AF_INET, socket.SOCK_STREAM)
        except OSError:
            continue
        for addr in {str(i[4][0]) for i in infos}:
            out.append(Taken(ipaddress.IPv4Network(f"{addr}/32"), f"the package registry {name}"))
    return out


def conflict(subnet: str, used: Iterable[Taken]) -> Taken | None:
    """The first use that overlaps any network of the lab named by SUBNET, or None."""
    ours = [ipaddress.IPv4Network(n) for n in topology.network_subnets(subnet).values()]
    return next((t for t in used if any(t.subnet.overlaps(n) for n in ours)), None)


def choose(used: Iterable[Taken], wanted: str | None = None,
           preferred: str = topology.SUBNET) -> str:  # fmt: skip
    """The subnet to start a lab in: WANTED or nothing, else PREFERRED if free, else the pool's
    first free /24. ValueError when WANTED is taken or malformed, or the pool is exhausted."""
    used = list(used)
    if wanted:
        wanted = topology.check_subnet(wanted)
        clash = conflict(wanted, used)
        if clash:
            raise ValueError(f"{ENV}={wanted} is already used by {clash.by} ({clash.subnet})")
        return wanted
    if conflict(preferred, used) is None:
        return preferred
    for subnet in candidates():
        if conflict(subnet, used) is None:
            return subnet
    raise ValueError(f"no free /22 left in {POOL} for another lab")


def state_file(root: Path, project: str) -> Path:
    return root / "runs" / "labs" / f"{project}.json"


def remembered(root: Path, project: str) -> str | None:
    """The subnet `lab up` chose for PROJECT, if it left one (and it still reads as one)."""
    try:
        doc = json.loads(state_file(root, project).read_text())
        return topology.check_subnet(str(doc["subnet"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def remember(root: Path, project: str, subnet: str) -> None:
    path = state_file(root, project)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"project": project, "subnet": subnet}) + "\n")
    tmp.replace(path)


def forget(root: Path, project: str) -> None:
    state_file(root, project).unlink(missing_ok=True)

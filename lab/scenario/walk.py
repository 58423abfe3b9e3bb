"""The resolver's walk for one name, read from the capture, checked in order.

A cold lookup of www.example.com asks a root server, then a com. server,
then example.com's own server (RFC 1034 §5.3.3). With QNAME minimisation
(RFC 9156) each of them is asked only the labels it needs to know: the root
"com", the TLD "example.com", the zone's server the full name. A packet
count cannot tell that order from a walk that skipped the root because the
delegation was already cached; this check reads the resolver's questions in
frame order and compares the servers asked with the path expected.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from lab import topology
from lab.errors import LabError

GROUPS = {"roots": ("root-a", "root-b"), "tlds": ("tld-a", "tld-b")}


@dataclass(frozen=True)
class Question:
    frame: int
    src: str
    dst: str
    name: str


def group_of(address: str, plan: topology.Plan = topology.DEFAULT_PLAN) -> str:
    """The name a path uses for a server: roots, tlds, or the service name (in PLAN)."""
    host = plan.by_address.get(address)
    if host is None:
        return address
    for group, members in GROUPS.items():
        if host.service in members:
            return group
    return host.service


def _is_self_or_ancestor(asked: str, name: str) -> bool:
    asked, name = asked.rstrip(".").lower(), name.rstrip(".").lower()
    return asked == name or name.endswith("." + asked)


def path_for(
    questions: list[Question],
    name: str,
    resolver: str,
    client: str,
    plan: topology.Plan = topology.DEFAULT_PLAN,
) -> list[str]:
    """The servers the resolver asked about ``name`` (or its ancestors), in order.

    The walk starts at the client's first question to the resolver for ``name``
    (for a CNAME's target, which the client never asks, at its first question of
    all): a lookup of another name that was still under way when the run began,
    sharing the ancestors, is not this walk. Repeats of the same server group (a
    retry, a second root) count once.
    """
    asked = [q for q in questions if q.src == client and q.dst == resolver]
    want = name.rstrip(".").lower()
    first = next((q for q in asked if q.name.rstrip(".").lower() == want), None) or next(
        iter(asked), None
    )
    if first is None:
        return []
    start = first.frame
    path: list[str] = []
    for q in questions:
        if q.frame <= start or q.src != resolver or q.dst == resolver:
            continue
        if not _is_self_or_ancestor(q.name, name):
            continue
        group = group_of(q.dst, plan)
        if not path or path[-1] != group:
            path.append(group)
    return path


def read_questions(capture: Path) -> list[Question]:
    """Every DNS question in the capture, in frame order."""
    r = subprocess.run(
        ["tshark", "-r", str(capture), "-Y", "dns.flags.response == 0", "-T", "fields",
         "-e", "frame.number", "-e", "ip.src", "-e", "ip.dst", "-e", "dns.qry.name"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if r.returncode != 0:
        raise LabError(f"tshark could not read {capture}: {r.stderr.strip()}")
    out = []
    for line in r.stdout.splitlines():
        parts = line.split("\t")
        if len(parts) >= 4 and parts[0].isdigit():
            out.append(Question(int(parts[0]), parts[1], parts[2], parts[3].split(",")[0]))
    return out


def check_walk(
    capture: Path, name: str, via: list[str], plan: topology.Plan = topology.DEFAULT_PLAN
) -> tuple[bool, str]:
    """Whether the walk for ``name`` began with ``via``; and what it was (addresses in PLAN)."""
    # The resolver's asker is the home: the home router's cache, or the client itself,
    # both from the public address behind the NAT.
    path = path_for(read_questions(capture), name, plan.address("resolver"), plan.public, plan)
    return path[: len(via)] == via, " -> ".join(path) or "no questions from the resolver"

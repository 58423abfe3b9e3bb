"""Let frames be switched inside each lab bridge, past Docker's isolation rules.

Docker isolates an ``internal: true`` network with two rules in the host's
FORWARD chain: a packet entering the bridge must be *for* the network's own
subnet, and one leaving it must come *from* it. When the kernel passes bridged
frames through iptables (``net.bridge.bridge-nf-call-iptables = 1``, the
default wherever br_netfilter is loaded, as on this machine), those rules also
see frames that never leave the bridge: the client's packet to the CDN edge,
switched from the client to the home router, is for 198.51.100.80, not for the
home subnet, and is dropped. In a lab whose routers are containers, that is
every routed packet.

So `lab up` puts one rule per bridge first in DOCKER-USER (the chain Docker
keeps for its users, evaluated before its own): a frame that comes in on a lab
bridge and goes out on the same bridge is accepted. That is switching, not
routing: the host still forwards nothing between two bridges, or between a
bridge and any other interface, and the networks stay internal. Each rule
carries the comment ``weblab:PROJECT``; `lab down` removes that project's.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable

CHAIN = "DOCKER-USER"


def comment(project: str) -> str:
    return f"weblab:{project}"


def rule(bridge: str, project: str) -> list[str]:
    """The iptables rule (after -A/-I/-C/-D CHAIN) that lets BRIDGE switch its own frames."""
    return ["-i", bridge, "-o", bridge, "-m", "comment", "--comment", comment(project),
            "-j", "ACCEPT"]  # fmt: skip


def _iptables(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = ["iptables", "-w", *args]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=False)
    except FileNotFoundError:  # no iptables on this host: no Docker rules to get past either
        return subprocess.CompletedProcess(cmd, 127, "", "iptables is not installed")


def allow(bridges: Iterable[str], project: str) -> list[str]:
    """Add the rule for every bridge that lacks it; the bridges it was added for.

    Nothing to do (an empty list) where the host has no DOCKER-USER chain:
    Docker then manages no iptables rules and nothing drops the frames."""
    if _iptables("-S", CHAIN).returncode != 0:
        return []
    added = []
    for bridge in bridges:
        if _iptables("-C", CHAIN, *rule(bridge, project)).returncode != 0:
            r = _iptables("-I", CHAIN, "1", *rule(bridge, project))
            if r.returncode != 0:
                raise RuntimeError(f"iptables -I {CHAIN} for {bridge}: {r.stderr.strip()}")
            added.append(bridge)
    return added


def ours(listing: str, project: str) -> list[list[str]]:
    """The rules of ``iptables -S DOCKER-USER`` LISTING that PROJECT added, as -D arguments.

    The comment must be PROJECT's exactly: project ``weblab`` leaves ``weblab-2``'s alone."""
    out = []
    for line in listing.splitlines():
        words = [w.strip('"') for w in line.split()]
        if words[:2] != ["-A", CHAIN]:
            continue
        comments = [words[i + 1] for i, w in enumerate(words[:-1]) if w == "--comment"]
        if comment(project) in comments:
            out.append(words[2:])
    return out


def revoke(project: str) -> int:
    """Remove PROJECT's rules; how many were removed."""
    r = _iptables("-S", CHAIN)
    if r.returncode != 0:
        return 0
    gone = 0
    for args in ours(r.stdout, project):
        if _iptables("-D", CHAIN, *args).returncode == 0:
            gone += 1
    return gone

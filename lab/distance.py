"""Distance: turn a profile of lab/topology.py into each host's delay plan, and apply it.

Each host's link to the lab's core has a one-way delay (and optionally jitter
and loss) from the profile. The one-way delay between two hosts is the sum of
their two links, as on a star network: client -> edge is the client's access
line plus the edge's link. The routers between them add none of their own
(they forward in microseconds); the client's access line is the home's, so
servers hold what comes from the home's public address (the NAT) for it.

Where the delay is added (services/linkdelay/plan.py says why): each host
holds what arrives at the ports it serves, for the whole round trip to the
asker, and answers at once. The capture on the switch then shows every exchange as the
asker lives it. A run records which mechanism applied each host's delay.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab import topology
from lab.compose import ROOT, Lab
from lab.errors import LabError, UsageError
from lab.topology import Link

Say = Callable[[str], None]
CTL = ("python", "-m", "services.linkdelay.ctl")


def plan_dir(project: str, root: Path = ROOT) -> Path:
    """Where the plan lives on the host; compose.yaml mounts it read-only at /linkdelay."""
    return root / "runs" / "linkdelay" / project


def resolve(profile: str | Mapping[str, Any]) -> tuple[str, dict[str, Link]]:
    """A profile name, or ``{base: NAME, links: {service: {delay_ms, jitter_ms, loss_pct}}}``."""
    if isinstance(profile, str):
        if profile not in topology.PROFILES:
            known = ", ".join(topology.PROFILES)
            raise UsageError(f"unknown profile {profile!r}: choose one of {known}")
        return profile, dict(topology.PROFILES[profile])
    base = str(profile.get("base", "default"))
    name, links = resolve(base)
    for service, spec in (profile.get("links") or {}).items():
        if service not in topology.BY_SERVICE:
            raise UsageError(f"profile links: {service!r} is not a lab host")
        if topology.BY_SERVICE[service].router:
            raise UsageError(f"profile links: {service!r} is a router; routers add no delay "
                             "of their own (give the link to a host beside it)")  # fmt: skip
        if not isinstance(spec, Mapping):
            raise UsageError(f"profile links.{service}: give delay_ms, jitter_ms and/or loss_pct")
        try:
            links[service] = topology.make_link(f"profile links.{service}", **dict(spec))
        except ValueError as e:
            raise UsageError(str(e)) from e
    return f"{name}+custom", links


def host_plans(
    name: str, links: Mapping[str, Link], plan: topology.Plan = topology.DEFAULT_PLAN
) -> dict[str, Any]:
    """The plan document: for every serving host of the lab's address PLAN, the round trip
    to add toward each peer (each daemon finds its own entry by its address)."""
    hosts: dict[str, Any] = {}
    for host in plan.hosts:
        if host.router:
            continue  # routers add no distance of their own
        mine = links.get(host.service, topology.NO_DELAY)
        peers = {}
        for peer in plan.hosts:
            if peer is host or peer.router:
                continue
            # The client is seen at the home's public address (the NAT): its access line
            # is that address's link, which the home router's own lookups share.
            theirs = links.get(peer.service, topology.NO_DELAY)
            one_way = mine.delay_ms + theirs.delay_ms
            jitter = mine.jitter_ms + theirs.jitter_ms
            if one_way or jitter:
                peers[plan.seen_as(peer.service)] = {"delay_ms": 2 * one_way, "jitter_ms": jitter}
        hosts[host.ipv4] = {
            "service": host.service,
            "serves": list(host.serves),
            "loss_pct": mine.loss_pct,
            "peers": peers,
        }
    return {"version": 1, "profile": name, "hosts": hosts}


def one_way_ms(links: Mapping[str, Link], a: str, b: str) -> float:
    """The profile's one-way delay between two services."""
    return links.get(a, topology.NO_DELAY).delay_ms + links.get(b, topology.NO_DELAY).delay_ms


@dataclass
class Applied:
    """What each host reported after a profile was applied."""

    profile: str
    links: dict[str, Link]
    status: dict[str, dict[str, Any]]  # service -> the daemon's status (or an "error")

    def mechanisms(self) -> dict[str, str]:
        return {
            s: str(doc.get("mechanism", "none")) if not doc.get("error") else "not applied"
            for s, doc in self.status.items()
        }


def write_plan(lab: Lab, profile: str | Mapping[str, Any]) -> tuple[str, dict[str, Link]]:
    """Write the plan file (containers started after this read it at once)."""
    name, links = resolve(profile)
    folder = plan_dir(lab.project, lab.root)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / "plan.json.tmp"
    tmp.write_text(json.dumps(host_plans(name, links, lab.plan), indent=1))
    tmp.replace(folder / "plan.json")
    return name, links


def current(lab: Lab) -> str | Mapping[str, Any]:
    """The profile in force (the ``lan`` profile when no plan was ever written)."""
    try:
        doc = json.loads((plan_dir(lab.project, lab.root) / "plan.json").read_text())
    except (OSError, ValueError):
        return "lan"
    return str(doc.get("profile", "lan")).removesuffix("+custom")


def _ctl(lab: Lab, service: str, *args: str) -> dict[str, Any]:
    r = lab.exec(service, *CTL, *args, timeout=30)
    if r.returncode != 0:
        return {"error": (r.stderr or r.stdout).strip() or f"exit {r.returncode}"}
    doc: dict[str, Any] = json.loads(r.stdout)
    return doc


def _running(lab: Lab) -> list[str]:
    """The running lab hosts with a delay daemon (a user's own container and the routers
    have none)."""
    own = {h.service for h in lab.plan.hosts if h.own or h.router}
    return [s.name for s in lab.status() if s.state == "running" and s.name not in own]


def apply(lab: Lab, profile: str | Mapping[str, Any], say: Say | None = None) -> Applied:
    """Write the plan and make every running host load it; refuse to go on half-applied."""
    name, links = write_plan(lab, profile)
    services = _running(lab)
    with ThreadPoolExecutor(max_workers=8) as pool:
        status = dict(
            zip(services, pool.map(lambda s: _ctl(lab, s, "reload"), services), strict=True)
        )
    failed = {s: d["error"] for s, d in status.items() if d.get("error")}
    if failed:
        detail = "; ".join(f"{s}: {e}" for s, e in sorted(failed.items()))
        raise LabError(
            f"profile {name} not applied on {len(failed)} host(s): {detail}. "
            "The link delay daemon runs in every lab container (services/linkdelay); "
            "`lab logs SERVICE` shows why it stopped, `lab down && lab up` restarts it."
        )
    if say:
        how = mechanism_line(status)
        say(f"profile {name}: link delays applied on {len(services)} hosts ({how})")
    return Applied(name, links, status)


def statuses(lab: Lab) -> dict[str, dict[str, Any]]:
    """Each running host's daemon status (or why there is none)."""
    services = _running(lab)
    with ThreadPoolExecutor(max_workers=8) as pool:
        return dict(
            zip(services, pool.map(lambda s: _ctl(lab, s, "status"), services), strict=True)
        )


def set_extra(lab: Lab, service: str, ms: float) -> dict[str, Any]:
    """A delay fault: hold everything that reaches ``service`` ``ms`` longer (0 removes it)."""
    doc = _ctl(lab, service, "extra", f"{ms:g}")
    if doc.get("error"):
        raise LabError(f"delay on {service} not applied: {doc['error']}")
    return doc


def describe(status: Mapping[str, Any] | None) -> str:
    """One host's link for a table: ``9 ms +-8 1% loss``, or why it has none."""
    if not status:
        return "-"
    if status.get("error"):
        return "NOT APPLIED"
    plan = _plan_links(status)
    if plan is None:
        return "0 ms"
    text = f"{plan.delay_ms:g} ms"
    if plan.jitter_ms:
        text += f" +-{plan.jitter_ms:g}"
    if plan.loss_pct:
        text += f" {plan.loss_pct:g}% loss"
    extra = float(status.get("extra_ms") or 0)
    if extra:
        text += f" (+{extra:g} fault)"
    return text


def _plan_links(status: Mapping[str, Any]) -> Link | None:
    name = str(status.get("profile") or "lan").removesuffix("+custom")
    service = str(status.get("service") or "")
    if name not in topology.PROFILES or not service:
        return None
    return topology.PROFILES[name].get(service, topology.NO_DELAY)


MEANING = {
    "nfqueue": " (nfqueue: services/linkdelay holds each reply in userspace; no netem here)",
    "netem": " (netem: the kernel holds each reply)",
}


def _one_mechanism(statuses: Mapping[str, Mapping[str, Any]]) -> str:
    found = {str(d.get("mechanism", "")) for d in statuses.values() if not d.get("error")}
    return found.pop() if len(found) == 1 else ""


def mechanism_line(statuses: Mapping[str, Mapping[str, Any]]) -> str:
    """Which mechanism applied the delays, host by host, in one line."""
    by: dict[str, list[str]] = {}
    for service, doc in sorted(statuses.items()):
        key = "not applied" if doc.get("error") else str(doc.get("mechanism", "none"))
        by.setdefault(key, []).append(service)
    return "; ".join(
        f"{mech}: {'all hosts' if len(v) == len(statuses) else ', '.join(v)}"
        for mech, v in by.items()
    )


def summary(applied: Applied) -> str:
    """What the profile means for the main paths, in round trips."""
    links = applied.links
    rtt = {
        "client -> resolver": 2 * one_way_ms(links, "client", "resolver"),
        "resolver -> root": 2 * one_way_ms(links, "resolver", "root-a"),
        "resolver -> ns1.example.com": 2 * one_way_ms(links, "resolver", "ns-example"),
        "client -> edge": 2 * one_way_ms(links, "client", "edge"),
        "edge -> origin": 2 * one_way_ms(links, "edge", "origin"),
    }
    parts = ", ".join(f"{k} {v:g} ms" for k, v in rtt.items())
    return (
        f"profile {applied.profile} (round trips): {parts}; "
        + mechanism_line(applied.status)
        + MEANING.get(_one_mechanism(applied.status), "")
    )

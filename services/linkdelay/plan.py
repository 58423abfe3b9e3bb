"""The delay plan: the round trips one host adds for its askers, and the iptables rules.

The orchestrator (lab/distance.py) writes one plan for the whole lab, from the
profile in lab/topology.py; every host's daemon reads its own entry. A host
delays only what reaches the ports it *serves*: each asker's packets (the
question, then its ACKs) are held on arrival for the whole round trip the
profile gives that pair, and the host's answers leave at once. The wire then
carries each exchange as the asker sees it (a question leaves, the answer
comes back one round trip later), so the capture's timestamps, ``dig``'s
query time and curl's ``time_connect`` all tell the same round trip.

Why on arrival and not on the way out (measured here on the h2-multiplexing
scenario, warm cache, 20 ms round trip): holding the edge's replies as they
left made one HTTP/2 connection take 865 ms against 539 ms for six HTTP/1.1
connections; holding what arrives, 458 ms against 519 ms. A likely cause is
that a held outgoing packet still counts against its socket's TCP Small
Queues budget, throttling one busy connection; packets held on arrival
belong to no local socket yet. (Not proven; the figures are.)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.linkdelay.hold import Rule

PROTOCOLS = {"udp": 17, "tcp": 6}
CHAIN_DELAY = "WL_DELAY"  # jumped to from INPUT: what askers send to our ports, held
CHAIN_LOSS_IN = "WL_LOSS_IN"  # from INPUT: random loss on the way in
CHAIN_LOSS_OUT = "WL_LOSS_OUT"  # from OUTPUT: random loss on the way out
MAX_DELAY_MS = 10_000.0


class PlanError(ValueError):
    """The plan file is not what the orchestrator writes."""


@dataclass(frozen=True)
class HostPlan:
    """One host's part of the plan."""

    service: str
    address: str
    serves: frozenset[tuple[int, int]]  # (IP protocol number, port)
    peers: dict[str, Rule] = field(default_factory=dict)
    loss_pct: float = 0.0
    profile: str = ""

    def rule_for(self, proto: int, port: int, peer: str) -> Rule | None:
        """The hold for a packet from ``peer`` to our ``port``, if that port is one we serve."""
        if (proto, port) not in self.serves:
            return None
        return self.peers.get(peer)


def _number(doc: dict[str, Any], key: str, where: str, top: float) -> float:
    value = doc.get(key, 0.0)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise PlanError(f"{where}: {key} must be a number, not {value!r}")
    if not 0 <= value <= top:
        raise PlanError(f"{where}: {key} {value} is outside 0..{top:g}")
    return float(value)


def _serves(items: Any, where: str) -> frozenset[tuple[int, int]]:
    if not isinstance(items, list):
        raise PlanError(f'{where}: serves must be a list like ["udp/53", "tcp/443"]')
    out = set()
    for item in items:
        proto, _, port = str(item).partition("/")
        if proto not in PROTOCOLS or not port.isdigit() or not 0 < int(port) < 65536:
            raise PlanError(f"{where}: {item!r} is not PROTO/PORT (udp or tcp, 1-65535)")
        out.add((PROTOCOLS[proto], int(port)))
    return frozenset(out)


def parse_plan(doc: Any, addresses: set[str]) -> HostPlan | None:
    """This host's entry (matched by one of its ``addresses``), or None if it has none."""
    if not isinstance(doc, dict) or not isinstance(doc.get("hosts"), dict):
        raise PlanError('the plan must be a JSON object with a "hosts" object')
    for address, entry in doc["hosts"].items():
        if address not in addresses:
            continue
        where = f"hosts.{address}"
        if not isinstance(entry, dict):
            raise PlanError(f"{where} must be an object")
        peers: dict[str, Rule] = {}
        for peer, rule in (entry.get("peers") or {}).items():
            if not isinstance(rule, dict):
                raise PlanError(f"{where}.peers.{peer} must be an object")
            delay = _number(rule, "delay_ms", f"{where}.peers.{peer}", MAX_DELAY_MS)
            jitter = _number(rule, "jitter_ms", f"{where}.peers.{peer}", MAX_DELAY_MS)
            peers[peer] = Rule(delay, jitter)
        return HostPlan(
            service=str(entry.get("service", "")),
            address=address,
            serves=_serves(entry.get("serves", []), where),
            peers=peers,
            loss_pct=_number(entry, "loss_pct", where, 100.0),
            profile=str(doc.get("profile", "")),
        )
    return None


def load_plan(path: Path, addresses: set[str]) -> HostPlan | None:
    """Read the plan file; a missing file means no delay (the ``lan`` profile)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise PlanError(f"{path}: not JSON ({e})") from e
    return parse_plan(doc, addresses)


def rules(plan: HostPlan | None, queue: int, extra_ms: float) -> list[list[str]]:
    """iptables arguments that fill our three chains (after they are flushed).

    ``--queue-bypass``: if the daemon is not bound, packets pass undelayed
    instead of being dropped, so a dead daemon never cuts the lab off (the
    status file then says the delay is not applied). Loopback is spared:
    health checks talk to 127.0.0.1.
    """
    out: list[list[str]] = []
    to_queue = ["-j", "NFQUEUE", "--queue-num", str(queue), "--queue-bypass"]
    if extra_ms > 0:
        # A delay fault holds everything that reaches the host, not only its askers'.
        out.append(["-A", CHAIN_DELAY, "!", "-i", "lo", *to_queue])
    elif plan is not None and any(r.delay_ms or r.jitter_ms for r in plan.peers.values()):
        for name, number in sorted(PROTOCOLS.items()):
            ports = sorted(p for proto, p in plan.serves if proto == number)
            if ports:
                out.append(
                    ["-A", CHAIN_DELAY, "!", "-i", "lo", "-p", name, "-m", "multiport",
                     "--dports", ",".join(str(p) for p in ports), *to_queue]
                )  # fmt: skip
    if plan is not None and plan.loss_pct > 0:
        chance = [
            "-m",
            "statistic",
            "--mode",
            "random",
            "--probability",
            f"{plan.loss_pct / 100:.4f}",
        ]
        out.append(["-A", CHAIN_LOSS_IN, "!", "-i", "lo", *chance, "-j", "DROP"])
        out.append(["-A", CHAIN_LOSS_OUT, "!", "-o", "lo", *chance, "-j", "DROP"])
    return out


def hooks() -> list[tuple[str, str]]:
    """(built-in chain, our chain) jumps, made once when the daemon starts."""
    return [("INPUT", CHAIN_DELAY), ("INPUT", CHAIN_LOSS_IN), ("OUTPUT", CHAIN_LOSS_OUT)]

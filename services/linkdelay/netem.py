"""The same plan on a kernel that has netem: tc classes instead of a userspace queue.

Where ``sch_netem`` exists (most Linux hosts, Docker Desktop's VM), the
kernel holds the packets itself, cheaper and more precise than the NFQUEUE
daemon. The shape on each interface (``tc-htb(8)``, ``tc-u32(8)``,
``tc-netem(8)``)::

    root htb 1: (default class 1:1, no delay)
      class 1:1              everything not matched
      class 1:10, 1:11, ...  one per distinct (delay, jitter), each with a netem leaf
    u32 filters: (destination = peer, source port = a port we serve) -> that class

A delay fault (extra ms for everything sent) puts a netem leaf on the
default class too and adds the extra to every other class. Loss stays with
iptables' statistic match, as in the NFQUEUE mechanism.
"""

from __future__ import annotations

from services.linkdelay.hold import Rule
from services.linkdelay.plan import HostPlan

RATE = "10gbit"  # htb needs a rate; far above anything the lab sends
QUANTUM = "60000"  # bytes a class may send per round; set, or htb warns about 10gbit / r2q


def _netem(rule: Rule, extra_ms: float) -> list[str]:
    args = ["netem", "delay", f"{rule.delay_ms + extra_ms:g}ms"]
    if rule.jitter_ms:
        args.append(f"{rule.jitter_ms:g}ms")
    return args


def tc_commands(plan: HostPlan | None, extra_ms: float, dev: str) -> list[list[str]]:
    """``tc`` argument lists that build the plan on ``dev`` (after its root qdisc is removed)."""
    if plan is None and not extra_ms:
        return []
    out = [
        ["qdisc", "add", "dev", dev, "root", "handle", "1:", "htb", "default", "1"],
        [
            "class",
            "add",
            "dev",
            dev,
            "parent",
            "1:",
            "classid",
            "1:1",
            "htb",
            "rate",
            RATE,
            "quantum",
            QUANTUM,
        ],  # fmt: skip
    ]
    if extra_ms:
        out.append(["qdisc", "add", "dev", dev, "parent", "1:1", "handle", "1001:",
                    *_netem(Rule(0.0), extra_ms)])  # fmt: skip
    if plan is None:
        return out
    classes: dict[Rule, int] = {}
    for peer, rule in sorted(plan.peers.items()):
        if not (rule.delay_ms or rule.jitter_ms):
            continue
        if rule not in classes:
            minor = 10 + len(classes)
            classes[rule] = minor
            out.append(["class", "add", "dev", dev, "parent", "1:", "classid", f"1:{minor}",
                        "htb", "rate", RATE, "quantum", QUANTUM])  # fmt: skip
            out.append(["qdisc", "add", "dev", dev, "parent", f"1:{minor}", "handle",
                        f"{minor}:", *_netem(rule, extra_ms)])  # fmt: skip
        for proto, port in sorted(plan.serves):
            out.append(["filter", "add", "dev", dev, "parent", "1:", "protocol", "ip", "prio",
                        "1", "u32", "match", "ip", "dst", f"{peer}/32", "match", "ip",
                        "protocol", str(proto), "0xff", "match", "ip", "sport", str(port),
                        "0xffff", "flowid", f"1:{classes[rule]}"])  # fmt: skip
    return out

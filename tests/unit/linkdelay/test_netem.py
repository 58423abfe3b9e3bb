"""The plan as tc commands, for kernels that have netem."""

from __future__ import annotations

from services.linkdelay.hold import Rule
from services.linkdelay.netem import tc_commands
from services.linkdelay.plan import HostPlan

PLAN = HostPlan(
    service="resolver",
    address="198.51.100.53",
    serves=frozenset({(17, 53)}),
    peers={"198.51.100.100": Rule(18.0), "198.51.100.80": Rule(2.0), "198.51.100.91": Rule(18.0)},
)


def test_no_plan_no_commands() -> None:
    """The lan profile (no plan, no fault) leaves the interface alone."""
    assert tc_commands(None, 0.0, "eth0") == []


def test_one_class_per_distinct_delay_and_a_filter_per_peer_and_port() -> None:
    """Peers that share a round trip share a netem class; each (peer, port) gets a filter."""
    cmds = tc_commands(PLAN, 0.0, "eth0")
    assert cmds[0] == ["qdisc", "add", "dev", "eth0", "root", "handle", "1:", "htb", "default", "1"]
    netems = [c for c in cmds if "netem" in c]
    assert [c[c.index("netem") :] for c in netems] == [
        ["netem", "delay", "18ms"],  # 198.51.100.100 sorts first
        ["netem", "delay", "2ms"],
    ]
    filters = [c for c in cmds if c[0] == "filter"]
    assert len(filters) == 3
    assert filters[0][-2:] == ["flowid", "1:10"]
    assert filters[1][-2:] == ["flowid", "1:11"]
    assert filters[2][-2:] == ["flowid", "1:10"]  # .91 shares .100's 18 ms class
    assert filters[0][filters[0].index("dst") + 1] == "198.51.100.100/32"
    assert filters[0][filters[0].index("sport") + 1 : filters[0].index("sport") + 3] == [
        "53",
        "0xffff",
    ]


def test_jitter_is_netems_own() -> None:
    """Jitter goes to netem as its second delay argument."""
    plan = HostPlan("edge", "198.51.100.80", frozenset({(6, 443)}), {"198.51.100.100": Rule(82, 8)})
    netem = next(c for c in tc_commands(plan, 0.0, "eth0") if "netem" in c)
    assert netem[netem.index("netem") :] == ["netem", "delay", "82ms", "8ms"]


def test_a_fault_delays_the_default_class_and_adds_to_the_others() -> None:
    """A delay fault holds unmatched traffic by its extra and adds it to every peer class."""
    cmds = tc_commands(PLAN, 200.0, "eth0")
    netems = [c[c.index("netem") :] for c in cmds if "netem" in c]
    assert netems == [
        ["netem", "delay", "200ms"],
        ["netem", "delay", "218ms"],
        ["netem", "delay", "202ms"],
    ]

"""The delay plan: one host's entry, its validation, and the iptables rules it makes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.linkdelay.hold import Rule
from services.linkdelay.plan import PlanError, load_plan, parse_plan, rules

PLAN = {
    "profile": "default",
    "hosts": {
        "198.51.100.53": {
            "service": "resolver",
            "serves": ["udp/53", "tcp/53"],
            "loss_pct": 0,
            "peers": {"198.51.100.100": {"delay_ms": 18}, "198.51.100.80": {"delay_ms": 2}},
        },
        "198.51.100.100": {"service": "client", "serves": [], "loss_pct": 1, "peers": {}},
    },
}


def test_the_host_finds_its_entry_by_address() -> None:
    """A host reads the entry of the address it has, with the peers' round trips."""
    plan = parse_plan(PLAN, {"198.51.100.53"})
    assert plan is not None
    assert plan.service == "resolver"
    assert plan.peers["198.51.100.100"] == Rule(18.0)
    assert plan.serves == frozenset({(17, 53), (6, 53)})


def test_a_host_not_in_the_plan_gets_none() -> None:
    """No entry for our address: no delay at all."""
    assert parse_plan(PLAN, {"198.51.100.99"}) is None


def test_only_packets_to_served_ports_are_held() -> None:
    """The resolver holds the questions to its port 53, not the roots' answers to its own."""
    plan = parse_plan(PLAN, {"198.51.100.53"})
    assert plan is not None
    assert plan.rule_for(17, 53, "198.51.100.100") == Rule(18.0)
    assert plan.rule_for(17, 40000, "198.51.100.4") is None
    assert plan.rule_for(17, 53, "198.51.100.4") is None  # a peer the plan does not list


def test_missing_file_means_no_delay(tmp_path: Path) -> None:
    """Before any profile is applied there is no plan file: the lan profile, nothing held."""
    assert load_plan(tmp_path / "plan.json", {"198.51.100.53"}) is None


def test_not_json_is_a_clear_error(tmp_path: Path) -> None:
    """A plan that is not JSON is refused with the file named."""
    path = tmp_path / "plan.json"
    path.write_text("{hosts:")
    with pytest.raises(PlanError, match="plan.json: not JSON"):
        load_plan(path, set())


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"peers": {"x": {"delay_ms": -1}}}, r"delay_ms -1 is outside 0\.\.10000"),
        ({"peers": {"x": {"delay_ms": 20000}}}, r"delay_ms 20000 is outside"),
        ({"peers": {"x": {"delay_ms": "9ms"}}}, r"delay_ms must be a number"),
        ({"loss_pct": 101}, r"loss_pct 101 is outside 0\.\.100"),
        ({"serves": ["sctp/53"]}, r"'sctp/53' is not PROTO/PORT"),
        ({"serves": ["udp/0"]}, r"'udp/0' is not PROTO/PORT"),
        ({"serves": "udp/53"}, r"serves must be a list"),
    ],
)
def test_bad_entries_are_refused(entry: dict[str, object], message: str) -> None:
    """Bad values are refused with where they are and what is allowed."""
    with pytest.raises(PlanError, match=message):
        parse_plan({"hosts": {"198.51.100.53": entry}}, {"198.51.100.53"})


def test_rules_hold_served_ports_only_and_spare_loopback() -> None:
    """With delays, what arrives at the served ports (UDP and TCP) is queued, never from lo."""
    plan = parse_plan(PLAN, {"198.51.100.53"})
    tail = ["-j", "NFQUEUE", "--queue-num", "7", "--queue-bypass"]
    assert rules(plan, 7, 0.0) == [
        [
            "-A",
            "WL_DELAY",
            "!",
            "-i",
            "lo",
            "-p",
            "tcp",
            "-m",
            "multiport",
            "--dports",
            "53",
            *tail,
        ],
        [
            "-A",
            "WL_DELAY",
            "!",
            "-i",
            "lo",
            "-p",
            "udp",
            "-m",
            "multiport",
            "--dports",
            "53",
            *tail,
        ],
    ]


def test_a_delay_fault_queues_everything_received() -> None:
    """A delay fault holds all that reaches the host (one catch-all rule), loopback spared."""
    plan = parse_plan(PLAN, {"198.51.100.53"})
    assert rules(plan, 7, 200.0) == [
        ["-A", "WL_DELAY", "!", "-i", "lo", "-j", "NFQUEUE", "--queue-num", "7", "--queue-bypass"]
    ]


def test_loss_is_dropped_both_ways_at_random() -> None:
    """A lossy access link drops the given share in and out, loopback spared."""
    plan = parse_plan(PLAN, {"198.51.100.100"})
    chance = ["-m", "statistic", "--mode", "random", "--probability", "0.0100", "-j", "DROP"]
    assert rules(plan, 7, 0.0) == [
        ["-A", "WL_LOSS_IN", "!", "-i", "lo", *chance],
        ["-A", "WL_LOSS_OUT", "!", "-o", "lo", *chance],
    ]


def test_no_plan_no_rules() -> None:
    """The lan profile (no plan) installs nothing."""
    assert rules(None, 7, 0.0) == []


def test_plan_file_round_trip(tmp_path: Path) -> None:
    """The file the orchestrator writes is the file the daemon reads."""
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(PLAN))
    plan = load_plan(path, {"198.51.100.100", "10.0.0.1"})
    assert plan is not None
    assert plan.loss_pct == 1.0

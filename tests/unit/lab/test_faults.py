"""lab.scenario.faults: the iptables rules a packet fault installs, and that removing
the fault deletes exactly the rules applying it inserted (a fake lab, no Docker)."""

from __future__ import annotations

import subprocess

import pytest

from lab import topology
from lab.errors import LabError
from lab.scenario.faults import Faults, _iptables_rules
from lab.scenario.spec import Fault

BLACKHOLE = [
    ["INPUT", "!", "-i", "lo", "-j", "DROP"],
    ["OUTPUT", "!", "-o", "lo", "-j", "DROP"],
]


def loss_rules(probability: str) -> list[list[str]]:
    match = ["-m", "statistic", "--mode", "random", "--probability", probability]
    return [
        ["INPUT", "!", "-i", "lo", *match, "-j", "DROP"],
        ["OUTPUT", "!", "-o", "lo", *match, "-j", "DROP"],
    ]


@pytest.mark.parametrize(
    ("fault", "rules"),
    [
        pytest.param(Fault("blackhole", "tld-a"), BLACKHOLE, id="blackhole"),
        pytest.param(Fault("loss", "edge", percent=5), loss_rules("0.0500"), id="loss-5%"),
        pytest.param(Fault("loss", "edge", percent=12.5), loss_rules("0.1250"), id="loss-12.5%"),
        pytest.param(Fault("loss", "edge", percent=100), loss_rules("1.0000"), id="loss-100%"),
        pytest.param(Fault("loss", "edge", percent=0.01), loss_rules("0.0001"), id="loss-0.01%"),
    ],
)
def test_iptables_rules(fault: Fault, rules: list[list[str]]) -> None:
    """A blackhole drops everything in and out but loopback; loss drops the given share
    of it, the percentage written as iptables' probability with four decimals."""
    assert _iptables_rules(fault) == rules


class FakeLab:
    """Records the commands run in containers; every command succeeds unless it is
    listed in ``fail`` (then it exits 1 with ``stderr``)."""

    def __init__(self, fail: tuple[str, ...] = (), stderr: str = "", stdout: str = "",
                 plan: topology.Plan = topology.DEFAULT_PLAN) -> None:  # fmt: skip
        self.plan = plan
        self.calls: list[tuple[str, ...]] = []
        self.fail = fail
        self.stderr = stderr
        self.stdout = stdout

    def exec(
        self, service: str, *cmd: str, check: bool = False, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        self.calls.append((service, *cmd))
        code = 1 if cmd[0] in self.fail else 0
        out = "" if code else self.stdout
        return subprocess.CompletedProcess([service, *cmd], code, out, self.stderr if code else "")


def faults_on(lab: FakeLab, *faults: Fault) -> Faults:
    """Faults driving the fake: it has the one Lab method packet and delay faults use."""
    return Faults(lab, faults)  # type: ignore[arg-type]  # a fake, not a Lab subclass


@pytest.mark.parametrize(
    ("fault", "what"),
    [
        pytest.param(Fault("blackhole", "tld-a"), "dropping every packet", id="blackhole"),
        pytest.param(
            Fault("loss", "edge", percent=5), "dropping 5% of packets at random", id="loss"
        ),
    ],
)
def test_remove_deletes_the_rules_apply_inserted(fault: Fault, what: str) -> None:
    """apply() inserts each rule in the target's container, remove() deletes the same
    rules, so the host is left as it was; both say what they do."""
    lab = FakeLab()
    said: list[str] = []
    faults = faults_on(lab, fault)
    faults.apply(said.append)
    rules = _iptables_rules(fault)
    assert lab.calls == [(fault.service, "iptables", "-I", *rule) for rule in rules]
    assert faults.applied == [fault]
    faults.remove(said.append)
    assert lab.calls[len(rules) :] == [(fault.service, "iptables", "-D", *rule) for rule in rules]
    assert faults.applied == []
    assert said == [
        f"fault: {what} in and out of {fault.service} (iptables)",
        f"undo: removing the iptables rules in {fault.service}",
    ]


def test_faults_due_later_wait_for_their_step() -> None:
    """A fault with before_step 2 is not applied before step 1."""
    lab = FakeLab()
    faults = faults_on(lab, Fault("blackhole", "tld-a", before_step=2))
    faults.apply(lambda _: None, before_step=1)
    assert lab.calls == []
    faults.apply(lambda _: None, before_step=2)
    assert [call[:3] for call in lab.calls] == [("tld-a", "iptables", "-I")] * 2


def test_iptables_failure_is_a_lab_error() -> None:
    """A rule iptables refuses is reported with the chain, the service and its message."""
    lab = FakeLab(fail=("iptables",), stderr="iptables: Permission denied\n")
    faults = faults_on(lab, Fault("blackhole", "tld-a"))
    with pytest.raises(
        LabError, match=r"^iptables -I INPUT in tld-a failed: iptables: Permission denied$"
    ):
        faults.apply(lambda _: None)
    assert faults.applied == []


def test_delay_goes_to_the_link_delay_daemon_and_back() -> None:
    """A delay fault asks the host's link delay daemon to hold everything 200 ms longer,
    and the undo sets it back to 0."""
    lab = FakeLab(stdout='{"mechanism": "nfqueue", "extra_ms": 200}')
    said: list[str] = []
    faults = faults_on(lab, Fault("delay", "resolver", ms=200))
    faults.apply(said.append)
    ctl = ("resolver", "python", "-m", "services.linkdelay.ctl", "extra")
    assert lab.calls == [(*ctl, "200")]
    assert faults.applied == [Fault("delay", "resolver", ms=200)]
    faults.remove(said.append)
    assert lab.calls[1:] == [(*ctl, "0")]
    assert said == [
        "fault: delay 200 ms on everything resolver receives (userspace NFQUEUE)",
        "undo: no added delay on resolver",
    ]


def test_delay_without_a_daemon_is_noted_not_applied() -> None:
    """If the host's link delay daemon does not answer, the delay is not applied and the
    run's notes say so."""
    lab = FakeLab(fail=("python",), stderr="linkdelay: the link delay daemon is not running here\n")
    said: list[str] = []
    faults = faults_on(lab, Fault("delay", "resolver", ms=200))
    faults.apply(said.append)
    assert faults.applied == []
    note = (
        "delay 200 ms on resolver NOT applied (delay on resolver not applied: linkdelay: the "
        "link delay daemon is not running here); the run goes on without it"
    )
    assert faults.notes == [note]
    assert said == ["fault: " + note]
    faults.remove(said.append)
    assert len(lab.calls) == 1  # nothing to undo


def test_drop_rule_matches_the_sender_in_the_labs_own_subnet() -> None:
    """A lab beside another drops packets from its own edge, not the documentation plan's."""
    f = Fault("drop", "edge", settings=(("min_bytes", 1000.0), ("packet", 1.0), ("port", 443.0)),
              proto="tcp", to="client")  # fmt: skip
    (rule,) = _iptables_rules(f, topology.plan("198.19.8.0/24"))
    assert rule[:3] == ["INPUT", "-s", "198.19.8.80"]

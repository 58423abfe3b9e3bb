"""lab.bridges: the DOCKER-USER rule that lets a lab bridge switch its own frames, and
finding a project's rules again in `iptables -S` (a fake iptables: never the host's)."""

from __future__ import annotations

import subprocess

import pytest

from lab import bridges

# `iptables -S DOCKER-USER` on a machine with two labs up ("weblab" and "weblab-2") and
# Docker's own RETURN last; iptables quotes a comment only when it needs to.
LISTING = """\
-N DOCKER-USER
-A DOCKER-USER -i br-3f1c2a9d0e11 -o br-3f1c2a9d0e11 -m comment --comment weblab:weblab -j ACCEPT
-A DOCKER-USER -i br-77aa01b2c3d4 -o br-77aa01b2c3d4 -m comment --comment "weblab:weblab" -j ACCEPT
-A DOCKER-USER -i br-5e6f70819a2b -o br-5e6f70819a2b -m comment --comment weblab:weblab-2 -j ACCEPT
-A DOCKER-USER -i eth1 -j DROP
-A DOCKER-USER -j RETURN
"""


def test_rule_accepts_frames_in_and_out_of_the_same_bridge() -> None:
    """One rule per bridge: in on it, out on it, tagged with the project, ACCEPT."""
    assert bridges.rule("br-3f1c2a9d0e11", "weblab") == [
        "-i", "br-3f1c2a9d0e11", "-o", "br-3f1c2a9d0e11",
        "-m", "comment", "--comment", "weblab:weblab", "-j", "ACCEPT",
    ]  # fmt: skip


def test_ours_finds_exactly_the_projects_rules_as_delete_arguments() -> None:
    """The project's rules (quoted or not) come back as the arguments -D needs; another
    project whose name starts the same, the host's own rules and Docker's RETURN stay."""
    assert bridges.ours(LISTING, "weblab") == [
        bridges.rule("br-3f1c2a9d0e11", "weblab"),
        bridges.rule("br-77aa01b2c3d4", "weblab"),
    ]
    assert bridges.ours(LISTING, "weblab-2") == [bridges.rule("br-5e6f70819a2b", "weblab-2")]
    assert bridges.ours(LISTING, "other") == []
    assert bridges.ours("", "weblab") == []


class FakeIptables:
    """iptables as a list of DOCKER-USER rules; None for a host without the chain."""

    def __init__(self, rules: list[list[str]] | None) -> None:
        self.rules = rules
        self.calls: list[tuple[str, ...]] = []

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        self.calls.append(args)
        op, chain, rest = args[0], args[1], list(args[2:])
        if self.rules is None or chain != bridges.CHAIN:
            return subprocess.CompletedProcess(["iptables", *args], 1, "", "No chain")
        ok, out = True, ""
        if op == "-S":
            out = (
                "".join(f"-A {chain} {' '.join(r)}\n" for r in self.rules)
                + f"-A {chain} -j RETURN\n"
            )
        elif op == "-C":
            ok = rest in self.rules
        elif op == "-I":
            self.rules.insert(int(rest[0]) - 1, rest[1:])
        elif op == "-D":
            ok = rest in self.rules
            if ok:
                self.rules.remove(rest)
        return subprocess.CompletedProcess(["iptables", *args], 0 if ok else 1, out, "")


def test_allow_adds_what_is_missing_and_revoke_removes_only_ours(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """allow() inserts a rule per bridge that lacks one (first in the chain), once; revoke()
    deletes the project's and leaves another lab's."""
    fake = FakeIptables([bridges.rule("br-other", "weblab-2")])
    monkeypatch.setattr(bridges, "_iptables", fake)
    assert bridges.allow(["br-a", "br-b"], "weblab") == ["br-a", "br-b"]
    assert bridges.allow(["br-a", "br-b"], "weblab") == []  # already there
    assert fake.rules is not None
    assert fake.rules[0] == bridges.rule("br-b", "weblab")
    assert bridges.revoke("weblab") == 2
    assert fake.rules == [bridges.rule("br-other", "weblab-2")]


def test_no_docker_user_chain_is_nothing_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the chain (Docker manages no iptables) nothing is added or removed."""
    fake = FakeIptables(None)
    monkeypatch.setattr(bridges, "_iptables", fake)
    assert bridges.allow(["br-a"], "weblab") == []
    assert bridges.revoke("weblab") == 0
    assert [c[0] for c in fake.calls] == ["-S", "-S"]


def test_a_host_without_iptables_is_no_chain(monkeypatch: pytest.MonkeyPatch) -> None:
    """No iptables binary at all: `lab up` and `lab down` go on, nothing to get past."""
    monkeypatch.setenv("PATH", "/nonexistent")
    assert bridges._iptables("-S", bridges.CHAIN).returncode != 0
    assert bridges.revoke("weblab") == 0

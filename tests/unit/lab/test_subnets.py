"""lab.subnets and Lab: which /22 a lab starts in, remembered per project (no Docker)."""

from __future__ import annotations

import ipaddress
import subprocess
from pathlib import Path
from typing import Any

import pytest

from lab import subnets, topology
from lab.compose import Lab
from lab.errors import LabError, UsageError


def network(name: str, subnet: str, project: str | None = None) -> dict[str, Any]:
    """A `docker network inspect` entry, as much of it as the lab reads."""
    labels = {subnets.PROJECT_LABEL: project} if project else {}
    return {"Name": name, "Labels": labels, "IPAM": {"Config": [{"Subnet": subnet}]}}


def test_the_pool_leaves_out_reserved_networks() -> None:
    """The first /24 of each free /22, 198.19.0.0/24 first; no lab's four networks touch the
    documentation plan's home and transit, the bench's network, or 192.0.2.0/24."""
    pool = list(subnets.candidates())
    assert pool[:3] == ["198.19.0.0/24", "198.19.4.0/24", "198.19.8.0/24"]
    assert pool[64] == "198.18.4.0/24"  # then the lower half, past the home and transit /22
    assert len(pool) == 128 - 2  # 198.18.0.0/22 and 198.18.200.0/22 left out
    assert len(set(pool)) == len(pool)
    for first in pool:
        nets = [ipaddress.IPv4Network(n) for n in topology.network_subnets(first).values()]
        assert ipaddress.IPv4Network(first).network_address.packed[2] % 4 == 0, first
        assert all(n.subnet_of(subnets.POOL) for n in nets), first
        for reserved in ("198.18.0.0/24", "198.18.1.0/24", "198.18.200.0/24", "192.0.2.0/24"):
            assert not any(n.overlaps(ipaddress.IPv4Network(reserved)) for n in nets), first
    assert topology.SUBNET not in pool


def test_a_conflict_on_any_of_the_four_networks_counts() -> None:
    """A lab at 198.19.4.0/24 also holds .5, .6 and .7 (isp, home, transit): a network on any
    of them is a conflict; one on the next /22 is not."""
    assert subnets.conflict("198.19.4.0/24", taken("198.19.6.0/24")) is not None
    assert subnets.conflict("198.19.4.0/24", taken("198.19.7.128/25")) is not None
    assert subnets.conflict("198.19.4.0/24", taken("198.19.8.0/24", "198.19.3.0/24")) is None
    # The documentation plan's four networks: a host route into its ISP's TEST-NET-3 too.
    assert subnets.conflict(topology.SUBNET, taken("198.18.2.0/24")) is not None


def test_taken_reads_networks_and_routes_but_not_the_labs_own() -> None:
    """Other projects' networks and the host's routes are taken; our own network and
    Docker's bridges (already listed as networks), default routes and IPv6 are not."""
    networks = [
        network("weblab_internet", "198.51.100.0/24", "weblab"),
        network("second_internet", "198.19.0.0/24", "second"),
        network("bridge", "172.17.0.0/16"),
        {"Name": "v6", "Labels": None, "IPAM": {"Config": [{"Subnet": "fd00::/64"}]}},
        {"Name": "none", "Labels": {}, "IPAM": {"Config": None}},
    ]
    routes = [
        {"dst": "default", "dev": "eth0"},
        {"dst": "192.0.2.0/24", "dev": "eth0"},
        {"dst": "198.19.0.0/24", "dev": "br-0123456789ab"},
        {"dst": "fe80::/64", "dev": "eth0"},
    ]
    found = subnets.taken(networks, routes, "second")
    assert [(str(t.subnet), t.by) for t in found] == [
        ("198.51.100.0/24", "Docker network 'weblab_internet' (project weblab)"),
        ("172.17.0.0/16", "Docker network 'bridge'"),
        ("192.0.2.0/24", "the host's route via eth0"),
    ]


def taken(*nets: str) -> list[subnets.Taken]:
    return [subnets.Taken(ipaddress.IPv4Network(n), f"network {n}") for n in nets]


def test_choose_the_default_while_it_is_free() -> None:
    """The first lab on a machine stays in the documentation plan."""
    assert subnets.choose(taken("172.17.0.0/16")) == topology.SUBNET


def test_choose_the_first_free_pool_subnet_beside_another_lab() -> None:
    """A second (third) lab gets the first /22 of the pool nothing overlaps, named by its
    first /24."""
    assert subnets.choose(taken(topology.SUBNET)) == "198.19.0.0/24"
    assert subnets.choose(taken(topology.SUBNET, "198.19.0.0/23")) == "198.19.4.0/24"
    assert subnets.choose(taken(topology.SUBNET, "198.19.3.0/24")) == "198.19.4.0/24"


def test_choose_what_was_asked_or_refuse() -> None:
    """LAB_SUBNET is taken as given, normalised; when it is in use that is an error, not a move."""
    assert subnets.choose(taken(topology.SUBNET), wanted=" 198.19.8.0/24") == "198.19.8.0/24"
    with pytest.raises(ValueError, match="LAB_SUBNET=198.19.8.0/24 is already used by network"):
        subnets.choose(taken("198.19.0.0/16"), wanted="198.19.8.0/24")
    with pytest.raises(ValueError, match="IPv4 /24"):
        subnets.choose([], wanted="198.19.8.0/25")


def test_choose_prefers_the_remembered_subnet() -> None:
    """A lab started again returns to its subnet if it is still free."""
    assert subnets.choose(taken(topology.SUBNET), preferred="198.19.9.0/24") == "198.19.9.0/24"


def test_an_exhausted_pool_is_an_error() -> None:
    """With everything taken the lab says so instead of starting in a used subnet."""
    with pytest.raises(ValueError, match="no free /22"):
        subnets.choose(taken(topology.SUBNET, "198.18.0.0/15"))


def test_remember_and_forget(tmp_path: Path) -> None:
    """The chosen subnet is kept per project until `lab down` forgets it."""
    assert subnets.remembered(tmp_path, "second") is None
    subnets.remember(tmp_path, "second", "198.19.0.0/24")
    assert subnets.remembered(tmp_path, "second") == "198.19.0.0/24"
    assert subnets.remembered(tmp_path, "weblab") is None
    subnets.state_file(tmp_path, "weblab").parent.mkdir(parents=True, exist_ok=True)
    subnets.state_file(tmp_path, "weblab").write_text("{not json")
    assert subnets.remembered(tmp_path, "weblab") is None
    subnets.forget(tmp_path, "second")
    subnets.forget(tmp_path, "second")  # twice is fine
    assert subnets.remembered(tmp_path, "second") is None


class FakeDockerLab(Lab):
    """A Lab whose Docker is a list of taken subnets and scripted `compose` replies."""

    def __init__(self, root: Path, used: list[str], replies: list[tuple[int, str]],
                 **kw: Any) -> None:  # fmt: skip
        super().__init__(root=root, **kw)
        self.used = used
        self.replies = replies
        self.calls: list[tuple[tuple[str, ...], dict[str, str]]] = []

    def subnets_taken(self) -> list[subnets.Taken]:
        return taken(*self.used)

    def compose(self, *args: str, check: bool = True, capture: bool = False,
                timeout: float | None = None) -> subprocess.CompletedProcess[str]:  # fmt: skip
        self.calls.append((args, self.compose_env()))
        code, stderr = self.replies.pop(0) if self.replies else (0, "")
        return subprocess.CompletedProcess(["docker", "compose", *args], code, "", stderr)

    def running(self) -> bool:
        return False


@pytest.fixture(autouse=True)
def no_lab_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("LAB_SUBNET", raising=False)
    monkeypatch.delenv("LAB_PROJECT", raising=False)
    monkeypatch.setattr("lab.compose.LOCK", tmp_path / "subnets.lock")
    # `lab down` revokes the project's DOCKER-USER rules: never the host's real iptables here.
    monkeypatch.setattr("lab.bridges._iptables", lambda *args: subprocess.CompletedProcess(
        ["iptables", *args], 1, "", "iptables: No chain/target/match by that name."))  # fmt: skip


def test_lab_plan_from_state_then_env_then_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lab uses the subnet it was started in; else LAB_SUBNET; else the documentation plan."""
    assert Lab("second", tmp_path).plan is topology.DEFAULT_PLAN
    monkeypatch.setenv("LAB_SUBNET", "198.19.4.0/24")
    assert Lab("second", tmp_path).plan.subnet == "198.19.4.0/24"
    subnets.remember(tmp_path, "second", "198.19.0.0/24")
    assert Lab("second", tmp_path).plan.subnet == "198.19.0.0/24"  # it is up there
    assert Lab("second", tmp_path, subnet="198.19.8.0/24").plan.subnet == "198.19.8.0/24"
    assert Lab("second", tmp_path).compose_env() == {
        "LAB_PROJECT": "second", "LAB_NET": "198.19.0", "LAB_ISP": "198.19.1",
        "LAB_HOME": "198.19.2", "LAB_TRANSIT": "198.19.3",
    }  # fmt: skip
    monkeypatch.setenv("LAB_SUBNET", "10.0.0.0/8")
    with pytest.raises(UsageError, match="LAB_SUBNET"):
        Lab("second", tmp_path)
    monkeypatch.setenv("LAB_SUBNET", "198.19.5.0/24")  # not on a /22 boundary
    with pytest.raises(UsageError, match=r"LAB_SUBNET.*divides by 4, like 198\.19\.4\.0/24"):
        Lab("second", tmp_path)


def test_create_moves_a_second_lab_to_a_free_subnet(tmp_path: Path) -> None:
    """The default subnet taken by another lab: this one is created in the pool and remembers it."""
    lab = FakeDockerLab(tmp_path, [topology.SUBNET], [], project="second")
    lab.create()
    assert lab.plan.subnet == "198.19.0.0/24"
    assert lab.calls == [(("up", "--no-start"), {
        "LAB_PROJECT": "second", "LAB_NET": "198.19.0", "LAB_ISP": "198.19.1",
        "LAB_HOME": "198.19.2", "LAB_TRANSIT": "198.19.3",
    })]  # fmt: skip
    assert subnets.remembered(tmp_path, "second") == "198.19.0.0/24"
    assert Lab("second", tmp_path).plan.address("edge") == "198.19.0.80"


def test_create_steps_past_a_subnet_docker_calls_overlapping(tmp_path: Path) -> None:
    """Another lab that took the chosen /22 a moment earlier: the next free one is tried."""
    overlap = "Error response from daemon: invalid pool request: Pool overlaps with other one"
    lab = FakeDockerLab(tmp_path, [topology.SUBNET], [(1, overlap)], project="second")
    lab.create()
    assert [env["LAB_NET"] for _, env in lab.calls] == ["198.19.0", "198.19.4"]
    assert lab.plan.subnet == "198.19.4.0/24"


def test_create_keeps_an_asked_subnet_or_fails(tmp_path: Path) -> None:
    """LAB_SUBNET in use is an error with what uses it; Docker's refusal of it is too."""
    with pytest.raises(LabError, match="already used by network 198.19.0.0/16"):
        FakeDockerLab(tmp_path, ["198.19.0.0/16"], [], subnet="198.19.8.0/24").create()
    lab = FakeDockerLab(tmp_path, [], [(1, "Pool overlaps")], subnet="198.19.8.0/24")
    with pytest.raises(LabError, match="Pool overlaps"):
        lab.create()
    assert len(lab.calls) == 1


def test_down_forgets_only_its_own_subnet(tmp_path: Path) -> None:
    """`lab down` for one project leaves another project's choice alone."""
    subnets.remember(tmp_path, "weblab", topology.SUBNET)
    subnets.remember(tmp_path, "second", "198.19.0.0/24")
    lab = FakeDockerLab(tmp_path, [], [], project="second")
    lab.down()
    assert lab.calls[0][0][:2] == ("down", "--remove-orphans")
    assert lab.calls[0][1]["LAB_PROJECT"] == "second"
    assert subnets.remembered(tmp_path, "second") is None
    assert subnets.remembered(tmp_path, "weblab") == topology.SUBNET


def test_check_subnet_free_names_the_other_user(tmp_path: Path) -> None:
    """A lab whose subnet is in use is refused with what uses it and what to do."""
    lab = FakeDockerLab(tmp_path, ["198.51.100.0/25"], [])
    with pytest.raises(LabError, match=r"already used by network 198\.51\.100\.0/25.*lab down"):
        lab.check_subnet_free()


def test_a_package_registry_address_is_taken() -> None:
    """A lab network over the address the host installs from would take the host's route
    to it (here deb.debian.org answers from 203.0.113.80): registries() names it taken."""
    import socket
    from unittest import mock

    infos = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("203.0.113.80", 80))]
    with mock.patch.object(socket, "getaddrinfo", return_value=infos):
        used = subnets.registries(["deb.debian.org"])
    assert [str(t.subnet) for t in used] == ["203.0.113.80/32"]
    assert "deb.debian.org" in used[0].by
    assert subnets.conflict("198.19.0.0/24", used) is None
    assert (
        subnets.conflict(
            topology.SUBNET,
            [subnets.Taken(ipaddress.IPv4Network("198.18.2.80/32"), "a registry")],
        )
        is not None
    )  # the ISP's
    with mock.patch.object(socket, "getaddrinfo", side_effect=OSError("offline")):
        assert subnets.registries(["deb.debian.org"]) == []

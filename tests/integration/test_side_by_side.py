"""Two labs side by side on one machine (issue 14): a second Compose project in a subnet
chosen free automatically while the session's lab runs; both browse; `lab down` of the
second leaves the first running.

The figures (the second lab's start time, each lab's memory) are printed (`-s` shows
them) and written to runs/bench/side_by_side.json; only their sanity is asserted.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterator

import pytest

from lab import fleet, subnets
from lab.compose import ROOT, Lab
from lab.scenario import spec as scenario
from lab.scenario.runner import run_scenario

from .conftest import dig


@pytest.fixture(scope="module")
def second(lab: Lab) -> Iterator[tuple[Lab, fleet.Started]]:
    """A second lab, started while the session's lab runs; removed at the end."""
    other = Lab(project=f"{lab.project}-side")
    other.wanted = None  # chosen automatically, whatever LAB_SUBNET the session has
    other.down(volumes=True)  # an interrupted run may have left it behind
    started = fleet.start(other)
    try:
        yield other, started
    finally:
        other.down(volumes=True)


def test_second_lab_gets_its_own_project_and_subnet(
    lab: Lab, second: tuple[Lab, fleet.Started]
) -> None:
    """The second lab is its own project in a free /24 of the pool, remembered for later calls."""
    other, started = second
    assert other.project != lab.project
    assert other.plan.subnet != lab.plan.subnet
    assert other.plan.subnet in set(subnets.candidates())
    assert started.subnet == other.plan.subnet
    assert Lab(project=other.project).plan == other.plan  # what `lab status` etc. would use
    assert all(s.ok for s in other.status()), [s.condition for s in other.status()]
    own = [ipaddress.ip_network(n) for n in other.plan.networks.values()]
    assert all(any(ipaddress.ip_address(s.ipv4) in n for n in own) for s in other.status())
    assert not set(other.plan.networks.values()) & set(lab.plan.networks.values())


def test_second_lab_resolves_in_its_own_addresses(second: tuple[Lab, fleet.Started]) -> None:
    """Its resolver walks its own root, TLD and zone servers to its own edge."""
    other, _ = second
    d = dig(other, f"@{other.plan.address('resolver')}", "www.example.com", "A")
    assert d.status == "NOERROR"
    assert [r[4] for r in d.records("ANSWER", "A")] == [other.plan.address("edge")]
    root = dig(other, f"@{other.plan.address('root-a')}", "+norec", "example.com", "NS")
    glue = {r[4] for r in root.records("ADDITIONAL", "A")}
    assert glue == {other.plan.address("tld-a"), other.plan.address("tld-b")}


def test_both_labs_browse(lab: Lab, second: tuple[Lab, fleet.Started]) -> None:
    """browse holds every expectation in each lab, each run captured in its own subnet."""
    other, started = second
    for each in (lab, other):
        result = run_scenario(each, scenario.find("browse"), ROOT / "runs")
        failed = [c for c in result.checks if not c.passed]
        assert result.ok, (each.project, failed, result.folder)
        assert result.timeline["subnet"] == each.plan.subnet
    memory = {}
    for each in (lab, other):
        used, containers = fleet.memory_mib(each.project)
        memory[each.project] = {"total": used, "containers": containers}
        assert 0 < used < 4096, (each.project, used)
        assert containers >= 13, (each.project, containers)
    figures = {
        "second_lab_start_seconds": started.seconds,
        "second_lab_subnet": other.plan.subnet,
        "memory_mib": memory,
    }
    out = ROOT / "runs" / "bench" / "side_by_side.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n")
    print("\n" + json.dumps(figures, indent=2))


def test_down_removes_only_its_own_lab(lab: Lab, second: tuple[Lab, fleet.Started]) -> None:
    """Taking the second lab down leaves the first running and answering."""
    other, _ = second
    other.down(volumes=True)
    assert not any(s.state == "running" for s in other.status())
    assert subnets.remembered(other.root, other.project) is None
    assert all(s.ok for s in lab.status()), [s.condition for s in lab.status()]
    d = dig(lab, f"@{lab.plan.address('resolver')}", "www.example.com", "A")
    assert [r[4] for r in d.records("ANSWER", "A")] == [lab.plan.address("edge")]

"""The shipped scenarios, run through the same engine as `lab run`, hold their expectations."""

from __future__ import annotations

import json

import pytest

from lab import scenario
from lab.labctl import ROOT, Lab
from lab.run import run_scenario


@pytest.mark.parametrize("name", ["dns-trace", "dns-cache", "tld-outage", "packet-loss", "truncation",
                                  "redirect", "bad-cert", "origin-down", "api"])
def test_scenario_expectations_hold(lab: Lab, name: str) -> None:
    """Every expectation the scenario file states is met by the real run and its capture."""
    sc = scenario.find(name)
    result = run_scenario(lab, sc, ROOT / "runs")
    failed = [c for c in result.checks if not c.passed]
    assert not failed, failed
    assert result.ok
    doc = json.loads((result.folder / "timeline.json").read_text())
    assert doc["scenario"] == name and all(e["passed"] for e in doc["expectations"])


def test_faults_are_removed_after_the_run(lab: Lab) -> None:
    """After tld-outage the blackholed TLD server answers again (iptables rules gone)."""
    run_scenario(lab, scenario.find("tld-outage"), ROOT / "runs")
    r = lab.exec("client", "dig", "+time=2", "+tries=1", "+norec", "@198.51.100.11", "com.",
                 "SOA")
    assert "status: NOERROR" in r.stdout


def test_warm_visit_after_cold(lab: Lab) -> None:
    """A second visit is answered from caches: the resolver asks nobody, the edge says HIT."""
    run_scenario(lab, scenario.find("browse"), ROOT / "runs")
    result = run_scenario(lab, scenario.find("browse-warm"), ROOT / "runs")
    assert result.ok, [c for c in result.checks if not c.passed]
    static = [f for f in result.timeline["fetches"] if "static.example.com" in f["url"]]
    assert static and all(f["cache"] == "HIT" for f in static)


def test_broken_expectation_fails_the_run(lab: Lab, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """An expectation the run cannot meet makes the run fail: the checks can fail."""
    p = tmp_path / "wrong.yaml"
    p.write_text("name: wrong\nsteps:\n  - dig: www.example.com\nexpect:\n"
                 "  - step: 1\n    rcode: NXDOMAIN\n")
    result = run_scenario(lab, scenario.load(p), ROOT / "runs")
    assert not result.ok
    assert [c.found for c in result.checks] == ["NOERROR"]

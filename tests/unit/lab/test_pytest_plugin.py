"""The pytest plugin's pure parts: the address map, fault specs and dig parsing (no Docker)."""

from __future__ import annotations

import importlib.metadata

import pytest

from lab import pytest_plugin, topology
from lab.errors import UsageError
from lab.scenario.spec import Fault


def test_addresses_cover_every_host() -> None:
    """Every Compose service maps to its topology address and DNS name."""
    addrs, names = pytest_plugin.addresses(), pytest_plugin.dns_names()
    assert set(addrs) == set(names) == {h.service for h in topology.HOSTS}
    assert addrs["resolver"] == "198.18.2.53"  # the ISP's network
    assert addrs["client"] == "198.18.0.100"  # the home LAN, behind the NAT
    assert names["edge"] == "edge.edgecdn.net"


@pytest.mark.parametrize(
    ("kind", "service", "kw", "expected"),
    [
        ("stop", "origin", {}, Fault("stop", "origin")),
        ("blackhole", "edge", {}, Fault("blackhole", "edge")),
        ("loss", "edge", {"percent": 5}, Fault("loss", "edge", percent=5.0)),
        ("delay", "resolver", {"ms": 200}, Fault("delay", "resolver", ms=200)),
        (
            "api",
            "api",
            {"error_rate": 0.5, "status": 503},
            Fault("api", "api", settings=(("error_rate", 0.5), ("status", 503.0))),
        ),
    ],
)
def test_make_fault_builds_the_scenario_fault(
    kind: str, service: str, kw: dict[str, float], expected: Fault
) -> None:
    """make_fault gives the same Fault a scenario file's line would."""
    assert pytest_plugin.make_fault(kind, service, **kw) == expected


@pytest.mark.parametrize(
    ("kind", "service", "kw", "message"),
    [
        ("melt", "edge", {}, "unknown fault"),
        ("api", "api", {}, "needs a setting"),
        ("api", "edge", {"error_rate": 0.5}, "service must be 'api'"),
        ("api", "api", {"colour": 1}, "unknown argument"),
        ("stop", "nowhere", {}, "unknown service"),
        ("loss", "edge", {}, "percent="),
        ("loss", "edge", {"percent": 150}, "percent="),
        ("delay", "edge", {}, "ms="),
        ("stop", "edge", {"percent": 5}, "unknown argument"),
    ],
)
def test_make_fault_refuses_bad_specs(
    kind: str, service: str, kw: dict[str, float], message: str
) -> None:
    """A wrong kind, service or argument is refused with the reason."""
    with pytest.raises(UsageError, match=message):
        pytest_plugin.make_fault(kind, service, **kw)


def test_parse_dig_answers_keeps_the_asked_type() -> None:
    """Only rows of the asked type are answers; the CNAME chain in front is left out."""
    text = (
        "www.example.com.\t300\tIN\tCNAME\twww.example.com.edgecdn.net.\n"
        "www.example.com.edgecdn.net. 60 IN A 198.51.100.80\n"
        ";; a comment\n"
    )
    assert pytest_plugin.parse_dig_answers(text, "A") == ["198.51.100.80"]
    assert pytest_plugin.parse_dig_answers(text, "cname") == ["www.example.com.edgecdn.net."]


def test_entry_point_is_installed() -> None:
    """The pytest11 entry point names this module, so other suites get the fixture."""
    eps = importlib.metadata.entry_points(group="pytest11")
    assert any(ep.name == "weblab" and ep.value == "lab.pytest_plugin" for ep in eps)

"""Profiles -> each host's delay plan: the sums, the round trips, and bad input refused."""

from __future__ import annotations

import pytest

from lab import distance, topology
from lab.errors import UsageError
from lab.topology import BY_SERVICE, Link


def test_every_profile_covers_known_hosts_only() -> None:
    """A profile names lab hosts only, with sane links."""
    for name, links in topology.PROFILES.items():
        assert set(links) <= set(BY_SERVICE), name
        for service, link in links.items():
            assert topology.make_link(f"{name}.{service}", **vars(link)) == link


@pytest.mark.parametrize(
    ("a", "b", "rtt"),
    [
        ("client", "resolver", 18.0),
        ("client", "edge", 20.0),
        ("resolver", "root-a", 50.0),
        ("resolver", "tld-b", 40.0),
        ("resolver", "ns-example", 80.0),
        ("edge", "origin", 140.0),
    ],
)
def test_default_round_trips(a: str, b: str, rtt: float) -> None:
    """The default profile's round trips are the ones the README tells."""
    links = topology.PROFILES["default"]
    assert 2 * distance.one_way_ms(links, a, b) == rtt


def test_the_server_holds_the_whole_round_trip_toward_each_asker() -> None:
    """The resolver's plan holds replies to the client 18 ms and to the edge 2 ms; the client
    is the address the resolver sees it at, the home's public one (the NAT)."""
    plan = topology.DEFAULT_PLAN
    doc = distance.host_plans("default", topology.PROFILES["default"])
    resolver = doc["hosts"][BY_SERVICE["resolver"].ipv4]
    assert resolver["serves"] == ["udp/53", "tcp/53"]
    assert resolver["peers"][plan.public] == {"delay_ms": 18.0, "jitter_ms": 0.0}
    assert BY_SERVICE["client"].ipv4 not in resolver["peers"]  # never seen behind the NAT
    assert resolver["peers"][BY_SERVICE["edge"].ipv4] == {"delay_ms": 2.0, "jitter_ms": 0.0}
    assert BY_SERVICE["resolver"].ipv4 not in resolver["peers"]  # never itself


def test_routers_add_no_distance_and_are_nobodys_peer() -> None:
    """The routers get no delay plan and no host holds anything for them; every other host
    has its entry at its own address (each daemon finds its own)."""
    plan = topology.DEFAULT_PLAN
    doc = distance.host_plans("default", topology.PROFILES["default"])
    routers = {h for h in plan.hosts if h.router}
    assert {h.service for h in routers} == {"home-router", "isp-router", "ix-router"}
    assert set(doc["hosts"]) == {h.ipv4 for h in plan.hosts if not h.router}
    router_addresses = {a for h in routers for a in h.addresses.values()} - {plan.public}
    for entry in doc["hosts"].values():
        assert not router_addresses & set(entry["peers"]), entry["service"]
    # The client's own daemon holds what it serves (nothing) at its LAN address.
    assert doc["hosts"][plan.address("client")]["service"] == "client"


def test_the_lan_profile_holds_nothing() -> None:
    """lan: no host has a peer to delay."""
    doc = distance.host_plans("lan", topology.PROFILES["lan"])
    assert all(entry["peers"] == {} for entry in doc["hosts"].values())


def test_mobile_puts_jitter_and_loss_on_the_access_line() -> None:
    """mobile: the client's link has jitter and loss; the edge holds 100 ms toward it."""
    doc = distance.host_plans("mobile", topology.PROFILES["mobile"])
    client = doc["hosts"][BY_SERVICE["client"].ipv4]
    assert client["loss_pct"] == 1.0
    edge = doc["hosts"][BY_SERVICE["edge"].ipv4]
    public = topology.DEFAULT_PLAN.public  # the client, as the edge sees it
    assert edge["peers"][public] == {"delay_ms": 82.0, "jitter_ms": 8.0}


def test_a_custom_profile_overrides_one_link() -> None:
    """A mapping profile starts from its base and changes only the links it names."""
    name, links = distance.resolve({"base": "default", "links": {"client": {"delay_ms": 30}}})
    assert name == "default+custom"
    assert links["client"] == Link(30.0)
    assert links["edge"] == topology.PROFILES["default"]["edge"]


@pytest.mark.parametrize(
    ("profile", "message"),
    [
        ("nosuch", r"unknown profile 'nosuch': choose one of lan, default, mobile, far"),
        ({"links": {"nosuch": {"delay_ms": 1}}}, r"'nosuch' is not a lab host"),
        ({"links": {"client": {"delay_ms": -5}}}, r"delay_ms -5 is outside 0\.\.5000"),
        ({"links": {"client": {"delay_ms": 60000}}}, r"delay_ms 60000 is outside"),
        ({"links": {"client": {"delay_ms": 10, "jitter_ms": 20}}}, r"jitter_ms 20 must be"),
        ({"links": {"client": {"loss_pct": 150}}}, r"loss_pct 150 is outside 0\.\.100"),
        ({"links": {"client": {"delay": 10}}}, r"unknown field\(s\) delay"),
        ({"links": {"client": {"delay_ms": "ten"}}}, r"delay_ms must be a number"),
        ({"links": {"client": 10}}, r"give delay_ms, jitter_ms and/or loss_pct"),
    ],
)
def test_bad_profiles_are_refused_with_the_reason(profile: object, message: str) -> None:
    """Every bad profile is one clear UsageError naming what is wrong."""
    with pytest.raises(UsageError, match=message):
        distance.resolve(profile)  # type: ignore[arg-type]


def test_describe_a_link() -> None:
    """A host's link reads as delay, jitter, loss and any fault on top."""
    status = {"profile": "mobile", "service": "client", "extra_ms": 0}
    assert distance.describe(status) == "40 ms +-8 1% loss"
    assert distance.describe({"profile": "default", "service": "edge", "extra_ms": 200}) == (
        "1 ms (+200 fault)"
    )
    assert distance.describe({"error": "not running"}) == "NOT APPLIED"

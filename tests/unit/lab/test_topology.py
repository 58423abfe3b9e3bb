"""The address plan agrees in lab/topology.py, compose.yaml and the zone files."""

import ipaddress
from pathlib import Path

import pytest
from dnslib import QTYPE, RR

from lab import composefile, topology

ROOT = Path(__file__).resolve().parents[3]


def test_compose_addresses_match_topology() -> None:
    """Each Compose service has the fixed address the plan gives it (variables at defaults)."""
    compose = composefile.load()
    services = compose["services"]
    assert set(services) == {h.service for h in topology.HOSTS}
    for host in topology.HOSTS:
        addr = services[host.service]["networks"]["internet"]["ipv4_address"]
        assert addr == host.ipv4, host.service
        assert ipaddress.ip_address(addr) in ipaddress.ip_network(topology.SUBNET)


def test_lab_network_is_internal() -> None:
    """The lab network has no way out to the world."""
    compose = composefile.load()
    net = compose["networks"]["internet"]
    assert net["internal"] is True
    assert net["ipam"]["config"][0]["subnet"] == topology.SUBNET


def test_zone_glue_matches_servers() -> None:
    """Every A record naming a lab DNS server points at that server's address."""
    servers = {h.dns_name + ".": h.ipv4 for h in topology.HOSTS}
    seen = 0
    for zone in (ROOT / "services" / "zones").glob("*.zone"):
        for rr in RR.fromZone(zone.read_text()):
            name = str(rr.rname)
            if rr.rtype == QTYPE.A and name in servers:
                assert str(rr.rdata) == servers[name], f"{zone.name}: {name}"
                seen += 1
    assert seen >= 6


# --- One plan per lab: everything follows from the subnet ----------------------

OTHER = "198.19.8.0/24"


def test_a_plan_keeps_each_hosts_last_octet() -> None:
    """plan(subnet) puts every host at its documentation plan's last octet in that /24."""
    other = topology.plan(OTHER)
    assert (other.subnet, other.prefix, other.gateway) == (OTHER, "198.19.8", "198.19.8.1")
    assert [h.service for h in other.hosts] == [h.service for h in topology.HOSTS]
    for mine, doc in zip(other.hosts, topology.HOSTS, strict=True):
        assert mine.ipv4 == "198.19.8." + doc.ipv4.rsplit(".", 1)[1], mine.service
        assert (mine.dns_name, mine.role, mine.serves) == (doc.dns_name, doc.role, doc.serves)
    assert other.address("resolver") == "198.19.8.53"
    assert other.by_address["198.19.8.80"].service == "edge"
    assert topology.plan(topology.SUBNET) is topology.DEFAULT_PLAN


@pytest.mark.parametrize(
    "bad", ["198.19.8.0/23", "198.19.8.5/24", "2001:db8::/64", "198.19.8", "nonsense"]
)
def test_a_plan_needs_an_ipv4_slash_24(bad: str) -> None:
    """Each host keeps its last octet, so only a whole IPv4 /24 can hold the plan."""
    with pytest.raises(ValueError, match="subnet like|IPv4 /24"):
        topology.plan(bad)


def test_plan_of_a_run_folder() -> None:
    """A timeline's subnet gives its plan; an old timeline (none, or garbage) the default."""
    assert topology.plan_of({"subnet": OTHER}) == topology.plan(OTHER)
    assert topology.plan_of({}) is topology.DEFAULT_PLAN
    assert topology.plan_of({"subnet": "x"}) is topology.DEFAULT_PLAN


def test_compose_follows_the_lab_variables() -> None:
    """With lab/compose.py's LAB_NET and LAB_PROJECT, compose.yaml is the other lab's plan."""
    other = topology.plan(OTHER)
    env = composefile.lab_variables("second", other)
    assert env == {"LAB_PROJECT": "second", "LAB_NET": "198.19.8"}
    doc = composefile.load(env)
    assert doc["name"] == "second"
    for host in other.hosts:
        spec = doc["services"][host.service]
        assert spec["networks"]["internet"]["ipv4_address"] == host.ipv4, host.service
        assert "./runs/linkdelay/second:/linkdelay:ro" in spec["volumes"], host.service
        if "LAB_RESOLVER" in spec["environment"]:
            assert spec["environment"]["LAB_RESOLVER"] == other.address("resolver")
    assert doc["networks"]["internet"]["ipam"]["config"] == [
        {"subnet": OTHER, "gateway": "198.19.8.1"}
    ]
    resolver = doc["services"]["resolver"]
    assert resolver["command"][resolver["command"].index("--allow") + 1] == OTHER
    for dns in ("root-a", "root-b", "tld-a", "tld-b", "ns-example", "ns-cdn", "resolver"):
        assert doc["services"][dns]["environment"] == {"LAB_NET": "198.19.8"}, dns


def test_compose_interpolation_rules() -> None:
    """The Compose syntax compose.yaml uses: :- for unset or empty, - for unset, $$ escapes."""
    text = "${A:-x} ${B-y} ${C} $$HOME"
    assert composefile.interpolate(text, {}) == "x y  $HOME"
    assert composefile.interpolate(text, {"A": "", "B": "", "C": "c"}) == "x  c $HOME"
    assert composefile.interpolate(text, {"A": "a", "B": "b"}) == "a b  $HOME"


def test_zones_and_glue_renumbered_into_the_plan() -> None:
    """Loaded with LAB_NET, every A record of a lab host (glue too) is its address in that plan."""
    from services.dns.zone import load_zone

    other = topology.plan(OTHER)
    servers = {h.dns_name + ".": h.ipv4 for h in other.hosts}
    published: dict[str, set[str]] = {}
    for path in (ROOT / "services" / "zones").glob("*.zone"):
        zone = load_zone(path, other.prefix)
        for (name, rtype), rrs in zone.rrsets.items():
            if rtype == QTYPE.A:
                published.setdefault(name, set()).update(str(rr.rdata) for rr in rrs)
        for rrs in zone.rrsets.values():
            assert not any(str(rr.rdata).startswith("198.51.100.") for rr in rrs), path.name
    for name, address in servers.items():
        if name.endswith(".isp.test."):
            continue  # the ISP's own hosts are not in the public DNS
        assert published.get(name) == {address}, name
    # Glue for the delegations lives in the parent zones: root.zone's TLD servers.
    root = load_zone(ROOT / "services" / "zones" / "root.zone", other.prefix)
    glue = {str(rr.rdata) for rr in root.rrsets[("a.gtld-servers.net.", QTYPE.A)]}
    assert glue == {other.address("tld-a")}


def test_root_hints_renumbered_into_the_plan() -> None:
    """The resolver's hints follow LAB_NET from its environment, as compose gives it."""
    from services.resolver.hints import RootServer, load_hints

    hints = ROOT / "services" / "zones" / "root.zone"
    assert load_hints(hints, environ={"LAB_NET": "198.19.8"}) == [
        RootServer("a.root-servers.net.", ("198.19.8.4",)),
        RootServer("b.root-servers.net.", ("198.19.8.5",)),
    ]
    assert load_hints(hints, environ={})[0].addresses == (topology.BY_SERVICE["root-a"].ipv4,)


def test_packet_filters_and_walks_use_the_labs_addresses() -> None:
    """$service placeholders and the resolver walk's servers are the lab's own addresses."""
    from lab.scenario.spec import expand_filter
    from lab.scenario.walk import Question, path_for

    other = topology.plan(OTHER)
    assert expand_filter("ip.src == $resolver && ip.dst in $roots", other) == (
        "ip.src == 198.19.8.53 && ip.dst in {198.19.8.4, 198.19.8.5}"
    )
    assert expand_filter("ip.addr == $origin-2", other) == "ip.addr == 198.19.8.92"
    questions = [
        Question(1, "198.19.8.100", "198.19.8.53", "www.example.com"),
        Question(2, "198.19.8.53", "198.19.8.5", "com"),
        Question(3, "198.19.8.53", "198.19.8.12", "example.com"),
    ]
    path = path_for(questions, "www.example.com", "198.19.8.53", "198.19.8.100", other)
    assert path == ["roots", "tlds"]


def test_delay_plan_capture_filter_and_names_follow_the_plan() -> None:
    """The link delay plan, the capture's filter and the capture's names use the lab's plan."""
    from lab import distance
    from lab.capture.pcapng import lab_names
    from lab.capture.record import DEFAULT_FILTER, lab_filter

    other = topology.plan(OTHER)
    doc = distance.host_plans("default", topology.PROFILES["default"], other)
    assert set(doc["hosts"]) == {h.ipv4 for h in other.hosts}
    assert doc["hosts"]["198.19.8.53"]["peers"]["198.19.8.100"]["delay_ms"] == 18.0
    assert lab_filter(other.gateway).endswith("not host 198.19.8.1")
    assert DEFAULT_FILTER.endswith("not host 198.51.100.1")
    assert lab_names(other)["198.19.8.4"] == "root-a a.root-servers.net"

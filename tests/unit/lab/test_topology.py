"""The address plan agrees in lab/topology.py, compose.yaml and the zone files."""

import ipaddress
from pathlib import Path

import pytest
from dnslib import QTYPE, RR

from lab import composefile, topology

ROOT = Path(__file__).resolve().parents[3]


def test_compose_addresses_match_topology() -> None:
    """Each Compose service is attached to exactly the networks the plan gives it, at the fixed
    address it has on each (a router's two interfaces too; variables at defaults)."""
    compose = composefile.load()
    services = compose["services"]
    assert set(services) == {h.service for h in topology.HOSTS}
    for host in topology.HOSTS:
        attached = {
            net: spec["ipv4_address"] for net, spec in services[host.service]["networks"].items()
        }
        assert attached == host.addresses, host.service
        for net, addr in attached.items():
            assert ipaddress.ip_address(addr) in ipaddress.ip_network(topology.DOC_NETWORKS[net])
        # The first network listed is the host's own (lab/compose.py's mac() default).
        assert next(iter(services[host.service]["networks"])) == host.network, host.service


def test_routers_join_the_networks_in_a_chain() -> None:
    """home -> isp -> transit -> internet: each router holds one address on each of two
    neighbouring networks, and the home's public address is the home router's on the ISP's."""
    plan = topology.DEFAULT_PLAN
    routers = {h.service: set(h.addresses) for h in plan.hosts if h.router}
    assert routers == {"home-router": {"home", "isp"}, "isp-router": {"isp", "transit"},
                       "ix-router": {"transit", "internet"}}  # fmt: skip
    assert plan.public == "198.18.2.2"
    assert plan.by_address[plan.public].service == "home-router"
    assert plan.seen_as("client") == plan.public
    assert plan.seen_as("resolver") == "198.18.2.53"
    assert plan.seen_as("edge") == "198.51.100.80"
    assert plan.bridges == {"internet": "198.51.100.1", "isp": "198.18.2.254",
                            "home": "198.18.0.254", "transit": "198.18.1.254"}  # fmt: skip
    # No host sits on a bridge's address.
    assert not set(plan.bridges.values()) & set(plan.by_address)


def test_compose_routes_go_through_the_routers() -> None:
    """LAB_ROUTES sends every host's other networks to its own network's router."""
    plan = topology.DEFAULT_PLAN
    services = composefile.load()["services"]
    via = {"internet": plan.address("ix-router", "internet"),
           "isp": plan.address("isp-router", "isp")}  # fmt: skip
    for host in plan.hosts:
        routes = (services[host.service].get("environment") or {}).get("LAB_ROUTES")
        if host.router or host.network not in via or routes is None:
            continue
        others = {n for n in ("internet", "isp", "transit") if n != host.network}
        want = {f"{plan.networks[n]} via {via[host.network]}" for n in others}
        assert {r.strip() for r in routes.split(";")} == want, host.service


def test_lab_network_is_internal() -> None:
    """Every lab network has no way out to the world, and the host's bridge address on it."""
    compose = composefile.load()
    plan = topology.DEFAULT_PLAN
    assert set(compose["networks"]) == set(topology.NETWORKS)
    for name in topology.NETWORKS:
        net = compose["networks"][name]
        assert net["internal"] is True, name
        assert net["ipam"]["config"] == [
            {"subnet": topology.DOC_NETWORKS[name], "gateway": plan.bridges[name]}
        ], name


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
    """plan(subnet) takes the /22 the subnet starts: internet, isp, home, transit; every host
    keeps its documentation plan's network and last octet in it, on every interface."""
    other = topology.plan(OTHER)
    assert (other.subnet, other.prefix, other.gateway) == (OTHER, "198.19.8", "198.19.8.1")
    assert other.networks == {"internet": OTHER, "isp": "198.19.9.0/24",
                              "home": "198.19.10.0/24", "transit": "198.19.11.0/24"}  # fmt: skip
    assert [h.service for h in other.hosts] == [h.service for h in topology.HOSTS]
    for mine, doc in zip(other.hosts, topology.HOSTS, strict=True):
        assert mine.network == doc.network, mine.service
        assert set(mine.addresses) == set(doc.addresses), mine.service
        for net, addr in mine.addresses.items():
            octet = doc.addresses[net].rsplit(".", 1)[1]
            assert addr == f"{other.prefix_of(net)}.{octet}", (mine.service, net)
        assert (mine.dns_name, mine.role, mine.serves) == (doc.dns_name, doc.role, doc.serves)
    assert other.address("resolver") == "198.19.9.53"
    assert other.address("client") == "198.19.10.100"
    assert other.address("ix-router", "internet") == "198.19.8.254"
    assert other.public == "198.19.9.2"
    assert other.by_address["198.19.8.80"].service == "edge"
    assert other.by_address["198.19.11.1"].service == "isp-router"
    assert topology.plan(topology.SUBNET) is topology.DEFAULT_PLAN


@pytest.mark.parametrize("bad", ["198.19.9.0/24", "198.19.10.0/24", "198.18.7.0/24"])
def test_a_plan_starts_on_a_slash_22(bad: str) -> None:
    """A /24 that is not the first of a /22 cannot hold the lab's four networks: refused, with
    the /24 that would do."""
    first = bad.rsplit(".", 2)[0] + "." + str(int(bad.split(".")[2]) // 4 * 4) + ".0/24"
    with pytest.raises(ValueError, match=f"divides by 4, like {first}"):
        topology.plan(bad)


def test_the_flat_plan_of_runs_from_before_the_home_network() -> None:
    """plan(flat=True): one network, no routers, every host at its old octet in the one /24
    (any /24, aligned or not); the NAT is nobody."""
    flat = topology.plan("198.19.9.0/24", flat=True)
    assert not any(h.router for h in flat.hosts)
    assert {h.service for h in flat.hosts} == {h.service for h in topology.HOSTS if not h.router}
    assert flat.address("resolver") == "198.19.9.53"
    assert flat.address("client") == "198.19.9.100"
    assert flat.address("attacker") == "198.19.9.66"
    assert set(flat.networks.values()) == {"198.19.9.0/24"}


@pytest.mark.parametrize(
    "bad", ["198.19.8.0/23", "198.19.8.5/24", "2001:db8::/64", "198.19.8", "nonsense"]
)
def test_a_plan_needs_an_ipv4_slash_24(bad: str) -> None:
    """Each host keeps its last octet, so only a whole IPv4 /24 can hold the plan."""
    with pytest.raises(ValueError, match="subnet like|IPv4 /24"):
        topology.plan(bad)


def test_plan_of_a_run_folder() -> None:
    """A timeline that recorded its networks gives its plan back; one from before the home
    network (a subnet, or none) the flat plan of that subnet; garbage the default."""
    other = topology.plan(OTHER)
    assert topology.plan_of(topology.recorded(other)) == other
    assert topology.plan_of(topology.recorded(topology.DEFAULT_PLAN)) == topology.DEFAULT_PLAN
    assert topology.plan_of({"subnet": OTHER}) == topology.plan(OTHER, flat=True)
    assert topology.plan_of({"subnet": "198.19.7.0/24"}).address("client") == "198.19.7.100"
    assert topology.plan_of({}) == topology.plan(topology.SUBNET, flat=True)
    assert topology.plan_of({}).address("resolver") == "198.51.100.53"
    assert topology.plan_of({"subnet": "x"}) is topology.DEFAULT_PLAN


def test_compose_follows_the_lab_variables() -> None:
    """With lab/compose.py's variables, compose.yaml is the other lab's plan: every network,
    every attachment, the resolver's clients and the DNS servers' renumbering."""
    other = topology.plan(OTHER)
    env = composefile.lab_variables("second", other)
    assert env == {"LAB_PROJECT": "second", "LAB_NET": "198.19.8", "LAB_ISP": "198.19.9",
                   "LAB_HOME": "198.19.10", "LAB_TRANSIT": "198.19.11"}  # fmt: skip
    doc = composefile.load(env)
    assert doc["name"] == "second"
    for host in other.hosts:
        spec = doc["services"][host.service]
        attached = {net: s["ipv4_address"] for net, s in spec["networks"].items()}
        assert attached == host.addresses, host.service
        if not host.router:  # routers add no delay of their own: no delay plan to read
            assert "./runs/linkdelay/second:/linkdelay:ro" in spec["volumes"], host.service
        resolver = (spec.get("environment") or {}).get("LAB_RESOLVER")
        if resolver and not resolver.startswith("127."):  # the client asks its own stub
            assert resolver == other.address("resolver"), host.service
    for name in topology.NETWORKS:
        assert doc["networks"][name]["ipam"]["config"] == [
            {"subnet": other.networks[name], "gateway": other.bridges[name]}
        ], name
    resolver = doc["services"]["resolver"]["command"]
    allowed = [resolver[i + 1] for i, w in enumerate(resolver) if w == "--allow"]
    assert set(allowed) >= {other.networks["isp"], OTHER}  # the ISP's customers, the servers
    assert other.networks["home"] not in allowed  # the home is seen from its public address
    for dns in ("root-a", "root-b", "tld-a", "tld-b", "ns-example", "ns-cdn", "resolver"):
        assert doc["services"][dns]["environment"]["LAB_NET"] == "198.19.8", dns


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
        if name.endswith((".isp.test.", ".home.arpa.", ".transit.test.")):
            continue  # the ISP's, the home's and the routers' names are not in the public DNS
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
        "ip.src == 198.19.9.53 && ip.dst in {198.19.8.4, 198.19.8.5}"
    )
    assert expand_filter("ip.addr == $origin-2", other) == "ip.addr == 198.19.8.92"
    questions = [
        Question(1, "198.19.10.100", "198.19.9.53", "www.example.com"),
        Question(2, "198.19.9.53", "198.19.8.5", "com"),
        Question(3, "198.19.9.53", "198.19.8.12", "example.com"),
    ]
    path = path_for(questions, "www.example.com", "198.19.9.53", "198.19.10.100", other)
    assert path == ["roots", "tlds"]


def test_delay_plan_capture_filter_and_names_follow_the_plan() -> None:
    """The link delay plan, the capture's filter and the capture's names use the lab's plan."""
    from lab import distance
    from lab.capture.pcapng import lab_names
    from lab.capture.record import DEFAULT_FILTER, lab_filter

    other = topology.plan(OTHER)
    doc = distance.host_plans("default", topology.PROFILES["default"], other)
    assert set(doc["hosts"]) == {h.ipv4 for h in other.hosts if not h.router}
    # The resolver holds its replies to the client for the home's public address (the NAT).
    assert doc["hosts"]["198.19.9.53"]["peers"]["198.19.9.2"]["delay_ms"] == 18.0
    assert "198.19.10.100" not in doc["hosts"]["198.19.9.53"]["peers"]
    assert lab_filter(list(other.bridges.values())).endswith(
        "not host 198.19.8.1 and not host 198.19.9.254 and not host 198.19.10.254 "
        "and not host 198.19.11.254"
    )
    assert DEFAULT_FILTER.endswith("not host 198.51.100.1 and not host 198.18.2.254 and "
                                   "not host 198.18.0.254 and not host 198.18.1.254")  # fmt: skip
    names = lab_names(other)
    assert names["198.19.8.4"] == "root-a a.root-servers.net"
    # A router is named on each of its interfaces (the NAT's public address too).
    assert names["198.19.9.2"] == names["198.19.10.1"] == "home-router router.home.arpa"
    assert names["198.19.8.254"] == "ix-router ix.transit.test"

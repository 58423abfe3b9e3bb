"""The lab's plan: every network, every host, its addresses and name, and link delays.

The lab is a small Internet of four networks, each an internal Compose network:

- ``internet``: the servers (DNS, CDN edge, origins, API) in TEST-NET-2,
  198.51.100.0/24 (RFC 5737), the prefix the zone files are written in;
- ``transit``: the link between the ISP and the hosting networks, 198.18.1.0/24;
- ``isp``: the ISP's network, 198.18.2.0/24: its resolver, its router, and
  the home's public address. TEST-NET-3 (203.0.113.0/24) would be the textbook
  choice, but on this machine the package registries (deb.debian.org, pypi.org,
  npm) answer from 203.0.113.80 through an intercepting proxy: a lab bridge in
  that range would take the host's route to them, and image builds would fail
  while the lab runs. So the lab leaves TEST-NET-3 alone;
- ``home``: the home LAN behind the home router's NAT, 198.18.0.0/24
  (RFC 2544 benchmarking space; a real home would use 192.168.x.x).

Routers join them: the home router (NAT, DHCP, DNS forwarder), the ISP's router
and an exchange router in front of the servers, so a packet from the client
crosses three hops. A lab started beside another gets four /24s of its own, an
aligned /22 of 198.18.0.0/15 (lab/subnets.py): internet, isp, home and transit
in that order. Every host keeps its last octet, so the whole plan follows from
the internet subnet: ``plan("198.19.8.0/24")``. compose.yaml gives each service
``${LAB_NET}.<octet>`` (and ``${LAB_ISP}``, ``${LAB_HOME}``, ``${LAB_TRANSIT}``),
and the DNS servers renumber the zone files to the lab's prefix as they load
them (services/dnscore/renumber.py). tests/unit/lab/test_topology.py checks that
the three agree.
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass, field

# The documentation plan: the zone files, captures in tests/, the README.
DOC_PREFIX = "198.51.100"
SUBNET = f"{DOC_PREFIX}.0/24"
GATEWAY = f"{DOC_PREFIX}.1"

# The networks, in the order a side-by-side lab's /22 holds them, with the
# documentation plan's /24 of each and the host's own address on its bridge.
NETWORKS = ("internet", "isp", "home", "transit")
DOC_NETWORKS = {"internet": SUBNET, "isp": "198.18.2.0/24", "home": "198.18.0.0/24",
                "transit": "198.18.1.0/24"}  # fmt: skip
BRIDGE_OCTET = {"internet": 1, "isp": 254, "home": 254, "transit": 254}


@dataclass(frozen=True)
class Host:
    service: str  # Compose service name
    role: str
    ipv4: str
    dns_name: str  # the name the host has on the lab "Internet"
    serves: tuple[str, ...] = ()  # PROTO/PORT it answers on; its replies carry the delay
    own: bool = False  # a user's container from weblab.yaml (lab/ownservice): no delay daemon
    network: str = "internet"  # where ``ipv4`` is
    also: tuple[tuple[str, str], ...] = ()  # a router's other interfaces: (network, ipv4)

    @property
    def addresses(self) -> dict[str, str]:
        """Every address of the host, by network."""
        return {self.network: self.ipv4, **dict(self.also)}

    @property
    def router(self) -> bool:
        return bool(self.also)


_DNS = ("udp/53", "tcp/53")
_HTTPS = ("tcp/443", "udp/443")  # HTTP/1.1 and HTTP/2 over TLS; HTTP/3 over QUIC
_BADCERT = ("tcp/443", *(f"tcp/{port}" for port in range(8441, 8447)))

# (service, role, last octet, name, serves) on the internet network; .1 there is
# the host's bridge (.254 on the other three).
# fmt: off
_HOSTS: tuple[tuple[str, str, int, str, tuple[str, ...]], ...] = (
    ("root-a", "root DNS server", 4, "a.root-servers.net", _DNS),
    ("root-b", "root DNS server", 5, "b.root-servers.net", _DNS),
    ("tld-a", "TLD DNS server (com., net.)", 11, "a.gtld-servers.net", _DNS),
    ("tld-b", "TLD DNS server (com., net.)", 12, "b.gtld-servers.net", _DNS),
    ("ns-example", "authoritative DNS for example.com", 21, "ns1.example.com", _DNS),
    ("ns-cdn", "authoritative DNS for the CDN (edgecdn.net)", 31, "ns1.edgecdn-dns.com", _DNS),
    ("edge", "CDN edge / reverse proxy cache", 80, "edge.edgecdn.net",
     ("tcp/443", "udp/443", "tcp/80")),
    ("origin", "HTTPS origin web server", 90, "origin.example.com", _HTTPS),
    ("origin-2", "second HTTPS origin (failover)", 92, "origin2.example.com", _HTTPS),
    ("api", "JSON API backend", 91, "api-origin.example.com", _HTTPS),
    ("badcert", "origin behind bad certificates (ports 8441-8446)", 95, "badcert.example.com",
     _BADCERT),
)
# The ISP's and the home's hosts: (service, role, network, last octet, name, serves).
_EDGE_HOSTS: tuple[tuple[str, str, str, int, str, tuple[str, ...]], ...] = (
    ("resolver", "the ISP's caching recursive resolver", "isp", 53, "resolver.isp.test", _DNS),
    ("client", "scenario client (dig, curl, openssl, the browse script)", "home", 100,
     "client.home.arpa", ()),
    ("attacker", "attacker forging DNS answers (cache-poisoning only)", "isp", 66,
     "attacker.isp.test", ()),
)
# The routers: (service, role, name, ((network, last octet), ...)), first interface first.
_ROUTERS: tuple[tuple[str, str, str, tuple[tuple[str, int], ...]], ...] = (
    ("home-router", "home router: NAT, DHCP, DNS forwarder", "router.home.arpa",
     (("home", 1), ("isp", 2))),
    ("isp-router", "the ISP's router", "router.isp.test", (("isp", 1), ("transit", 1))),
    ("ix-router", "exchange router in front of the servers", "ix.transit.test",
     (("transit", 2), ("internet", 254))),
)
# fmt: on


@dataclass(frozen=True)
class Plan:
    """One lab's addresses: every host at its fixed last octet inside ``subnet``."""

    subnet: str  # the internet network's /24, "198.19.8.0/24"
    hosts: tuple[Host, ...]
    networks: dict[str, str] = field(default_factory=dict)  # name -> "198.18.2.0/24"
    by_service: dict[str, Host] = field(init=False, repr=False, compare=False)
    by_address: dict[str, Host] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_service", {h.service: h for h in self.hosts})
        object.__setattr__(
            self, "by_address", {a: h for h in self.hosts for a in h.addresses.values()}
        )

    @property
    def prefix(self) -> str:
        """The first three octets, as compose.yaml's ``${LAB_NET}`` takes them."""
        return self.subnet.rsplit(".", 1)[0]

    @property
    def gateway(self) -> str:
        return f"{self.prefix}.1"

    def prefix_of(self, network: str) -> str:
        return self.networks[network].rsplit(".", 1)[0]

    @property
    def bridges(self) -> dict[str, str]:
        """The host's own address on each network's bridge (the capture leaves them out)."""
        return {n: f"{self.prefix_of(n)}.{BRIDGE_OCTET[n]}" for n in self.networks}

    def address(self, service: str, network: str | None = None) -> str:
        host = self.by_service[service]
        return host.addresses[network] if network else host.ipv4

    @property
    def public(self) -> str:
        """The home's public address: where the home router's NAT puts the client."""
        return self.address("home-router", "isp")

    def seen_as(self, service: str) -> str:
        """The source address servers see for SERVICE: the client hides behind the NAT."""
        host = self.by_service[service]
        return self.public if host.network == "home" else host.ipv4

    def with_hosts(self, extra: tuple[Host, ...]) -> Plan:
        """This plan plus EXTRA (a user's own services, lab/ownservice), same subnet."""
        return Plan(self.subnet, self.hosts + extra, self.networks) if extra else self


def _slash_24(subnet: str) -> ipaddress.IPv4Network:
    try:
        net = ipaddress.ip_network(subnet.strip(), strict=True)
    except ValueError as e:
        raise ValueError(f"{subnet!r} is not a subnet like 198.19.8.0/24: {e}") from e
    if net.version != 4 or net.prefixlen != 24:
        raise ValueError(f"{subnet!r}: the lab needs an IPv4 /24 (each host keeps its last octet)")
    return net


def check_subnet(subnet: str) -> str:
    """SUBNET as a normalised IPv4 /24 ("198.19.8.0/24") that can start a lab's /22 (or the
    documentation plan's); ValueError saying why not."""
    net = _slash_24(subnet)
    if str(net) != SUBNET and net.network_address.packed[2] % 4:
        third = net.network_address.packed[2] // 4 * 4
        raise ValueError(
            f"{subnet!r}: a lab takes four /24s from a /22 boundary (internet, isp, home, "
            f"transit); give one whose third octet divides by 4, like "
            f"{'.'.join(str(net.network_address).split('.')[:2])}.{third}.0/24"
        )
    return str(net)


def network_subnets(subnet: str) -> dict[str, str]:
    """Each network's /24 for a lab whose internet network is SUBNET (checked)."""
    if subnet == SUBNET:
        return dict(DOC_NETWORKS)
    base = ipaddress.IPv4Network(subnet).network_address
    return {name: f"{base + 256 * i}/24" for i, name in enumerate(NETWORKS)}


def plan(subnet: str = SUBNET, flat: bool = False) -> Plan:
    """The lab's plan around SUBNET (its internet /24); ValueError for anything else.

    FLAT is the lab as it was before the home network: one network, every host
    in SUBNET at its last octet, no routers (a run folder recorded then)."""
    if flat:
        net = str(_slash_24(subnet))
        return _build(net, tuple((n, net) for n in NETWORKS), flat=True)
    net = check_subnet(subnet)
    return _build(net, tuple(network_subnets(net).items()))


@functools.cache
def _build(net: str, networks: tuple[tuple[str, str], ...], flat: bool = False) -> Plan:
    nets = dict(networks)

    def at(network: str, octet: int) -> str:
        return f"{nets[network].rsplit('.', 1)[0]}.{octet}"

    hosts = [Host(s, role, at("internet", octet), name, serves)
             for s, role, octet, name, serves in _HOSTS]  # fmt: skip
    hosts += [Host(s, role, at(network, octet), name, serves, network=network)
              for s, role, network, octet, name, serves in _EDGE_HOSTS]  # fmt: skip
    for s, role, name, ifaces in () if flat else _ROUTERS:
        (first, octet), *rest = ifaces
        hosts.append(Host(s, role, at(first, octet), name, network=first,
                          also=tuple((n, at(n, o)) for n, o in rest)))  # fmt: skip
    return Plan(net, tuple(hosts), nets)


DEFAULT_PLAN = plan(SUBNET)


def plan_of(doc: object) -> Plan:
    """The plan a run folder's timeline.json recorded (``subnet``, and ``own_hosts``: the
    user's own services); the default if none."""
    subnet = doc.get("subnet") if isinstance(doc, dict) else None
    # A run from before the home network recorded no networks (and older ones no subnet).
    flat = not (isinstance(doc, dict) and "networks" in doc)
    try:
        base = plan(str(subnet or SUBNET), flat=flat)
        recorded_nets = doc.get("networks") if isinstance(doc, dict) else None
        if isinstance(recorded_nets, dict) and recorded_nets != base.networks:
            # A run recorded with another address plan (an older default): its own.
            nets = tuple((n, str(_slash_24(str(recorded_nets[n])))) for n in NETWORKS)
            base = _build(base.subnet, nets)
    except (ValueError, KeyError):
        return DEFAULT_PLAN
    own = doc.get("own_hosts") if isinstance(doc, dict) else None
    try:
        extra = tuple(Host(**{**h, "serves": tuple(h.get("serves", ())), "own": True})
                      for h in own or ())  # fmt: skip
    except TypeError:
        extra = ()
    return base.with_hosts(extra)


def recorded(p: Plan) -> dict[str, object]:
    """What a run's timeline.json records of its plan, for ``plan_of``."""
    return {"subnet": p.subnet, "networks": p.networks, "own_hosts": own_hosts(p)}


def own_hosts(p: Plan) -> list[dict[str, object]]:
    """A plan's user services as a run's timeline.json records them (``plan_of`` reads them)."""
    return [{"service": h.service, "role": h.role, "ipv4": h.ipv4, "dns_name": h.dns_name,
             "serves": list(h.serves)} for h in p.hosts if h.own]  # fmt: skip


# The documentation plan's hosts: what code with no lab at hand (the report of a
# run folder that recorded no subnet, the harness' namespaces) names hosts by.
HOSTS: tuple[Host, ...] = DEFAULT_PLAN.hosts

# The zones the lab's own servers answer for; any other name (a browser's vendor
# hosts, say) does not exist on the lab's Internet and ends in NXDOMAIN.
LAB_ZONES = ("example.com", "edgecdn.net", "edgecdn-dns.com", "isp.test", "home.arpa",
             "transit.test", "root-servers.net", "gtld-servers.net")  # fmt: skip


def in_lab(name: str) -> bool:
    """True when NAME is in one of the lab's zones."""
    name = name.rstrip(".").lower()
    return any(name == z or name.endswith("." + z) for z in LAB_ZONES)


BY_SERVICE: dict[str, Host] = DEFAULT_PLAN.by_service
BY_ADDRESS: dict[str, Host] = DEFAULT_PLAN.by_address


# --- Distance ----------------------------------------------------------------
# Every host's link to the lab's core switch has a one-way delay; between two
# hosts the delay is the sum of their two links (lab/distance.py). The
# figures follow the articles' orders of magnitude: a home access line of a
# few milliseconds, root and TLD servers a few tens away (anycast keeps them
# near), a zone's own server farther, a CDN edge close to its users and the
# origin far behind it.


@dataclass(frozen=True)
class Link:
    """A host's link to the core: one-way delay and jitter (ms), random loss (%)."""

    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    loss_pct: float = 0.0


NO_DELAY = Link()
MAX_DELAY_MS = 5_000.0  # one way; beyond this a "link" is a fault, not a distance


def make_link(where: str, **fields: object) -> Link:
    """A Link from user input, refused with ``where`` and the reason when out of range."""
    unknown = set(fields) - {"delay_ms", "jitter_ms", "loss_pct"}
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {', '.join(sorted(unknown))} "
                         "(expected delay_ms, jitter_ms, loss_pct)")  # fmt: skip
    values: dict[str, float] = {}
    for key, value in fields.items():
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ValueError(
                f"{where}: {key} must be a number of milliseconds/percent, not {value!r}"
            )
        values[key] = float(value)
    link = Link(**values)
    if not 0 <= link.delay_ms <= MAX_DELAY_MS:
        raise ValueError(f"{where}: delay_ms {link.delay_ms:g} is outside 0..{MAX_DELAY_MS:g}")
    if not 0 <= link.jitter_ms <= link.delay_ms:
        raise ValueError(f"{where}: jitter_ms {link.jitter_ms:g} must be within 0..delay_ms")
    if not 0 <= link.loss_pct <= 100:
        raise ValueError(f"{where}: loss_pct {link.loss_pct:g} is outside 0..100")
    return link


_DEFAULT: dict[str, Link] = {
    "client": Link(9.0),  # the home's access line to its ISP (on the home router's WAN)
    "resolver": Link(0.0),  # the ISP's resolver sits at the ISP's core
    "root-a": Link(25.0),
    "root-b": Link(25.0),
    "tld-a": Link(20.0),
    "tld-b": Link(20.0),
    "ns-example": Link(40.0),  # example.com's own server, one site, far away
    "ns-cdn": Link(15.0),  # the CDN's DNS is anycast too
    "edge": Link(1.0),  # client -> edge: 9 + 1 = 10 ms, a CDN is near its users
    "origin": Link(69.0),  # edge -> origin: 1 + 69 = 70 ms, origins are far
    "origin-2": Link(69.0),
    "api": Link(69.0),
    "badcert": Link(69.0),
}

PROFILES: dict[str, dict[str, Link]] = {
    "lan": {},  # no added delay: everything one switch away
    "default": _DEFAULT,
    # A 4G access line: 40 ms one way, ±8 ms, 1% loss each way.
    "mobile": {**_DEFAULT, "client": Link(40.0, 8.0, 1.0)},
    # The origins on another continent: edge -> origin 150 ms one way.
    "far": {**_DEFAULT, "origin": Link(149.0), "origin-2": Link(149.0), "api": Link(149.0)},
}
DEFAULT_PROFILE = "default"

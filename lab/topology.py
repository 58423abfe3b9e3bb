"""The lab's plan: every host, its address and name, and the delay of its link.

The "Internet" lives in one /24. By default that is TEST-NET-2
(198.51.100.0/24, RFC 5737), documentation space that is never routed, and
the zone files in services/zones are written in it. A lab started beside
another gets a /24 of its own (lab/subnets.py); every host keeps its last
octet, so the whole plan follows from the subnet: ``plan("198.19.7.0/24")``.
compose.yaml gives each service ``${LAB_NET}.<octet>`` and the DNS servers
renumber the zone files to the lab's prefix as they load them
(services/dnscore/renumber.py). tests/unit/lab/test_topology.py checks that
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


@dataclass(frozen=True)
class Host:
    service: str  # Compose service name
    role: str
    ipv4: str
    dns_name: str  # the name the host has on the lab "Internet"
    serves: tuple[str, ...] = ()  # PROTO/PORT it answers on; its replies carry the delay
    own: bool = False  # a user's container from weblab.yaml (lab/ownservice): no delay daemon


_DNS = ("udp/53", "tcp/53")
_HTTPS = ("tcp/443", "udp/443")  # HTTP/1.1 and HTTP/2 over TLS; HTTP/3 over QUIC
_BADCERT = ("tcp/443", *(f"tcp/{port}" for port in range(8441, 8447)))

# (service, role, last octet, name, serves); .1 is the gateway (the host's bridge).
# fmt: off
_HOSTS: tuple[tuple[str, str, int, str, tuple[str, ...]], ...] = (
    ("root-a", "root DNS server", 4, "a.root-servers.net", _DNS),
    ("root-b", "root DNS server", 5, "b.root-servers.net", _DNS),
    ("tld-a", "TLD DNS server (com., net.)", 11, "a.gtld-servers.net", _DNS),
    ("tld-b", "TLD DNS server (com., net.)", 12, "b.gtld-servers.net", _DNS),
    ("ns-example", "authoritative DNS for example.com", 21, "ns1.example.com", _DNS),
    ("ns-cdn", "authoritative DNS for the CDN (edgecdn.net)", 31, "ns1.edgecdn-dns.com", _DNS),
    ("resolver", "caching recursive resolver", 53, "resolver.isp.test", _DNS),
    ("edge", "CDN edge / reverse proxy cache", 80, "edge.edgecdn.net",
     ("tcp/443", "udp/443", "tcp/80")),
    ("origin", "HTTPS origin web server", 90, "origin.example.com", _HTTPS),
    ("origin-2", "second HTTPS origin (failover)", 92, "origin2.example.com", _HTTPS),
    ("api", "JSON API backend", 91, "api-origin.example.com", _HTTPS),
    ("badcert", "origin behind bad certificates (ports 8441-8446)", 95, "badcert.example.com",
     _BADCERT),
    ("client", "scenario client (dig, curl, openssl, the browse script)", 100, "client.isp.test",
     ()),
    ("attacker", "attacker forging DNS answers (cache-poisoning only)", 66, "attacker.isp.test",
     ()),
)
# fmt: on


@dataclass(frozen=True)
class Plan:
    """One lab's addresses: every host at its fixed last octet inside ``subnet``."""

    subnet: str  # "198.19.7.0/24"
    hosts: tuple[Host, ...]
    by_service: dict[str, Host] = field(init=False, repr=False, compare=False)
    by_address: dict[str, Host] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_service", {h.service: h for h in self.hosts})
        object.__setattr__(self, "by_address", {h.ipv4: h for h in self.hosts})

    @property
    def prefix(self) -> str:
        """The first three octets, as compose.yaml's ``${LAB_NET}`` takes them."""
        return self.subnet.rsplit(".", 1)[0]

    @property
    def gateway(self) -> str:
        return f"{self.prefix}.1"

    def address(self, service: str) -> str:
        return self.by_service[service].ipv4

    def with_hosts(self, extra: tuple[Host, ...]) -> Plan:
        """This plan plus EXTRA (a user's own services, lab/ownservice), same subnet."""
        return Plan(self.subnet, self.hosts + extra) if extra else self


def check_subnet(subnet: str) -> str:
    """SUBNET as a normalised IPv4 /24 ("198.19.7.0/24"); ValueError saying why not."""
    try:
        net = ipaddress.ip_network(subnet.strip(), strict=True)
    except ValueError as e:
        raise ValueError(f"{subnet!r} is not a subnet like 198.19.7.0/24: {e}") from e
    if net.version != 4 or net.prefixlen != 24:
        raise ValueError(f"{subnet!r}: the lab needs an IPv4 /24 (each host keeps its last octet)")
    return str(net)


@functools.cache
def plan(subnet: str = SUBNET) -> Plan:
    """The lab's plan inside SUBNET (an IPv4 /24); ValueError for anything else."""
    net = check_subnet(subnet)
    prefix = net.rsplit(".", 1)[0]
    hosts = tuple(Host(s, role, f"{prefix}.{octet}", name, serves)
                  for s, role, octet, name, serves in _HOSTS)  # fmt: skip
    return Plan(net, hosts)


DEFAULT_PLAN = plan(SUBNET)


def plan_of(doc: object) -> Plan:
    """The plan a run folder's timeline.json recorded (``subnet``, and ``own_hosts``: the
    user's own services); the default if none."""
    subnet = doc.get("subnet") if isinstance(doc, dict) else None
    try:
        base = plan(str(subnet)) if subnet else DEFAULT_PLAN
    except ValueError:
        return DEFAULT_PLAN
    own = doc.get("own_hosts") if isinstance(doc, dict) else None
    try:
        extra = tuple(Host(**{**h, "serves": tuple(h.get("serves", ())), "own": True})
                      for h in own or ())  # fmt: skip
    except TypeError:
        extra = ()
    return base.with_hosts(extra)


def own_hosts(p: Plan) -> list[dict[str, object]]:
    """A plan's user services as a run's timeline.json records them (``plan_of`` reads them)."""
    return [{"service": h.service, "role": h.role, "ipv4": h.ipv4, "dns_name": h.dns_name,
             "serves": list(h.serves)} for h in p.hosts if h.own]  # fmt: skip


# The documentation plan's hosts: what code with no lab at hand (the report of a
# run folder that recorded no subnet, the harness' namespaces) names hosts by.
HOSTS: tuple[Host, ...] = DEFAULT_PLAN.hosts

# The zones the lab's own servers answer for; any other name (a browser's vendor
# hosts, say) does not exist on the lab's Internet and ends in NXDOMAIN.
LAB_ZONES = ("example.com", "edgecdn.net", "edgecdn-dns.com", "isp.test",
             "root-servers.net", "gtld-servers.net")  # fmt: skip


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
    "client": Link(9.0),  # the home's access line to its ISP
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

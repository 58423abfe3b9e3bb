"""The lab's plan: every host, its address and name, and the delay of its link.

The "Internet" lives in TEST-NET-2 (198.51.100.0/24, RFC 5737), documentation
space that is never routed. compose.yaml gives each service the address
listed here; the zone files in services/zones publish the same addresses.
tests/unit/lab/test_topology.py checks that the three agree.
"""

from __future__ import annotations

from dataclasses import dataclass

SUBNET = "198.51.100.0/24"
GATEWAY = "198.51.100.1"


@dataclass(frozen=True)
class Host:
    service: str  # Compose service name
    role: str
    ipv4: str
    dns_name: str  # the name the host has on the lab "Internet"
    serves: tuple[str, ...] = ()  # PROTO/PORT it answers on; its replies carry the delay


_DNS = ("udp/53", "tcp/53")
_HTTPS = ("tcp/443", "udp/443")  # HTTP/1.1 and HTTP/2 over TLS; HTTP/3 over QUIC
_BADCERT = ("tcp/443", *(f"tcp/{port}" for port in range(8441, 8447)))

# fmt: off
HOSTS: tuple[Host, ...] = (
    Host("root-a", "root DNS server", "198.51.100.4", "a.root-servers.net", _DNS),
    Host("root-b", "root DNS server", "198.51.100.5", "b.root-servers.net", _DNS),
    Host("tld-a", "TLD DNS server (com., net.)", "198.51.100.11", "a.gtld-servers.net", _DNS),
    Host("tld-b", "TLD DNS server (com., net.)", "198.51.100.12", "b.gtld-servers.net", _DNS),
    Host("ns-example", "authoritative DNS for example.com", "198.51.100.21", "ns1.example.com",
         _DNS),
    Host("ns-cdn", "authoritative DNS for the CDN (edgecdn.net)", "198.51.100.31",
         "ns1.edgecdn-dns.com", _DNS),
    Host("resolver", "caching recursive resolver", "198.51.100.53", "resolver.isp.test", _DNS),
    Host("edge", "CDN edge / reverse proxy cache", "198.51.100.80", "edge.edgecdn.net",
         ("tcp/443", "udp/443", "tcp/80")),
    Host("origin", "HTTPS origin web server", "198.51.100.90", "origin.example.com", _HTTPS),
    Host("origin-2", "second HTTPS origin (failover)", "198.51.100.92", "origin2.example.com",
         _HTTPS),
    Host("api", "JSON API backend", "198.51.100.91", "api-origin.example.com", _HTTPS),
    Host("badcert", "origin behind bad certificates (ports 8441-8446)", "198.51.100.95",
         "badcert.example.com", _BADCERT),
    Host("client", "scenario client (dig, curl, openssl, the browse script)", "198.51.100.100",
         "client.isp.test"),
    Host("attacker", "attacker forging DNS answers (cache-poisoning only)", "198.51.100.66",
         "attacker.isp.test"),
)
# fmt: on

# The zones the lab's own servers answer for; any other name (a browser's vendor
# hosts, say) does not exist on the lab's Internet and ends in NXDOMAIN.
LAB_ZONES = ("example.com", "edgecdn.net", "edgecdn-dns.com", "isp.test",
             "root-servers.net", "gtld-servers.net")  # fmt: skip


def in_lab(name: str) -> bool:
    """True when NAME is in one of the lab's zones."""
    name = name.rstrip(".").lower()
    return any(name == z or name.endswith("." + z) for z in LAB_ZONES)


BY_SERVICE: dict[str, Host] = {h.service: h for h in HOSTS}
BY_ADDRESS: dict[str, Host] = {h.ipv4: h for h in HOSTS}


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

"""The lab's address plan: one place that names every host.

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


HOSTS: tuple[Host, ...] = (
    Host("root-a", "root DNS server", "198.51.100.4", "a.root-servers.net"),
    Host("root-b", "root DNS server", "198.51.100.5", "b.root-servers.net"),
    Host("tld-a", "TLD DNS server (com., net.)", "198.51.100.11", "a.gtld-servers.net"),
    Host("tld-b", "TLD DNS server (com., net.)", "198.51.100.12", "b.gtld-servers.net"),
    Host("ns-example", "authoritative DNS for example.com", "198.51.100.21", "ns1.example.com"),
    Host(
        "ns-cdn",
        "authoritative DNS for the CDN (edgecdn.net)",
        "198.51.100.31",
        "ns1.edgecdn-dns.com",
    ),
    Host("resolver", "caching recursive resolver", "198.51.100.53", "resolver.isp.test"),
    Host("edge", "CDN edge / reverse proxy cache", "198.51.100.80", "edge.edgecdn.net"),
    Host("origin", "HTTPS origin web server", "198.51.100.90", "origin.example.com"),
    Host("origin-2", "second HTTPS origin (failover)", "198.51.100.92", "origin2.example.com"),
    Host("api", "JSON API backend", "198.51.100.91", "api-origin.example.com"),
    Host(
        "badcert",
        "origin behind bad certificates (ports 8441-8446)",
        "198.51.100.95",
        "badcert.example.com",
    ),
    Host(
        "client",
        "scenario client (dig, curl, openssl, the browse script)",
        "198.51.100.100",
        "client.isp.test",
    ),
)

BY_SERVICE: dict[str, Host] = {h.service: h for h in HOSTS}
BY_ADDRESS: dict[str, Host] = {h.ipv4: h for h in HOSTS}

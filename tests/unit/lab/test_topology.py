"""The address plan agrees in lab/topology.py, compose.yaml and the zone files."""

import ipaddress
from pathlib import Path

import yaml
from dnslib import QTYPE, RR

from lab import topology

ROOT = Path(__file__).resolve().parents[3]


def test_compose_addresses_match_topology() -> None:
    """Each Compose service has the fixed address the plan gives it."""
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {h.service for h in topology.HOSTS}
    for host in topology.HOSTS:
        addr = services[host.service]["networks"]["internet"]["ipv4_address"]
        assert addr == host.ipv4, host.service
        assert ipaddress.ip_address(addr) in ipaddress.ip_network(topology.SUBNET)


def test_lab_network_is_internal() -> None:
    """The lab network has no way out to the world."""
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
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

"""The namespace address plan of the harness follows lab/topology.py."""

from __future__ import annotations

import ipaddress

from harness.addresses import ADDRESSES, CLIENT_ADDRESS, LAB_DNS, NSD_FOR, UNBOUND_ADDRESS
from lab.topology import BY_SERVICE, DEFAULT_PLAN, HOSTS, SUBNET


def test_lab_servers_keep_their_lab_addresses() -> None:
    """Each DNS server of ours sits at the address compose.yaml and the zones give it."""
    for name, address in LAB_DNS.items():
        assert address == BY_SERVICE[name].ipv4, name
    # The client as our DNS servers see it: the home's public address, after the NAT.
    assert CLIENT_ADDRESS == DEFAULT_PLAN.public == BY_SERVICE["home-router"].addresses["isp"]
    assert BY_SERVICE["client"].ipv4 != CLIENT_ADDRESS


def test_peers_take_free_addresses_in_the_lab_range() -> None:
    """NSD and Unbound get addresses inside the lab subnet that no lab host uses."""
    peers = {*NSD_FOR.values(), UNBOUND_ADDRESS}
    net = ipaddress.ip_network(SUBNET)
    assert all(ipaddress.ip_address(a) in net for a in peers)
    assert not peers & {h.ipv4 for h in HOSTS}


def test_namespace_addresses_are_distinct() -> None:
    """No address is put on the namespace's interface twice."""
    assert len(ADDRESSES) == len(set(ADDRESSES))

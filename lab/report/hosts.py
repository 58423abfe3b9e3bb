"""Names for the addresses in a capture, from the lab's address plan."""

from __future__ import annotations

from collections.abc import Iterable

from lab.topology import BY_ADDRESS, BY_SERVICE, HOSTS

# The two hosts that talk to everyone are named by their role; the servers by the
# name they have on the lab "Internet", as a reader of the capture would know them.
ROLE_NAMED = ("client", "resolver")


def host_name(address: str) -> str:
    host = BY_ADDRESS.get(address)
    if host is None:
        return address
    return host.service if host.service in ROLE_NAMED else host.dns_name


def short_name(address: str) -> str:
    """A lifeline's label: the Compose service name ("tld-a", "ns-example", "edge")."""
    host = BY_ADDRESS.get(address)
    if host is not None:
        return host.service
    # Not in the plan (an IPv6 link-local, the bridge's gateway): its tail tells it apart.
    return address if len(address) <= 12 else "…" + address[-11:]


def host_role(address: str) -> str:
    host = BY_ADDRESS.get(address)
    return host.role if host else "not in the lab's address plan"


def lifeline_order(addresses: Iterable[str]) -> list[str]:
    """The addresses that took part, client and resolver first, then the plan's order."""
    seen = list(dict.fromkeys(addresses))
    first = [BY_SERVICE[s].ipv4 for s in ROLE_NAMED]
    rank = {a: i for i, a in enumerate(first + [h.ipv4 for h in HOSTS if h.ipv4 not in first])}
    known = sorted((a for a in seen if a in rank), key=rank.__getitem__)
    return known + [a for a in seen if a not in rank]

"""Names for the addresses in a capture, from the address plan of the run being told.

A run folder's timeline.json records its lab's subnet and the user's own
services (lab/topology.py ``plan_of``); ``build_report`` sets that plan for the
report it builds (``using``), so a second lab's hosts, or a user's own service,
are named like the default lab's. Outside a build the default plan names them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from lab.topology import DEFAULT_PLAN, Plan

# The two hosts that talk to everyone are named by their role; the servers by the
# name they have on the lab "Internet", as a reader of the capture would know them.
ROLE_NAMED = ("client", "resolver")
_PLAN: ContextVar[Plan] = ContextVar("report_plan", default=DEFAULT_PLAN)


@contextmanager
def using(plan: Plan) -> Iterator[Plan]:
    """Name hosts from PLAN inside the block (the report of one run)."""
    token = _PLAN.set(plan)
    try:
        yield plan
    finally:
        _PLAN.reset(token)


def plan() -> Plan:
    """The plan the report being built names its hosts from."""
    return _PLAN.get()


def address(service: str) -> str:
    """A service's address in that plan (``address("client")``)."""
    return plan().address(service)


def host_name(address: str) -> str:
    host = plan().by_address.get(address)
    if host is None:
        return address
    return host.service if host.service in ROLE_NAMED else host.dns_name


def short_name(address: str) -> str:
    """A lifeline's label: the Compose service name ("tld-a", "ns-example", "edge")."""
    host = plan().by_address.get(address)
    if host is not None:
        return host.service
    # Not in the plan (an IPv6 link-local, the bridge's gateway): its tail tells it apart.
    return address if len(address) <= 12 else "…" + address[-11:]


def host_role(address: str) -> str:
    host = plan().by_address.get(address)
    return host.role if host else "not in the lab's address plan"


def lifeline_order(addresses: Iterable[str]) -> list[str]:
    """The addresses that took part, client and resolver first, then the plan's order."""
    p = plan()
    seen = list(dict.fromkeys(addresses))
    first = [p.address(s) for s in ROLE_NAMED]
    rest = [a for h in p.hosts for a in h.addresses.values() if a not in first]
    rank = {a: i for i, a in enumerate(first + rest)}
    known = sorted((a for a in seen if a in rank), key=rank.__getitem__)
    return known + [a for a in seen if a not in rank]

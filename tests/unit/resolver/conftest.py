"""Fakes for resolver tests: a clock and a network of in-memory authoritative servers.

The fake network answers with the real authoritative logic (services.dns.answer)
from the real zone files, so the resolver under test meets the same replies as
in the lab, without sockets.
"""

from collections.abc import Callable
from pathlib import Path

import pytest
from dnslib import QTYPE, DNSRecord

from harness.dnsservers import compose_services
from services.dns.answer import answer
from services.dns.zone import ZoneSet, load_zone
from services.resolver.cache import Cache
from services.resolver.hints import RootServer, load_hints
from services.resolver.iterate import Limits, Resolver
from services.resolver.transport import UpstreamError, UpstreamTimeout

ZONES = Path(__file__).resolve().parents[3] / "services" / "zones"

# Which zone files each lab server loads, read from compose.yaml (as compose runs them).
LAB_SERVERS: dict[str, tuple[str, ...]] = {
    service.address: tuple(Path(f).name for f in service.zones())
    for service in compose_services().values()
    if service.zones()
}


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


Override = Callable[[DNSRecord], DNSRecord | None]


class FakeNetwork:
    """In-memory authoritative servers by address; some may be down or misbehave."""

    def __init__(self, servers: dict[str, ZoneSet]) -> None:
        self.servers = servers
        self.down: set[str] = set()
        self.unreachable: set[str] = set()
        self.overrides: dict[str, Override] = {}
        self.sent: list[tuple[str, str, str]] = []

    async def query(self, server: str, qname: str, qtype: int) -> DNSRecord:
        self.sent.append((server, qname, QTYPE.get(qtype)))
        if server in self.down:
            raise UpstreamTimeout("fake: no reply")
        if server in self.unreachable or server not in self.servers:
            raise UpstreamError("fake: port unreachable")
        query = DNSRecord.question(qname, QTYPE.get(qtype))
        query.header.rd = 0
        reply: DNSRecord | None = None
        if server in self.overrides:
            reply = self.overrides[server](query)
        if reply is None:
            reply = answer(self.servers[server], query).reply
        return DNSRecord.parse(reply.pack())  # through the wire format, as for real


@pytest.fixture(scope="session")
def lab_zone_sets() -> dict[str, ZoneSet]:
    return {
        addr: ZoneSet(load_zone(ZONES / f) for f in files) for addr, files in LAB_SERVERS.items()
    }


@pytest.fixture(scope="session")
def roots() -> list[RootServer]:
    return load_hints(ZONES / "root.zone")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def net(lab_zone_sets: dict[str, ZoneSet]) -> FakeNetwork:
    return FakeNetwork(dict(lab_zone_sets))


@pytest.fixture
def resolver(net: FakeNetwork, clock: FakeClock, roots: list[RootServer]) -> Resolver:
    return Resolver(net, Cache(clock), roots, Limits(), clock=clock)


@pytest.fixture
def classic(net: FakeNetwork, clock: FakeClock, roots: list[RootServer]) -> Resolver:
    """A resolver without QNAME minimisation: full names to every server, as before RFC 7816."""
    return Resolver(net, Cache(clock), roots, Limits(), clock=clock, qname_minimisation=False)

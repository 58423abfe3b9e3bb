"""Fixtures for the forwarder's tests: a hand-moved clock, a fake upstream, a forwarder."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from dnslib import DNSRecord

from services.dnscore.listen import Listener, listen
from services.forwarder.cache import AnswerCache
from services.forwarder.server import Forwarder
from services.forwarder.transport import ForwardTransport
from services.forwarder.upstream import Endpoint, FixedUpstream, Upstream
from tests.unit.forwarder.fakeupstream import FakeUpstream, start_upstream
from tests.unit.udpclient import udp_exchange

TIMEOUT = 0.3  # the forwarder's per-try wait in these tests (real seconds)


class FakeClock:
    """A clock the test moves by hand: the cache's ages, with no sleeping."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Running:
    """A forwarder listening on 127.0.0.1 and the fake upstream it asks."""

    forwarder: Forwarder
    listener: Listener
    upstream: FakeUpstream

    @property
    def port(self) -> int:
        return self.listener.port

    async def ask(self, name: str, qtype: str = "A", **flags: int) -> DNSRecord:
        """One UDP question, RD=1 unless told otherwise, as dig sends it."""
        query = DNSRecord.question(name, qtype)
        for flag, value in flags.items():
            setattr(query.header, flag, value)
        reply = DNSRecord.parse(await udp_exchange(self.port, query.pack()))
        assert reply.header.id == query.header.id
        return reply

    async def ask_tcp(self, name: str, qtype: str = "A") -> DNSRecord:
        """One question over TCP, 2-byte length framing."""
        query = DNSRecord.question(name, qtype)
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            wire = query.pack()
            writer.write(struct.pack("!H", len(wire)) + wire)
            await writer.drain()
            (length,) = struct.unpack("!H", await asyncio.wait_for(reader.readexactly(2), 5))
            return DNSRecord.parse(await reader.readexactly(length))
        finally:
            writer.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    fake = await start_upstream()
    yield fake
    await fake.close()


async def start_forwarder(
    fake: FakeUpstream,
    clock: FakeClock,
    upstream: Upstream | None = None,
    cache: bool = True,
    max_ttl: int = 86400,
) -> Running:
    """The forwarder as __main__ wires it, asking ``fake`` unless ``upstream`` says otherwise."""
    forwarder = Forwarder(
        upstream or FixedUpstream(Endpoint("127.0.0.1", fake.port)),
        ForwardTransport(timeout=TIMEOUT),
        AnswerCache(clock, max_ttl=max_ttl) if cache else None,
        layer="router",
        clock=clock,
    )
    listener = await listen(forwarder.handle, "127.0.0.1", 0)
    return Running(forwarder, listener, fake)


@pytest.fixture
async def running(upstream: FakeUpstream, clock: FakeClock) -> AsyncIterator[Running]:
    lab = await start_forwarder(upstream, clock)
    yield lab
    await lab.listener.close()


async def until(condition: object, what: str, deadline: float = 5.0) -> None:
    """Poll ``condition()`` until true, or fail after ``deadline`` seconds."""
    assert callable(condition)
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    while not condition():
        if loop.time() > end:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)

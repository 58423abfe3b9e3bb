"""The weakened mode (one fixed source port) and the cheap wrong-ID check, on real sockets."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
from dnslib import QTYPE, RR, A, DNSRecord

from services.resolver.transport import NetworkTransport, UpstreamError
from tests.unit.resolver.loopback import Flood, answer_for, authority, free_port


@pytest.fixture
async def weakened() -> AsyncIterator[NetworkTransport]:
    transport = NetworkTransport(timeout=2, source_address="127.0.0.1")
    transport.weaken(free_port())
    yield transport
    transport.close()


async def test_every_query_leaves_from_the_fixed_port(weakened: NetworkTransport) -> None:
    """With fixed_port set the server sees one source port; the IDs stay random."""
    server = await authority()
    peer = ("127.0.0.1", server.port)
    weakened.address_map = {"192.0.2.53": peer}
    try:
        for i in range(5):
            reply = await weakened.query("192.0.2.53", f"n{i}.test.", QTYPE.A)
            assert str(reply.rr[0].rdata) == f"192.0.2.{i}"
    finally:
        assert server.transport is not None
        server.transport.close()
    assert {sport for _, sport in server.seen} == {weakened.fixed_port}
    assert len({qid for qid, _ in server.seen}) > 1


async def test_concurrent_queries_get_their_own_answers(weakened: NetworkTransport) -> None:
    """Six queries in flight at once, to two servers, answered in reverse: each gets its own."""
    one, two = await authority(hold=3), await authority(hold=3)
    weakened.address_map = {
        "192.0.2.1": ("127.0.0.1", one.port),
        "192.0.2.2": ("127.0.0.1", two.port),
    }
    try:
        replies = await asyncio.gather(
            *(
                weakened.query("192.0.2.1" if i % 2 else "192.0.2.2", f"n{i}.test.", QTYPE.A)
                for i in range(6)
            )
        )
    finally:
        for server in (one, two):
            assert server.transport is not None
            server.transport.close()
    assert [str(r.rr[0].rdata) for r in replies] == [f"192.0.2.{i}" for i in range(6)]
    assert {sport for _, sport in one.seen + two.seen} == {weakened.fixed_port}
    assert weakened.counters.accepted == 6


def wrong_ids(count: int, body: bytes | None = None) -> Flood:
    """``count`` forged replies per query: the right question, every ID but the real one."""

    def flood(query: DNSRecord) -> list[bytes]:
        forged = []
        for n in range(1, count + 1):
            fake_id = ((query.header.id + n) % 65536).to_bytes(2, "big")
            forged.append(fake_id + (body if body is not None else answer_for(query)[2:]))
        return forged

    return flood


@pytest.mark.parametrize("fixed", [False, True], ids=["random-port", "fixed-port"])
async def test_wrong_id_flood_is_ignored_and_the_answer_accepted(fixed: bool) -> None:
    """300 forged replies with wrong IDs before the real one: all ignored, and none taken.

    300 is more than the kernel's default receive buffer holds (about 255 such
    datagrams), so this also proves the raised SO_RCVBUF keeps the real answer.
    """
    server = await authority(flood=wrong_ids(300))
    transport = NetworkTransport(
        timeout=2, source_address="127.0.0.1", address_map={"192.0.2.53": ("127.0.0.1", 0)}
    )
    transport.address_map["192.0.2.53"] = ("127.0.0.1", server.port)
    if fixed:
        transport.weaken(free_port())
    try:
        reply = await transport.query("192.0.2.53", "n9.test.", QTYPE.A)
    finally:
        transport.close()
        assert server.transport is not None
        server.transport.close()
    assert str(reply.rr[0].rdata) == "192.0.2.9"
    stats = transport.counters.as_dict()
    assert stats["wrong_id"] == 300
    assert (stats["accepted"], stats["ignored"], stats["queries"]) == (1, 300, 1)


async def test_wrong_id_is_judged_before_parsing() -> None:
    """Unparseable bodies behind a wrong ID count as wrong_id, not garbage: no parse was tried."""
    server = await authority(flood=wrong_ids(50, body=b"\x80\x00" + b"\xff" * 30))
    transport = NetworkTransport(timeout=2, address_map={"192.0.2.53": ("127.0.0.1", server.port)})
    try:
        await transport.query("192.0.2.53", "n1.test.", QTYPE.A)
    finally:
        assert server.transport is not None
        server.transport.close()
    assert (transport.counters.wrong_id, transport.counters.garbage) == (50, 0)


async def test_right_id_wrong_question_is_still_refused(weakened: NetworkTransport) -> None:
    """A forged reply with the guessed ID but another question is ignored (RFC 5452 §9.1)."""

    def other_question(query: DNSRecord) -> list[bytes]:
        forged = DNSRecord.question("victim.test").reply()
        forged.header.id = query.header.id
        forged.add_answer(RR("victim.test.", QTYPE.A, rdata=A("203.0.113.66"), ttl=60))
        return [forged.pack()]

    server = await authority(flood=other_question)
    weakened.address_map = {"192.0.2.53": ("127.0.0.1", server.port)}
    try:
        reply = await weakened.query("192.0.2.53", "n4.test.", QTYPE.A)
    finally:
        assert server.transport is not None
        server.transport.close()
    assert str(reply.rr[0].rdata) == "192.0.2.4"
    assert weakened.counters.wrong_question == 1


async def test_turning_the_mode_off_frees_the_port_and_randomises_again(
    weakened: NetworkTransport,
) -> None:
    """weaken(None): the fixed port is released and queries use fresh ports again."""
    fixed = weakened.fixed_port
    assert fixed is not None
    server = await authority()
    weakened.address_map = {"192.0.2.53": ("127.0.0.1", server.port)}
    try:
        await weakened.query("192.0.2.53", "n1.test.", QTYPE.A)
        assert weakened.weaken(None) is None
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as again:
            again.bind(("127.0.0.1", fixed))  # would raise EADDRINUSE if still held
        for i in range(3):
            await weakened.query("192.0.2.53", f"n{i}.test.", QTYPE.A)
    finally:
        assert server.transport is not None
        server.transport.close()
    later = {sport for _, sport in server.seen[1:]}
    assert fixed not in later
    assert len(later) > 1


async def test_a_port_in_use_is_refused_and_the_mode_unchanged() -> None:
    """weaken() on a bound port raises OSError; the transport stays in its previous mode."""
    transport = NetworkTransport(source_address="127.0.0.1")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        with pytest.raises(OSError, match="in use"):
            transport.weaken(taken.getsockname()[1])
    assert transport.fixed_port is None


async def test_queries_in_flight_fail_when_the_mode_changes(weakened: NetworkTransport) -> None:
    """A query waiting on the fixed port when the mode is turned off fails at once, not later."""
    server = await authority(hold=2)  # answers only after a second query: never here
    weakened.address_map = {"192.0.2.53": ("127.0.0.1", server.port)}
    try:
        waiting = asyncio.ensure_future(weakened.query("192.0.2.53", "n1.test.", QTYPE.A))
        async with asyncio.timeout(2):
            while not server.seen:  # poll until the query has left
                await asyncio.sleep(0)
        weakened.weaken(None)
        with pytest.raises(UpstreamError, match="changed"):
            await asyncio.wait_for(waiting, 1)
    finally:
        assert server.transport is not None
        server.transport.close()

"""The forwarder on real loopback sockets against a fake upstream that counts its queries."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import pytest
from dnslib import RCODE, DNSRecord

from services.forwarder.upstream import NO_LEASE, UpstreamFile
from tests.unit.forwarder.conftest import FakeClock, Running, start_forwarder, until
from tests.unit.forwarder.fakeupstream import FakeUpstream, bare, negative, positive
from tests.unit.udpclient import udp_exchange

WWW = "www.example.com."


def addresses(reply: DNSRecord) -> list[str]:
    return [str(rr.rdata) for rr in reply.rr]


def query_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "event", "") == "forwarder_query"]


@pytest.fixture
def log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="services.forwarder")
    return caplog


async def test_miss_then_hit_asks_the_upstream_once(
    running: Running, log: pytest.LogCaptureFixture
) -> None:
    """The first question goes upstream (RD=1), the second is a hit; the log says which."""
    running.upstream.records[WWW] = positive((300, "192.0.2.80"))
    first = await running.ask(WWW)
    second = await running.ask("WWW.example.COM")
    assert addresses(first) == addresses(second) == ["192.0.2.80"]
    assert running.upstream.queries == 1
    [(sent, _)] = running.upstream.udp_seen
    assert sent.header.rd == 1
    lines = query_lines(log)
    assert [line.cache for line in lines] == ["miss", "hit"]  # type: ignore[attr-defined]
    assert lines[0].layer == "router"  # type: ignore[attr-defined]
    assert isinstance(lines[0].upstream_ms, float)  # type: ignore[attr-defined]
    assert running.forwarder.counters()["hits"] == 1


async def test_ttl_counts_down_by_the_time_held(running: Running, clock: FakeClock) -> None:
    """Asked 100 s later (the injected clock) the TTL is 200 of 300; at 300 s it is a miss."""
    running.upstream.records[WWW] = positive((300, "192.0.2.80"))
    first = await running.ask(WWW)
    clock.advance(100)
    later = await running.ask(WWW)
    assert [int(rr.ttl) for rr in first.rr] == [300]
    assert [int(rr.ttl) for rr in later.rr] == [200]
    clock.advance(200)
    await running.ask(WWW)
    assert running.upstream.queries == 2


async def test_max_ttl_caps_what_the_asker_is_told_and_how_long_it_is_kept(
    upstream: FakeUpstream, clock: FakeClock
) -> None:
    """With --max-ttl 60 an answer of TTL 86400 is served as 60 and asked again after 60 s."""
    lab = await start_forwarder(upstream, clock, max_ttl=60)
    try:
        upstream.records[WWW] = positive((86400, "192.0.2.80"))
        assert [int(rr.ttl) for rr in (await lab.ask(WWW)).rr] == [60]
        clock.advance(59)
        assert [int(rr.ttl) for rr in (await lab.ask(WWW)).rr] == [1]
        assert upstream.queries == 1
        clock.advance(1)
        await lab.ask(WWW)
        assert upstream.queries == 2
    finally:
        await lab.listener.close()


async def test_nxdomain_is_cached_for_the_soa_minimum(running: Running, clock: FakeClock) -> None:
    """NXDOMAIN with SOA TTL 900 and MINIMUM 30: a hit for 30 s with the SOA counting down."""
    name = "nope.example.com."
    running.upstream.records[name] = negative(RCODE.NXDOMAIN, "example.com.", 900, 30)
    first = await running.ask(name)
    clock.advance(10)
    second = await running.ask(name)
    assert first.header.rcode == second.header.rcode == RCODE.NXDOMAIN
    assert [int(rr.ttl) for rr in first.auth] == [30]
    assert [int(rr.ttl) for rr in second.auth] == [20]
    assert running.upstream.queries == 1
    clock.advance(20)
    await running.ask(name)
    assert running.upstream.queries == 2


async def test_a_denial_without_soa_is_not_cached(running: Running) -> None:
    """NXDOMAIN with no SOA (RFC 2308 §5) goes upstream every time, and stays NXDOMAIN."""
    running.upstream.records[WWW] = bare(RCODE.NXDOMAIN)
    for _ in range(2):
        assert (await running.ask(WWW)).header.rcode == RCODE.NXDOMAIN
    assert running.upstream.queries == 2


async def test_servfail_from_upstream_is_relayed_and_not_cached(running: Running) -> None:
    """The upstream's SERVFAIL reaches the asker, and the next question asks again."""
    running.upstream.records[WWW] = bare(RCODE.SERVFAIL)
    for _ in range(2):
        assert (await running.ask(WWW)).header.rcode == RCODE.SERVFAIL
    assert running.upstream.queries == 2


async def test_no_cache_forwards_every_question(upstream: FakeUpstream, clock: FakeClock) -> None:
    """--no-cache: the same question twice is two upstream queries, TTLs as the upstream sent."""
    lab = await start_forwarder(upstream, clock, cache=False)
    try:
        upstream.records[WWW] = positive((300, "192.0.2.80"))
        await lab.ask(WWW)
        clock.advance(100)
        assert [int(rr.ttl) for rr in (await lab.ask(WWW)).rr] == [300]
        assert upstream.queries == 2
    finally:
        await lab.listener.close()


async def test_reply_carries_the_askers_id_rd_and_cd_with_ra(running: Running) -> None:
    """RD=0, CD=1 from the asker come back as asked, RA=1, AA=0; upstream still gets RD=1."""
    running.upstream.records[WWW] = positive((300, "192.0.2.80"))
    reply = await running.ask(WWW, rd=0, cd=1)
    assert (reply.header.rd, reply.header.cd, reply.header.ra, reply.header.aa) == (0, 1, 1, 0)
    hit = await running.ask(WWW)
    assert (hit.header.rd, hit.header.cd) == (1, 0)
    assert running.upstream.udp_seen[0][0].header.rd == 1


async def test_truncated_upstream_reply_is_asked_again_over_tcp(
    running: Running, log: pytest.LogCaptureFixture
) -> None:
    """TC=1 over UDP: the same question over TCP, and the asker gets the full answer."""
    running.upstream.records[WWW] = positive((300, "192.0.2.80"), (300, "192.0.2.81"))
    running.upstream.truncate = True
    reply = await running.ask(WWW)
    assert addresses(reply) == ["192.0.2.80", "192.0.2.81"]
    assert (len(running.upstream.udp_seen), len(running.upstream.tcp_seen)) == (1, 1)
    assert query_lines(log)[0].upstream_proto == "tcp"  # type: ignore[attr-defined]


async def test_upstream_timeout_is_tried_once_more_then_servfail(
    running: Running, log: pytest.LogCaptureFixture
) -> None:
    """Two UDP tries (new port, new ID) with no reply: SERVFAIL, not cached, reason logged."""
    running.upstream.drop = 2
    reply = await running.ask(WWW)
    assert reply.header.rcode == RCODE.SERVFAIL
    [(one, one_from), (two, two_from)] = running.upstream.udp_seen
    assert one.header.id != two.header.id or one_from != two_from
    assert "no reply" in query_lines(log)[0].reason  # type: ignore[attr-defined]
    running.upstream.records[WWW] = positive((300, "192.0.2.80"))
    assert addresses(await running.ask(WWW)) == ["192.0.2.80"]


async def test_one_lost_datagram_is_answered_by_the_second_try(
    running: Running, log: pytest.LogCaptureFixture
) -> None:
    """The first UDP try dropped: the second gets the answer, logged as two tries."""
    running.upstream.records[WWW] = positive((300, "192.0.2.80"))
    running.upstream.drop = 1
    assert addresses(await running.ask(WWW)) == ["192.0.2.80"]
    assert query_lines(log)[0].upstream_tries == 2  # type: ignore[attr-defined]


async def test_concurrent_identical_questions_are_collapsed(
    running: Running, log: pytest.LogCaptureFixture
) -> None:
    """Five askers of one question while it is upstream: one upstream query, five answers."""
    running.upstream.records[WWW] = positive((300, "192.0.2.80"))
    running.upstream.held = asyncio.Event()
    queries = [DNSRecord.question(WWW, "A") for _ in range(5)]
    asks = [asyncio.ensure_future(udp_exchange(running.port, q.pack())) for q in queries]
    await until(lambda: running.forwarder.stats.collapsed == 4, "four askers to join the first")
    running.upstream.held.set()
    replies = [DNSRecord.parse(data) for data in await asyncio.gather(*asks)]
    assert [r.header.id for r in replies] == [q.header.id for q in queries]
    assert [addresses(r) for r in replies] == [["192.0.2.80"]] * 5
    assert running.upstream.queries == 1
    caches = sorted(line.cache for line in query_lines(log))  # type: ignore[attr-defined]
    assert caches == ["collapsed"] * 4 + ["miss"]


async def test_forged_replies_with_wrong_id_or_question_are_ignored(running: Running) -> None:
    """A reply with another ID and one for another question arrive first: both ignored."""
    running.upstream.records[WWW] = positive((300, "192.0.2.80"))
    running.upstream.forge = True
    reply = await running.ask(WWW)
    assert addresses(reply) == ["192.0.2.80"]
    udp = running.forwarder.transport.counters.udp
    assert (udp.wrong_id, udp.wrong_question, udp.accepted) == (1, 1, 1)


async def test_query_over_tcp(running: Running) -> None:
    """A question over TCP is answered over TCP, from upstream and then from the cache."""
    running.upstream.records[WWW] = positive((300, "192.0.2.80"))
    assert addresses(await running.ask_tcp(WWW)) == ["192.0.2.80"]
    assert addresses(await running.ask_tcp(WWW)) == ["192.0.2.80"]
    assert running.upstream.queries == 1


async def test_malformed_packet_gets_formerr_and_the_server_goes_on(
    running: Running, log: pytest.LogCaptureFixture
) -> None:
    """A header with a cut-off question: FORMERR with its ID, a log line, then normal service."""
    bad = bytes.fromhex("beef 0100 0001 0000 0000 0000 03 61 62")
    reply = DNSRecord.parse(await udp_exchange(running.port, bad))
    assert (reply.header.id, reply.header.rcode, reply.header.qr) == (0xBEEF, RCODE.FORMERR, 1)
    [line] = [r for r in log.records if getattr(r, "event", "") == "forwarder_bad_packet"]
    assert line.action == "reply"  # type: ignore[attr-defined]
    assert line.reason.startswith("unparseable")  # type: ignore[attr-defined]
    running.upstream.records[WWW] = positive((300, "192.0.2.80"))
    assert addresses(await running.ask(WWW)) == ["192.0.2.80"]
    assert running.upstream.queries == 1


async def test_short_packets_and_responses_are_dropped_unanswered(
    running: Running, log: pytest.LogCaptureFixture
) -> None:
    """Five bytes, and a packet with QR=1: no reply (the next datagram back answers the query)."""
    running.upstream.records[WWW] = positive((300, "192.0.2.80"))
    response = DNSRecord.question(WWW, "A").reply()
    response.header.id = 0x5151
    for junk in (b"\x01\x02\x03\x04\x05", response.pack()):
        query = DNSRecord.question(WWW, "A")
        back = DNSRecord.parse(await udp_exchange(running.port, junk, query.pack()))
        assert back.header.id == query.header.id
    bad = [r for r in log.records if getattr(r, "event", "") == "forwarder_bad_packet"]
    reasons = [getattr(r, "reason", None) for r in bad]
    assert reasons == ["shorter than a DNS header", "QR=1: a response, not a query"]
    assert running.upstream.queries == 1


async def test_upstream_file_missing_then_written_then_emptied(
    upstream: FakeUpstream, clock: FakeClock, tmp_path: Path, log: pytest.LogCaptureFixture
) -> None:
    """No lease file: SERVFAIL saying so; lease written: answered; file emptied: SERVFAIL."""
    lease = tmp_path / "upstream.conf"
    source = UpstreamFile(lease, port=upstream.port)
    lab = await start_forwarder(upstream, clock, upstream=source, cache=False)
    try:
        for _ in range(2):
            assert (await lab.ask(WWW)).header.rcode == RCODE.SERVFAIL
        assert query_lines(log)[-1].reason.startswith(NO_LEASE)  # type: ignore[attr-defined]
        lease.write_text("# written by the DHCP lease hook\nnameserver 127.0.0.1\n")
        upstream.records[WWW] = positive((300, "192.0.2.80"))
        assert addresses(await lab.ask(WWW)) == ["192.0.2.80"]
        lease.write_text("")
        assert (await lab.ask(WWW)).header.rcode == RCODE.SERVFAIL
        assert upstream.queries == 1
        # One warning per change to "no upstream", not one per question.
        warnings = [getattr(r, "reason", "") for r in log.records if r.levelno == logging.WARNING]
        assert [w.rsplit(": ", 1)[1] for w in warnings] == [
            f"{lease} does not exist",
            f"no nameserver line in {lease}",
        ]
    finally:
        await lab.listener.close()


def test_upstream_file_is_read_again_only_when_it_changes(tmp_path: Path) -> None:
    """Unchanged file: no second read; a new nameserver line (new mtime): the new upstream."""
    lease = tmp_path / "upstream.conf"
    lease.write_text("search home.arpa\nnameserver 198.18.0.1\nnameserver 198.18.0.2\n")
    source = UpstreamFile(lease)
    assert str(source.current()) == "198.18.0.1:53"
    assert str(source.current()) == "198.18.0.1:53"
    assert source.reads == 1
    stamp = lease.stat().st_mtime_ns
    lease.write_text("nameserver 198.18.0.9\n")
    os.utime(lease, ns=(stamp + 10**9, stamp + 10**9))
    assert str(source.current()) == "198.18.0.9:53"
    assert source.reads == 2


def test_first_usable_nameserver_line_names_the_upstream(tmp_path: Path) -> None:
    """A nameserver line that is not an address is skipped, as resolv.conf's reader does."""
    lease = tmp_path / "upstream.conf"
    lease.write_text("nameserver dns.example\nnameserver ::1\n")
    assert str(UpstreamFile(lease, port=5353).current()) == "[::1]:5353"

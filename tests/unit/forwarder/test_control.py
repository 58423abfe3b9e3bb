"""The control channel and `services.forwarder.ctl`: dump, flush NAME and below, stats."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.forwarder import ctl
from services.forwarder.control import Controls, handle_request, serve_control
from tests.unit.forwarder.conftest import FakeClock, Running
from tests.unit.forwarder.fakeupstream import positive

NAMES = ["www.example.com.", "static.www.example.com.", "example.com.", "www.example.net."]


def controls_of(running: Running) -> Controls:
    f = running.forwarder
    return Controls(f.layer, f.dump, f.flush, f.counters)


@pytest.fixture
async def filled(running: Running) -> Running:
    """The forwarder with four answers cached, www.example.com asked twice (one hit)."""
    for name in NAMES:
        running.upstream.records[name] = positive((300, "192.0.2.80"))
        await running.ask(name)
    await running.ask(NAMES[0])
    return running


@pytest.fixture
async def socket_path(tmp_path: Path, filled: Running) -> AsyncIterator[Path]:
    path = tmp_path / "forwarder.sock"
    server = await serve_control(str(path), controls_of(filled))
    yield path
    server.close()
    await server.wait_closed()


def ask(running: Running, payload: object) -> dict[str, object]:
    return handle_request(json.dumps(payload).encode(), controls_of(running))


async def test_dump_lists_entries_with_ttl_left_hits_and_the_layer(
    filled: Running, clock: FakeClock
) -> None:
    """dump: every cached question with its TTL left and hits, under the layer's name."""
    clock.advance(30)
    reply = ask(filled, {"cmd": "dump"})
    assert reply["layer"] == "router"
    entries = reply["entries"]
    assert isinstance(entries, list)
    by_name = {e["name"]: e for e in entries}
    assert sorted(by_name) == sorted(NAMES)
    assert (by_name[NAMES[0]]["ttl"], by_name[NAMES[0]]["hits"]) == (270, 1)
    assert by_name[NAMES[1]]["hits"] == 0
    only = ask(filled, {"cmd": "dump", "name": "WWW.example.com"})["entries"]
    assert isinstance(only, list)
    assert sorted(e["name"] for e in only) == sorted(NAMES[:2])


async def test_flush_name_drops_it_and_below_and_those_go_upstream_again(filled: Running) -> None:
    """flush www.example.com: it and static.www go; example.com and example.net stay cached."""
    before = filled.upstream.queries
    assert ask(filled, {"cmd": "flush", "name": "www.example.com"})["flushed"] == 2
    for name in NAMES:
        await filled.ask(name)
    assert filled.upstream.queries == before + 2
    assert ask(filled, {"cmd": "flush"})["flushed"] == 4
    assert ask(filled, {"cmd": "dump"})["entries"] == []


async def test_stats_counts_questions_hits_misses_and_upstream_queries(filled: Running) -> None:
    """stats: five questions, one hit, four misses, four queries sent upstream."""
    stats = ask(filled, {"cmd": "stats"})
    picked = {k: stats[k] for k in ("queries", "hits", "misses", "collapsed", "upstream_queries")}
    assert picked == {"queries": 5, "hits": 1, "misses": 4, "collapsed": 0, "upstream_queries": 4}
    assert stats["upstream"] == f"127.0.0.1:{filled.upstream.port}"
    json.dumps(stats)


async def test_bad_requests_are_refused(running: Running) -> None:
    """Not JSON, no cmd, an unknown command, a name that is not a string: ok false."""
    assert handle_request(b"dump\n", controls_of(running))["ok"] is False
    for bad in ({}, {"cmd": "weaken"}, {"cmd": "flush", "name": 7}):
        assert ask(running, bad)["ok"] is False


async def test_ctl_dump_flush_and_stats_over_the_socket(
    socket_path: Path, filled: Running, capsys: pytest.CaptureFixture[str]
) -> None:
    """The ctl commands against the real Unix socket: table, JSON, flush NAME, stats --json."""
    base = ["--socket", str(socket_path)]
    assert await asyncio.to_thread(ctl.main, [*base, "dump"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0] == "layer: router"
    assert table[-1] == "4 entries"
    assert any(line.startswith("www.example.com.") and "300/300" in line for line in table)
    assert await asyncio.to_thread(ctl.main, [*base, "dump", "example.net", "--json"]) == 0
    dumped = json.loads(capsys.readouterr().out)
    assert [e["name"] for e in dumped["entries"]] == ["www.example.net."]
    assert await asyncio.to_thread(ctl.main, [*base, "flush", "example.com"]) == 0
    assert capsys.readouterr().out == "router: flushed 3 entries (example.com.)\n"
    assert await asyncio.to_thread(ctl.main, [*base, "stats", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert (stats["hits"], stats["cache_entries"]) == (1, 1)


def test_ctl_without_a_forwarder_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No socket there: one line saying so on stderr, exit 1."""
    assert ctl.main(["--socket", str(tmp_path / "none.sock"), "stats"]) == 1
    assert "cannot reach the forwarder" in capsys.readouterr().err

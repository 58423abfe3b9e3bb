"""The control channel's weaken, stats and dump-by-name commands, and the ctl CLI for them."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from dnslib import QTYPE

from services.resolver import ctl
from services.resolver.control import Controls, handle_request, serve_control
from services.resolver.kerneludp import parse_snmp
from services.resolver.transport import NetworkTransport
from tests.unit.resolver.loopback import authority, free_port

ENTRIES: list[dict[str, object]] = [
    {"name": "example.com.", "type": "NS", "records": ["ns1.example.com."]},
    {"name": "www.example.com.", "type": "A", "records": ["203.0.113.66"]},
    {"name": "example.net.", "type": "A", "records": ["198.51.100.1"]},
]


@pytest.fixture
def transport() -> Iterator[NetworkTransport]:
    loopback = NetworkTransport(timeout=2, source_address="127.0.0.1")
    yield loopback
    loopback.close()


def controls(transport: NetworkTransport | None) -> Controls:
    return Controls(lambda: ENTRIES, lambda name: 0, transport, kernel_udp=lambda: {"no_ports": 7})


def ask(payload: dict[str, object], transport: NetworkTransport | None) -> dict[str, object]:
    return handle_request(json.dumps(payload).encode(), controls(transport))


def warnings(caplog: pytest.LogCaptureFixture) -> list[tuple[str, object]]:
    return [
        (r.event, r.fixed_port)  # type: ignore[attr-defined]
        for r in caplog.records
        if r.levelno == logging.WARNING
    ]


async def test_weaken_turns_the_mode_on_and_off_with_a_warning(
    transport: NetworkTransport, caplog: pytest.LogCaptureFixture
) -> None:
    """weaken PORT then weaken null: replies say what is in force, each change logs a warning."""
    caplog.set_level(logging.INFO, logger="services.resolver.control")
    port = free_port()
    assert ask({"cmd": "weaken", "fixed_port": port}, transport) == {
        "ok": True,
        "fixed_port": port,
    }
    assert transport.fixed_port == port
    assert ask({"cmd": "weaken", "fixed_port": None}, transport) == {
        "ok": True,
        "fixed_port": None,
    }
    assert transport.fixed_port is None
    assert warnings(caplog) == [("resolver_weakened", port), ("resolver_weakened_off", None)]


async def test_weaken_refuses_bad_ports_and_a_port_in_use(transport: NetworkTransport) -> None:
    """Not a port, a missing fixed_port, or a bound port: ok false, and the mode stays off."""
    bad_requests: list[dict[str, object]] = [
        {"cmd": "weaken"},
        {"cmd": "weaken", "fixed_port": "53"},
        {"cmd": "weaken", "fixed_port": 0},
        {"cmd": "weaken", "fixed_port": True},
    ]
    for bad in bad_requests:
        assert ask(bad, transport)["ok"] is False
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        reply = ask({"cmd": "weaken", "fixed_port": taken.getsockname()[1]}, transport)
    assert reply["ok"] is False
    assert reply["fixed_port"] is None
    assert "cannot bind" in str(reply["error"])
    assert transport.fixed_port is None


async def test_weakened_queries_go_out_from_the_port_the_command_set(
    transport: NetworkTransport,
) -> None:
    """After the weaken command a real query leaves from that port; after off it does not."""
    server = await authority()
    transport.address_map = {"192.0.2.53": ("127.0.0.1", server.port)}
    port = free_port()
    try:
        ask({"cmd": "weaken", "fixed_port": port}, transport)
        await transport.query("192.0.2.53", "n1.test.", QTYPE.A)
        ask({"cmd": "weaken", "fixed_port": None}, transport)
        await transport.query("192.0.2.53", "n2.test.", QTYPE.A)
    finally:
        assert server.transport is not None
        server.transport.close()
    assert server.seen[0][1] == port
    assert server.seen[1][1] != port


async def test_stats_counts_the_ignored_replies(transport: NetworkTransport) -> None:
    """stats gives the mode, the upstream counters by reason, the buffer and the kernel's."""

    def forged(query: object) -> list[bytes]:
        return [b"\x00\x00" + b"\x80" + b"\x00" * 9] * 3  # ID 0 (a real ID is never 0 here)

    server = await authority(flood=forged)
    transport.address_map = {"192.0.2.53": ("127.0.0.1", server.port)}
    try:
        for _ in range(5):  # a query whose random ID happens to be 0 takes them: ask again
            await transport.query("192.0.2.53", "n1.test.", QTYPE.A)
            if transport.counters.wrong_id == 3 * transport.counters.queries:
                break
    finally:
        assert server.transport is not None
        server.transport.close()
    stats = ask({"cmd": "stats"}, transport)
    upstream = stats["upstream"]
    assert isinstance(upstream, dict)
    assert (upstream["ignored"], upstream["wrong_id"]) == (3 * upstream["queries"],) * 2
    assert upstream["accepted"] == upstream["queries"]
    assert stats["fixed_port"] is None
    assert isinstance(stats["rcvbuf"], int)
    assert stats["kernel_udp"] == {"no_ports": 7}
    json.dumps(stats)


def test_dump_by_name_lists_that_name_and_below() -> None:
    """dump with a name: the entries at and under it, so forged records can be found."""
    reply = ask({"cmd": "dump", "name": "Example.COM"}, None)
    assert reply["name"] == "example.com."
    assert reply["entries"] == ENTRIES[:2]
    assert ask({"cmd": "dump"}, None)["entries"] == ENTRIES
    assert ask({"cmd": "dump", "name": 3}, None)["ok"] is False


def test_without_a_transport_weaken_is_refused() -> None:
    """A control channel wired without the transport says so instead of pretending."""
    assert ask({"cmd": "weaken", "fixed_port": 5300}, None)["ok"] is False
    assert ask({"cmd": "stats"}, None)["upstream"] is None


def test_kernel_udp_counters_are_read_from_snmp() -> None:
    """The Udp: lines of /proc/net/snmp become no_ports, rcvbuf_errors and in_errors."""
    text = (
        "Ip: Forwarding\nIp: 1\n"
        "Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors\n"
        "Udp: 10 4 2 9 2 0\n"
    )
    assert parse_snmp(text) == {"no_ports": 4, "rcvbuf_errors": 2, "in_errors": 2}
    assert parse_snmp("") == {}


@pytest.fixture
async def control_socket(tmp_path: Path, transport: NetworkTransport) -> AsyncIterator[Path]:
    path = tmp_path / "ctl.sock"
    server = await serve_control(str(path), controls(transport))
    yield path
    server.close()
    await server.wait_closed()


async def test_ctl_weaken_port_and_off(
    control_socket: Path, transport: NetworkTransport, capsys: pytest.CaptureFixture[str]
) -> None:
    """`ctl weaken PORT`, `ctl stats` and `ctl weaken off` over the real Unix socket."""
    port = free_port()
    base = ["--socket", str(control_socket)]
    assert await asyncio.to_thread(ctl.main, [*base, "weaken", str(port)]) == 0
    assert transport.fixed_port == port
    assert await asyncio.to_thread(ctl.main, [*base, "stats"]) == 0
    assert await asyncio.to_thread(ctl.main, [*base, "weaken", "off"]) == 0
    assert transport.fixed_port is None
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"weakened mode ON: every upstream query from source port {port}"
    assert out[1] == f"source port: {port} (WEAKENED: fixed, RFC 5452 demonstration)"
    assert out[-1] == "weakened mode off: a random source port per upstream query"


def test_ctl_weaken_usage_errors_exit_2() -> None:
    """`ctl weaken` with no port, port 0 or a word other than off is a usage error."""
    for argv in (["weaken"], ["weaken", "0"], ["weaken", "on"], ["weaken", "70000"]):
        with pytest.raises(SystemExit) as exit_:
            ctl.main(argv)
        assert exit_.value.code == 2

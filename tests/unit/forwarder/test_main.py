"""The command line: options, usage errors (exit 2), a port in use (exit 1), a real run."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from dnslib import DNSRecord

import services.forwarder.__main__ as program
from services.forwarder.upstream import Endpoint, parse_endpoint
from tests.unit.forwarder.fakeupstream import FakeUpstream, positive
from tests.unit.udpclient import udp_exchange

ROOT_DIR = Path(__file__).resolve().parents[3]
DEADLINE = 5.0


def test_endpoints_with_and_without_port() -> None:
    """ADDR, ADDR:PORT, bare IPv6 and [IPv6]:PORT parse; a name or a bad port do not."""
    assert parse_endpoint("198.18.0.1") == Endpoint("198.18.0.1", 53)
    assert parse_endpoint("127.0.0.1:5353") == Endpoint("127.0.0.1", 5353)
    assert parse_endpoint("::1") == Endpoint("::1", 53)
    assert parse_endpoint("[::1]:5353") == Endpoint("::1", 5353)
    for bad in ("resolver", "127.0.0.1:0", "127.0.0.1:dns", "[::1]x"):
        with pytest.raises(ValueError, match="not"):
            parse_endpoint(bad)


def test_defaults_and_upstream_port() -> None:
    """Defaults: listen 127.0.0.53:53, a day's max TTL, the control socket under /run."""
    args = program.parse_args(["--upstream", "198.18.0.1", "--upstream-port", "5300"])
    assert args.upstream == Endpoint("198.18.0.1", 5300)
    assert (args.listen, args.port, args.max_ttl) == (["127.0.0.53"], 53, 86400)
    assert args.control_socket == "/run/weblab-forwarder.sock"
    two = program.parse_args(["--upstream-file", "/run/x", "--listen", "a", "--listen", "b"])
    assert two.listen == ["a", "b"]


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--upstream", "198.18.0.1", "--upstream-file", "/run/x"],
        ["--upstream", "resolver.isp"],
        ["--upstream", "198.18.0.1", "--max-ttl", "-1"],
        ["--upstream", "198.18.0.1", "--timeout", "0"],
    ],
)
def test_usage_errors_exit_2(argv: list[str]) -> None:
    """No upstream, both kinds, a name instead of an address, bad numbers: exit 2."""
    with pytest.raises(SystemExit) as exit_:
        program.parse_args(argv)
    assert exit_.value.code == 2


@pytest.fixture
def taken_port() -> Iterator[int]:
    # TCP, not UDP: uvloop leaks its transport when a UDP bind fails (a ResourceWarning).
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_a_port_in_use_is_forwarder_bind_error_and_exit_1(
    taken_port: int, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A port another socket holds: forwarder_bind_error naming the address and port, exit 1."""
    monkeypatch.setattr(program, "setup", lambda name: None)
    caplog.set_level(logging.INFO, logger="services.forwarder")
    argv = ["--upstream", "127.0.0.1", "--listen", "127.0.0.1", "--control-socket", ""]
    assert program.main([*argv, "--port", str(taken_port)]) == 1
    [line] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert line.event == "forwarder_bind_error"  # type: ignore[attr-defined]
    assert (line.listen, line.port) == ("127.0.0.1", taken_port)  # type: ignore[attr-defined]


async def run(*argv: str) -> tuple[int | None, bytes]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *argv, cwd=ROOT_DIR, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(proc.communicate(), DEADLINE)
    return proc.returncode, out


async def test_command_line_serves_logs_json_and_stops(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    """`python -m services.forwarder --name stub ...` answers, ctl dumps it, SIGTERM exits 0."""
    upstream.records["www.example.com."] = positive((300, "192.0.2.80"))
    sock = str(tmp_path / "stub.sock")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.forwarder",
        "--upstream",
        f"127.0.0.1:{upstream.port}",
        "--listen",
        "127.0.0.1",
        "--port",
        "0",
        "--name",
        "stub",
        "--control-socket",
        sock,
        cwd=ROOT_DIR,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    try:
        started = json.loads(await asyncio.wait_for(proc.stdout.readline(), DEADLINE))
        assert (started["event"], started["service"], started["layer"]) == (
            "forwarder_started",
            "stub",
            "stub",
        )
        port = int(started["listen"][0].rsplit(":", 1)[1])
        for _ in range(2):
            reply = DNSRecord.parse(
                await udp_exchange(port, DNSRecord.question("www.example.com").pack())
            )
            assert [str(rr.rdata) for rr in reply.rr] == ["192.0.2.80"]
        miss = json.loads(await asyncio.wait_for(proc.stdout.readline(), DEADLINE))
        hit = json.loads(await asyncio.wait_for(proc.stdout.readline(), DEADLINE))
        assert (miss["event"], miss["cache"], hit["cache"]) == ("forwarder_query", "miss", "hit")
        code, out = await run("-m", "services.forwarder.ctl", "--socket", sock, "dump", "--json")
        assert code == 0
        dumped = json.loads(out)
        assert (dumped["layer"], dumped["entries"][0]["hits"]) == ("stub", 1)
        assert upstream.queries == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), DEADLINE) == 0

"""The command line's start-up failures: exit 1 with the server's own event names."""

import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

import services.dns.__main__ as program

from .test_wire_rules import ZONES


@pytest.fixture
def records(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> pytest.LogCaptureFixture:
    # setup() would send the logs to stdout instead of caplog; the JSON format is tested elsewhere.
    monkeypatch.setattr(program, "setup", lambda name: None)
    caplog.set_level(logging.INFO, logger="services.dns")
    return caplog


@pytest.fixture
def taken_port() -> Iterator[int]:
    # TCP, not UDP: uvloop leaks its transport when a UDP bind fails (a ResourceWarning).
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_a_bad_zone_file_is_dns_zone_error_and_exit_1(
    tmp_path: Path, records: pytest.LogCaptureFixture
) -> None:
    """A zone file that does not load stops the server: dns_zone_error with file:line, exit 1."""
    bad = tmp_path / "bad.zone"
    bad.write_text("example.com. 60 IN A 192.0.2.1\n")
    assert program.main(["--zone", str(bad), "--port", "0"]) == 1
    [line] = [r for r in records.records if r.levelno == logging.ERROR]
    assert line.event == "dns_zone_error"  # type: ignore[attr-defined]
    assert line.error.startswith(f"{bad}:")  # type: ignore[attr-defined]


def test_a_port_in_use_is_dns_bind_error_and_exit_1(
    taken_port: int, records: pytest.LogCaptureFixture
) -> None:
    """A port another socket listens on: dns_bind_error naming the address and port, exit 1."""
    argv = ["--zone", str(ZONES / "example.com.zone"), "--listen", "127.0.0.1"]
    assert program.main([*argv, "--port", str(taken_port)]) == 1
    [line] = [r for r in records.records if r.levelno == logging.ERROR]
    assert line.event == "dns_bind_error"  # type: ignore[attr-defined]
    assert (line.listen, line.port) == ("127.0.0.1", taken_port)  # type: ignore[attr-defined]


def test_net_comes_from_lab_net_and_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    """--net defaults to LAB_NET (compose sets it); a malformed prefix is a usage error, exit 2."""
    zone = str(ZONES / "root.zone")
    monkeypatch.delenv("LAB_NET", raising=False)
    assert program.parse_args(["--zone", zone]).net is None
    monkeypatch.setenv("LAB_NET", "198.19.7")
    args = program.parse_args(["--zone", zone])
    assert args.net == "198.19.7"
    served = program.load_zones(args.zone, args.net).zones["."]
    assert {str(r.rdata) for r in served.rrsets[("a.root-servers.net.", 1)]} == {"198.19.7.4"}
    with pytest.raises(SystemExit) as e:
        program.parse_args(["--zone", zone, "--net", "198.19.7.0/24"])
    assert e.value.code == 2

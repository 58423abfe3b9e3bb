"""Start-up shared by both DNS servers: load, serve, and exit 0 or 1 with one log line."""

import errno
import logging

import pytest

from services.dnscore.masterfile import ZoneFileError
from services.dnscore.program import StartupEvents, load_and_serve

LOGGER = logging.getLogger("tests.dnscore.program")
EVENTS = StartupEvents(
    load_error="t_load_error", load_message="bad data", bind_error="t_bind_error"
)


def events(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == LOGGER.name]


def test_loaded_data_is_served_and_a_clean_stop_exits_0(caplog: pytest.LogCaptureFixture) -> None:
    """serve() gets what load() returned; when it returns, the status is 0 and nothing is logged."""
    served: list[str] = []

    async def serve(data: str) -> None:
        served.append(data)

    status = load_and_serve(LOGGER, EVENTS, lambda: "zones", serve, "127.0.0.1", 53)
    assert status == 0
    assert served == ["zones"]
    assert events(caplog) == []


def test_bad_data_logs_the_load_event_exits_1_and_never_serves(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A ZoneFileError from load() is one error line with the program's event; serve never runs."""
    served: list[object] = []

    def load() -> str:
        raise ZoneFileError("root.zone", 3, "no SOA")

    async def serve(data: str) -> None:
        served.append(data)

    status = load_and_serve(LOGGER, EVENTS, load, serve, "127.0.0.1", 53)
    assert status == 1
    assert served == []
    [line] = events(caplog)
    assert line.levelno == logging.ERROR
    assert line.getMessage() == "bad data"
    assert line.event == "t_load_error"  # type: ignore[attr-defined]
    assert line.error == "root.zone:3: no SOA"  # type: ignore[attr-defined]


def test_a_port_that_cannot_be_bound_logs_the_bind_event_and_exits_1(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An OSError from serving is one "cannot listen" line with the error, address and port."""

    async def serve(data: str) -> None:
        raise OSError(errno.EADDRINUSE, "Address already in use")

    status = load_and_serve(LOGGER, EVENTS, lambda: "zones", serve, "192.0.2.53", 5353)
    assert status == 1
    [line] = events(caplog)
    assert line.getMessage() == "cannot listen"
    assert line.event == "t_bind_error"  # type: ignore[attr-defined]
    assert line.error == "[Errno 98] Address already in use"  # type: ignore[attr-defined]
    assert (line.listen, line.port) == ("192.0.2.53", 5353)  # type: ignore[attr-defined]


def test_other_load_failures_are_not_reported_as_bad_data() -> None:
    """Only ZoneFileError means bad data; any other exception from load() propagates."""

    def load() -> str:
        raise RuntimeError("a bug, not a bad file")

    async def serve(data: str) -> None:
        raise AssertionError("not reached")

    with pytest.raises(RuntimeError, match="a bug"):
        load_and_serve(LOGGER, EVENTS, load, serve, "127.0.0.1", 53)

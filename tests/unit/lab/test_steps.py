"""lab.scenario.steps: the pure parts of a step (the timeline lines `lab run` prints for
the browse client's events, addresses for connect_to, the run token in arguments)."""

from __future__ import annotations

from typing import Any

import pytest

from lab.scenario.spec import Step
from lab.scenario.steps import _address, _event_line, _with_run_token

EVENT_LINES = [
    pytest.param(
        {"event": "dns.query", "name": "www.example.com", "server": "198.51.100.53"},
        "DNS   ? www.example.com A  (asking 198.51.100.53)",
        id="dns-query",
    ),
    pytest.param(
        {
            "event": "dns.answer",
            "name": "www.example.com",
            "rcode": "NOERROR",
            "ms": 12.345,
            "chain": ["www.example.com CNAME edge.edgecdn.net"],
            "addresses": ["198.51.100.80"],
        },
        "DNS   = www.example.com -> 198.51.100.80  NOERROR 12.3 ms"
        "  via www.example.com CNAME edge.edgecdn.net",
        id="dns-answer-cname-chain",
    ),
    pytest.param(
        {
            "event": "dns.answer",
            "name": "a.example.com",
            "rcode": "NOERROR",
            "ms": 1.0,
            "chain": [],
            "addresses": ["198.51.100.90", "198.51.100.92"],
        },
        "DNS   = a.example.com -> 198.51.100.90, 198.51.100.92  NOERROR 1.0 ms",
        id="dns-answer-two-addresses-no-chain",
    ),
    pytest.param(
        {
            "event": "dns.answer",
            "name": "nope.example.com",
            "rcode": "NXDOMAIN",
            "ms": 3.06,
            "chain": None,
            "addresses": [],
        },
        "DNS   = nope.example.com -> -  NXDOMAIN 3.1 ms",
        id="dns-answer-no-address",
    ),
    pytest.param(
        {
            "event": "tcp.connected",
            "host": "www.example.com",
            "address": "198.51.100.80",
            "port": 443,
            "ms": 0.44,
        },
        "TCP   connected to 198.51.100.80:443 (www.example.com) 0.4 ms",
        id="tcp-connected",
    ),
    pytest.param(
        {
            "event": "tls.established",
            "host": "www.example.com",
            "version": "TLSv1.3",
            "cipher": "TLS_AES_256_GCM_SHA384",
            "alpn": "http/1.1",
            "ms": 5.55,
            "resumed": False,
        },
        "TLS   TLSv1.3 TLS_AES_256_GCM_SHA384 alpn=http/1.1 with www.example.com 5.5 ms",
        id="tls-established",
    ),
    pytest.param(
        {
            "event": "http.done",
            "url": "https://static.example.com/css/site.css",
            "status": 200,
            "bytes": 1234,
            "cache": "HIT",
            "error": "",
        },
        "HTTP  200 https://static.example.com/css/site.css  1234 B  cache=HIT",
        id="http-done-hit",
    ),
    pytest.param(
        {
            "event": "http.done",
            "url": "https://www.example.com/",
            "status": 200,
            "bytes": 0,
            "cache": None,
            "error": None,
        },
        "HTTP  200 https://www.example.com/  0 B  cache=-",
        id="http-done-no-cache-status",
    ),
    pytest.param(
        {
            "event": "http.done",
            "url": "https://www.example.com/",
            "status": 0,
            "bytes": 0,
            "error": "connection refused",
        },
        "HTTP  --- https://www.example.com/  0 B  cache=-  ERROR connection refused",
        id="http-done-no-status-error",
    ),
]


@pytest.mark.parametrize(("event", "line"), EVENT_LINES)
def test_event_line_text(event: dict[str, Any], line: str) -> None:
    """Each client event the timeline shows becomes exactly this one line."""
    assert _event_line(event) == line


@pytest.mark.parametrize(
    "event",
    [
        pytest.param({"event": "visit.start", "visit": 1}, id="unknown-event"),
        pytest.param({"name": "www.example.com"}, id="no-event-key"),
        pytest.param({}, id="empty"),
    ],
)
def test_event_line_skips_other_events(event: dict[str, Any]) -> None:
    """Events the timeline does not show give no line (None), not an error."""
    assert _event_line(event) is None


@pytest.mark.parametrize(
    ("target", "address"),
    [
        pytest.param("badcert:8441", "198.51.100.95:8441", id="service-name"),
        pytest.param("edge:443", "198.51.100.80:443", id="another-service"),
        pytest.param("198.51.100.90:443", "198.51.100.90:443", id="address-kept"),
        pytest.param("elsewhere.test:8443", "elsewhere.test:8443", id="unknown-name-kept"),
    ],
)
def test_address_resolves_lab_service_names(target: str, address: str) -> None:
    """connect_to takes a lab service name to its fixed address; anything else is kept."""
    assert _address(target) == address


def test_run_token_replaced_everywhere_in_arguments() -> None:
    """``$run`` becomes the token in every argument, nested ones too; kind and line kept."""
    step = Step(
        "fetch",
        {
            "url": "https://api.example.com/api/users/u$run",
            "json": {"username": "u$run", "tags": ["$run", "fixed"]},
            "retries": 2,
        },
        line=7,
    )
    assert _with_run_token(step, "20240102-030405") == Step(
        "fetch",
        {
            "url": "https://api.example.com/api/users/u20240102-030405",
            "json": {"username": "u20240102-030405", "tags": ["20240102-030405", "fixed"]},
            "retries": 2,
        },
        line=7,
    )


def test_run_token_leaves_the_scenario_step_unchanged() -> None:
    """The loaded step keeps ``$run``: the next run of the scenario gets its own token."""
    step = Step("fetch", {"json": {"username": "u$run"}}, line=3)
    _with_run_token(step, "tok")
    assert step.args == {"json": {"username": "u$run"}}

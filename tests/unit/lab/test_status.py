"""lab status from docker inspect-shaped State objects (lab/status.py), no Docker."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lab.cli import _print_plan
from lab.compose import status_json
from lab.status import ServiceStatus, hints, service_status
from lab.topology import HOSTS

API = next(h for h in HOSTS if h.service == "api")
CLIENT = next(h for h in HOSTS if h.service == "client")


def inspect(status: str, exit_code: int = 0, health: str | None = None, **flags: bool) -> Any:
    """The part of `docker inspect` lab status reads, shaped as Docker 24-27 sends it."""
    state: dict[str, Any] = {
        "Status": status,
        "Running": status == "running",
        "Paused": status == "paused",
        "Restarting": status == "restarting",
        "OOMKilled": False,
        "Dead": status == "dead",
        "Pid": 4242 if status == "running" else 0,
        "ExitCode": exit_code,
        "Error": "",
        "StartedAt": "2026-01-01T10:00:00.000000000Z",
        "FinishedAt": "0001-01-01T00:00:00Z",
        **{k.capitalize(): v for k, v in flags.items()},
    }
    if health is not None:
        state["Health"] = {"Status": health, "FailingStreak": 0, "Log": []}
    return {"Id": "c0ffee", "State": state, "Config": {"Labels": {}}}


def test_killed_container_shows_exit_code_not_stale_health() -> None:
    """A killed API (exit 137, last probe unhealthy) is 'exited (137)', not 'unhealthy'."""
    s = service_status(API, inspect("exited", 137, health="unhealthy"))
    assert (s.state, s.health, s.exit_code) == ("exited", "-", 137)
    assert s.condition == "exited (137)"
    assert not s.ok


@pytest.mark.parametrize(
    ("container", "condition", "ok"),
    [
        (inspect("running", health="healthy"), "healthy", True),
        (inspect("running", health="unhealthy"), "unhealthy", False),
        (inspect("running", health="starting"), "starting", False),
        (inspect("running"), "running", True),  # no health check (the client)
        (inspect("exited", 0, health="healthy"), "exited (0)", False),
        (inspect("restarting", 1, health="unhealthy"), "restarting", False),
        (inspect("paused", health="healthy"), "paused", False),
        (inspect("created"), "created", False),
        (inspect("dead", 255), "dead (255)", False),
        (None, "absent", False),
    ],
)
def test_docker_state_words(container: Any, condition: str, ok: bool) -> None:
    """Each Docker state gives its own word; health counts only while running."""
    s = service_status(API, container)
    assert (s.condition, s.ok) == (condition, ok)


def test_restarting_flag_wins_over_a_stale_status() -> None:
    """State.Restarting (set alone by older engines) reads as restarting."""
    assert service_status(API, inspect("running", restarting=True)).condition == "restarting"


def test_hint_says_lab_up_restarts_stopped_services() -> None:
    """Stopped and absent services are named with their state and `lab up` as the fix."""
    statuses = [
        service_status(API, inspect("exited", 137, health="unhealthy")),
        service_status(CLIENT, None),
    ]
    assert hints(statuses) == [
        "not running: api (exited (137)), client (absent); `lab up` restarts stopped services"
    ]


def test_hints_for_restarting_paused_unhealthy_and_none_when_fine() -> None:
    """Restarting and unhealthy services point at the logs, a paused one at unpause."""
    assert hints([service_status(API, inspect("running", health="healthy"))]) == []
    (restarting,) = hints([service_status(API, inspect("restarting", 1))])
    assert restarting.startswith("restarting: api (restarting);")
    assert "lab logs" in restarting
    assert hints([service_status(API, inspect("paused"))]) == [
        "paused: api; `docker unpause` resumes it"
    ]
    (sick,) = hints([service_status(API, inspect("running", health="unhealthy"))])
    assert sick == "running but not healthy: api (unhealthy); `lab logs SERVICE` shows why"


def test_table_shows_state_column(capsys: pytest.CaptureFixture[str]) -> None:
    """The status table's state column says 'exited (137)' for the killed API."""
    _print_plan([service_status(API, inspect("exited", 137, health="unhealthy"))])
    head, row = capsys.readouterr().out.strip().splitlines()
    assert head.split()[:4] == ["service", "address", "name", "state"]
    assert row.split()[3:5] == ["exited", "(137)"]


def test_json_carries_condition_and_exit_code() -> None:
    """lab status --json: Docker's state, health, exit code and the word shown."""
    status = service_status(API, inspect("exited", 137))
    (entry,) = json.loads(status_json([status]))
    assert (entry["state"], entry["exit_code"]) == ("exited", 137)
    assert entry["condition"] == "exited (137)"
    assert ServiceStatus(**{k: v for k, v in entry.items() if k != "condition"}) == status

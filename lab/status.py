"""What `lab status` says about a service, from `docker inspect`'s State, no Docker here.

Docker's State holds the container's lifecycle word (Status: created,
running, paused, restarting, exited, dead), its ExitCode, and Health when the
image has a health check. Health is the last probe's verdict and Docker keeps
it after the container stops, so a killed API container still reads
"unhealthy" (or even "healthy"); it says something only while the container
runs. So a service is shown by its lifecycle word, with the exit code once it
has exited (`exited (137)`, as `docker ps` shows), and by its health only
while it runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lab.topology import Host

ABSENT = "absent"  # no container at all (never created, or removed by `lab down`)
NO_HEALTH = "-"  # no health check, or not running (see the module docstring)


@dataclass
class ServiceStatus:
    """One service of the lab as Docker reports it."""

    name: str
    role: str
    ipv4: str
    dns_name: str
    state: str  # Docker's State.Status (running, exited, restarting, ...), or "absent"
    health: str  # State.Health.Status while running, else "-"
    exit_code: int | None = None  # State.ExitCode once the container has exited

    @property
    def condition(self) -> str:
        """The word `lab status` shows: health while running, else the state."""
        if self.state == "running":
            return self.health if self.health != NO_HEALTH else "running"
        if self.state in ("exited", "dead") and self.exit_code is not None:
            return f"{self.state} ({self.exit_code})"
        return self.state

    @property
    def ok(self) -> bool:
        """Running, and healthy if it has a health check."""
        return self.state == "running" and self.health in ("healthy", NO_HEALTH)


def service_status(host: Host, container: Mapping[str, Any] | None) -> ServiceStatus:
    """A service's status from its `docker inspect` object (None: no container)."""
    if container is None:
        return ServiceStatus(host.service, host.role, host.ipv4, host.dns_name, ABSENT, NO_HEALTH)
    state: Mapping[str, Any] = container.get("State") or {}
    status = str(state.get("Status") or "?")
    if state.get("Restarting"):
        status = "restarting"  # Status says so too; older engines set only the flag
    elif state.get("Paused"):
        status = "paused"
    health = NO_HEALTH
    if status == "running":
        health = str((state.get("Health") or {}).get("Status") or NO_HEALTH)
    exit_code = state.get("ExitCode")
    return ServiceStatus(
        host.service,
        host.role,
        host.ipv4,
        host.dns_name,
        status,
        health,
        int(exit_code) if status in ("exited", "dead") and exit_code is not None else None,
    )


def hints(statuses: Sequence[ServiceStatus]) -> list[str]:
    """What to do about the services that are not fine, one line each (none when all are)."""

    def listed(group: list[ServiceStatus]) -> str:
        return ", ".join(f"{s.name} ({s.condition})" for s in group)

    stopped = [s for s in statuses if s.state not in ("running", "restarting", "paused")]
    restarting = [s for s in statuses if s.state == "restarting"]
    paused = [s for s in statuses if s.state == "paused"]
    sick = [s for s in statuses if s.state == "running" and not s.ok]
    lines = []
    if stopped:
        lines.append(f"not running: {listed(stopped)}; `lab up` restarts stopped services")
    if restarting:
        lines.append(
            f"restarting: {listed(restarting)}; Docker is restarting it after it stopped, "
            "`lab logs SERVICE` shows why it stops"
        )
    if paused:
        lines.append(f"paused: {', '.join(s.name for s in paused)}; `docker unpause` resumes it")
    if sick:
        lines.append(f"running but not healthy: {listed(sick)}; `lab logs SERVICE` shows why")
    return lines

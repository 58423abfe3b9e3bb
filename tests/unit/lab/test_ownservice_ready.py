"""A user's service that does not start is one message: file:line, Docker's word, its logs."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from lab import topology
from lab.errors import LabError
from lab.ownservice import generate, ready, spec
from lab.status import ServiceStatus

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "own-service" / "weblab.yaml"


class FakeLab:
    """What ready.py asks of a Lab: statuses, compose logs, exec in the client."""

    def __init__(self, states: dict[str, str], probe_rc: int = 0) -> None:
        own = spec.load(EXAMPLE)
        base = topology.plan("198.19.4.0/24")
        self.plan = base.with_hosts(generate.hosts(own, base))
        self.states = states
        self.probe_rc = probe_rc
        self.asked: list[tuple[str, ...]] = []

    def status(self) -> list[ServiceStatus]:
        return [
            ServiceStatus(
                h.service,
                h.role,
                h.ipv4,
                h.dns_name,
                self.states.get(h.service, "running"),
                "-",
                3 if self.states.get(h.service) == "exited" else None,
            )
            for h in self.plan.hosts
        ]

    def compose(self, *args: str, **_kw: Any) -> subprocess.CompletedProcess[str]:
        self.asked.append(args)
        return subprocess.CompletedProcess(args, 0, "line one\nboom: no certificate\n", "")

    def exec(self, service: str, *cmd: str, **_kw: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(cmd, self.probe_rc, "", "[Errno 111] refused")


def test_an_exited_service_names_its_line_state_and_logs() -> None:
    """direct.example.com exited (3): its line in weblab.yaml, the state, its last log lines."""
    lab = FakeLab({"direct": "exited"})
    with pytest.raises(LabError) as e:
        ready.explain(lab, spec.load(EXAMPLE))  # type: ignore[arg-type]
    text = str(e.value)
    assert text.startswith(f"{EXAMPLE}:10: direct.example.com did not start (exited (3))")
    assert "boom: no certificate" in text
    assert ("logs", "--no-color", "--no-log-prefix", "--tail", "12", "direct") in lab.asked


def test_all_fine_is_silent() -> None:
    """explain() says nothing when every user service runs (the lab's own failure stands)."""
    ready.explain(FakeLab({}), spec.load(EXAMPLE))  # type: ignore[arg-type]


def test_running_but_not_listening_is_told_with_the_address() -> None:
    """A container that runs but accepts no TCP on its port: address, port, the probe's error."""
    with pytest.raises(LabError) as e:
        ready.wait_listening(FakeLab({}, probe_rc=1), spec.load(EXAMPLE), timeout=1)  # type: ignore[arg-type]
    text = str(e.value)
    assert (
        f"{EXAMPLE}:5: shop.example.com runs but nothing accepts TCP on 198.19.4.200:8443" in text
    )
    assert "refused" in text


def test_a_healthcheck_goes_into_the_override(tmp_path: Path) -> None:
    """A shell-line healthcheck becomes CMD-SHELL; `up --wait` then waits for it."""
    (tmp_path / "Dockerfile").write_text("FROM weblab/lab:latest\n")
    path = tmp_path / "weblab.yaml"
    path.write_text(
        "services:\n  shop.example.com:\n    build: .\n    port: 8443\n"
        "    healthcheck: curl -fsk https://127.0.0.1:8443/healthz\n"
    )
    doc = generate.override(spec.load(path), topology.DEFAULT_PLAN, tmp_path / "own", tmp_path)
    check = doc["services"]["shop"]["healthcheck"]
    assert check["test"] == ["CMD-SHELL", "curl -fsk https://127.0.0.1:8443/healthz"]

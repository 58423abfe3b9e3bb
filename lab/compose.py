"""Start, inspect and stop one lab: a Compose project on the host's Docker.

Everything the lab creates carries the Compose project label, so ``down``
removes exactly the lab's containers and networks and nothing else.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from lab import topology
from lab.errors import LabError
from lab.status import ServiceStatus, service_status

ROOT = Path(__file__).resolve().parent.parent
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"


class Lab:
    """One lab instance, named by its Compose project."""

    def __init__(self, project: str | None = None, root: Path = ROOT) -> None:
        self.project: str = project or os.environ.get("LAB_PROJECT") or "weblab"
        self.image: str = os.environ.get("LAB_IMAGE", "weblab/lab:latest")
        self.root = root

    # -- compose ---------------------------------------------------------
    def compose(
        self, *args: str, check: bool = True, capture: bool = False, timeout: float | None = None
    ) -> subprocess.CompletedProcess[str]:
        cmd = [
            "docker",
            "compose",
            "-p",
            self.project,
            "-f",
            str(self.root / "compose.yaml"),
            *args,
        ]
        r = subprocess.run(
            cmd, cwd=self.root, text=True, timeout=timeout, capture_output=capture, check=False
        )
        if check and r.returncode != 0:
            detail = (r.stderr or "").strip() if capture else ""
            raise LabError(f"`{' '.join(cmd[2:])}` failed (exit {r.returncode}). {detail}")
        return r

    def _docker_json(self, *args: str) -> Any:
        r = subprocess.run(["docker", *args], capture_output=True, text=True, check=False)
        if r.returncode != 0:
            raise LabError(f"docker {' '.join(args)}: {r.stderr.strip()}")
        return json.loads(r.stdout or "null")

    # -- preflight -------------------------------------------------------
    def check_subnet_free(self) -> None:
        """Refuse to start if another network or route already uses the lab's subnet."""
        ours = ipaddress.ip_network(topology.SUBNET)
        ids = subprocess.run(
            ["docker", "network", "ls", "-q"], capture_output=True, text=True, check=False
        ).stdout.split()
        if ids:
            for net in self._docker_json("network", "inspect", *ids):
                if (net.get("Labels") or {}).get(PROJECT_LABEL) == self.project:
                    continue
                for cfg in (net.get("IPAM") or {}).get("Config") or []:
                    subnet = cfg.get("Subnet")
                    if subnet and ipaddress.ip_network(subnet, strict=False).overlaps(ours):
                        raise LabError(
                            f"subnet {ours} is already used by Docker network {net['Name']!r}"
                            f" ({subnet}). Remove it (docker network rm {net['Name']}) or stop"
                            " the other lab (LAB_PROJECT=<its name> lab down)."
                        )
        routes = subprocess.run(["ip", "-j", "route"], capture_output=True, text=True, check=False)
        if routes.returncode == 0:
            for route in json.loads(routes.stdout):
                dst = route.get("dst", "")
                if dst in ("default", "") or route.get("dev", "").startswith("br-"):
                    continue
                if ipaddress.ip_network(dst, strict=False).overlaps(ours):
                    raise LabError(
                        f"the host already routes {dst} via {route.get('dev')}, "
                        f"which overlaps the lab's {ours}; the lab cannot start here"
                    )

    # -- lifecycle -------------------------------------------------------
    def up(self) -> list[ServiceStatus]:
        (self.root / "runs" / "keylog").mkdir(parents=True, exist_ok=True)
        if not self.running():
            self.check_subnet_free()
        r = self.compose("up", "-d", "--wait", "--wait-timeout", "180", check=False)
        if r.returncode != 0:
            bad = [s for s in self.status() if not s.ok]
            names = ", ".join(f"{s.name} ({s.condition})" for s in bad) or "unknown"
            raise LabError(
                f"the lab did not become healthy: {names}. Its containers are left running "
                f"so you can look: `lab logs SERVICE`; `lab down` removes them."
            )
        return self.status()

    def down(self, volumes: bool = False) -> None:
        args = ["down", "--remove-orphans", "--timeout", "5"]
        if volumes:
            args.append("--volumes")
        self.compose(*args)

    def running(self) -> bool:
        return any(s.state == "running" for s in self.status())

    def status(self) -> list[ServiceStatus]:
        ids = subprocess.run(
            ["docker", "ps", "-aq", "--filter", f"label={PROJECT_LABEL}={self.project}"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.split()
        found: dict[str, dict[str, Any]] = {}
        if ids:
            for c in self._docker_json("inspect", *ids):
                found[c["Config"]["Labels"].get(SERVICE_LABEL, "?")] = c
        return [service_status(host, found.get(host.service)) for host in topology.HOSTS]

    def container_id(self, service: str) -> str:
        ids = subprocess.run(
            [
                "docker",
                "ps",
                "-q",
                "--filter",
                f"label={PROJECT_LABEL}={self.project}",
                "--filter",
                f"label={SERVICE_LABEL}={service}",
            ],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.split()
        if not ids:
            raise LabError(f"service {service!r} is not running; start the lab with `make up`")
        return ids[0]

    def bridge(self) -> str:
        """The host-side bridge interface of the lab network (what the capture listens on)."""
        name = f"{self.project}_internet"
        info = self._docker_json("network", "inspect", name)[0]
        custom = (info.get("Options") or {}).get("com.docker.network.bridge.name")
        return str(custom or "br-" + info["Id"][:12])

    def exec(
        self, service: str, *cmd: str, check: bool = False, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run a command in a service's container; output captured as text."""
        r = subprocess.run(
            ["docker", "exec", self.container_id(service), *cmd],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and r.returncode != 0:
            raise LabError(
                f"{service}: `{' '.join(cmd)}` failed ({r.returncode}): "
                f"{r.stderr.strip() or r.stdout.strip()}"
            )
        return r

    def restart(self, service: str, timeout: float = 60) -> None:
        """Restart one service and wait until its health check passes again."""
        cid = self.container_id(service)
        subprocess.run(["docker", "restart", "-t", "2", cid], check=True, capture_output=True)
        self.wait_healthy(service, timeout)

    def wait_healthy(self, service: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = next(s for s in self.status() if s.name == service)
            if state.ok:
                return
            time.sleep(0.3)
        raise LabError(f"{service} did not become healthy within {timeout:.0f} s")


def status_json(statuses: list[ServiceStatus]) -> str:
    """The statuses for `lab status --json`, each with the word the table shows."""
    return json.dumps([{**asdict(s), "condition": s.condition} for s in statuses], indent=2)

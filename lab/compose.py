"""Start, inspect and stop one lab: a Compose project on the host's Docker.

Everything the lab creates carries the Compose project label, so ``down``
removes exactly the lab's containers and networks and nothing else. Each lab
also has a /24 of its own (lab/subnets.py): every `docker compose` call gets
the project and that subnet's prefix as LAB_PROJECT and LAB_NET, which
compose.yaml interpolates into the addresses, the network and the services.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import os
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lab import composefile, subnets, topology
from lab.errors import LabError, UsageError
from lab.status import ServiceStatus, service_status

if TYPE_CHECKING:
    from lab.ownservice.spec import OwnFile

ROOT = Path(__file__).resolve().parent.parent
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"


# Docker's refusal of a second network whose pool overlaps one it has
# ("Pool overlaps with other one on this address space").
_OVERLAP = "overlaps"
# Serialises the choice of a subnet between labs started at the same moment on
# this machine (pytest-xdist workers), from any checkout: the choice and the
# network's creation happen under it.
LOCK = Path(tempfile.gettempdir()) / "weblab-subnets.lock"


class Lab:
    """One lab instance, named by its Compose project, in the /24 its plan gives.

    The subnet is SUBNET if given, else the one `lab up` remembered for the
    project, else ``LAB_SUBNET``, else the documentation plan's; ``up`` may
    move a lab that is not running to a free /24 (lab/subnets.py)."""

    def __init__(self, project: str | None = None, root: Path = ROOT,
                 subnet: str | None = None) -> None:  # fmt: skip
        self.project: str = project or os.environ.get("LAB_PROJECT") or "weblab"
        self.image: str = os.environ.get("LAB_IMAGE", "weblab/lab:latest")
        self.root = root
        asked = subnet or os.environ.get(subnets.ENV, "").strip()
        try:
            self.wanted: str | None = topology.check_subnet(asked) if asked else None
        except ValueError as e:
            raise UsageError(f"{subnets.ENV}: {e}") from e
        # A lab that is up keeps the subnet it was started in, whatever LAB_SUBNET says now.
        here = subnets.remembered(root, self.project)
        given = self.wanted if subnet else None
        self.plan: topology.Plan = topology.plan(given or here or self.wanted or topology.SUBNET)
        self.created = False  # by create(): subnet chosen, network and containers made
        # A user's own services (`lab up --with weblab.yaml`, lab/ownservice): a Compose
        # override, and their hosts in the plan, until `lab down`.
        self.override: Path | None = None
        self._own_hosts()

    def _own_hosts(self) -> None:
        from lab.ownservice import generate

        base = topology.plan(self.plan.subnet)
        self.override, extra = generate.remembered(self.root, self.project, base)
        self.plan = base.with_hosts(extra)

    def attach(self, own: OwnFile, say: Callable[[str], None]) -> None:
        """Add a user's own services (a loaded weblab.yaml) to this lab's next `up`."""
        from lab.ownservice import generate

        generate.write(own, topology.plan(self.plan.subnet), self.root, self.project, say)
        self._own_hosts()

    def detach(self) -> None:
        """Forget the user's services this (stopped) lab had; attach() adds them again."""
        from lab.ownservice import generate

        generate.forget(self.root, self.project)
        self._own_hosts()

    def compose_env(self) -> dict[str, str]:
        """The variables compose.yaml interpolates for this lab (on top of the caller's)."""
        return composefile.lab_variables(self.project, self.plan)

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
            *(["-f", str(self.override)] if self.override else []),
            *args,
        ]
        r = subprocess.run(
            cmd,
            cwd=self.root,
            env={**os.environ, **self.compose_env()},
            text=True,
            timeout=timeout,
            capture_output=capture,
            check=False,
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
    def subnets_taken(self) -> list[subnets.Taken]:
        """What other Docker networks (other labs' included) and host routes use."""
        ids = subprocess.run(
            ["docker", "network", "ls", "-q"], capture_output=True, text=True, check=False
        ).stdout.split()
        networks = self._docker_json("network", "inspect", *ids) if ids else []
        r = subprocess.run(["ip", "-j", "route"], capture_output=True, text=True, check=False)
        routes = json.loads(r.stdout or "[]") if r.returncode == 0 else []
        return subnets.taken(networks, routes, self.project) + subnets.registries()

    def check_subnet_free(self) -> None:
        """Refuse to start if another network or route already uses the lab's subnet."""
        clash = subnets.conflict(self.plan.subnet, self.subnets_taken())
        if clash:
            raise LabError(
                f"subnet {self.plan.subnet} is already used by {clash.by} ({clash.subnet}). "
                f"Stop the other lab (LAB_PROJECT=<its name> lab down), or leave "
                f"{subnets.ENV} unset and `lab up` picks a free /24."
            )

    def choose_subnet(self, also_taken: list[subnets.Taken] | None = None) -> None:
        """Move this (stopped) lab to the subnet it should start in, and remember it."""
        used = self.subnets_taken() + (also_taken or [])
        preferred = subnets.remembered(self.root, self.project) or topology.SUBNET
        try:
            chosen = subnets.choose(used, self.wanted, preferred)
        except ValueError as e:
            raise LabError(f"{e}; stop the lab that uses it or choose another") from e
        self.plan = topology.plan(chosen)
        subnets.remember(self.root, self.project, chosen)
        self._own_hosts()

    # -- lifecycle -------------------------------------------------------
    def up(self) -> list[ServiceStatus]:
        (self.root / "runs" / "keylog").mkdir(parents=True, exist_ok=True)
        if not self.created and not self.running():
            self.create()
        from lab import bridges

        try:
            bridges.allow(self.bridges().values(), self.project)
        except RuntimeError as e:
            raise LabError(f"{e}; the lab's routers could not forward (lab/bridges.py)") from e
        r = self.compose("up", "-d", "--wait", "--wait-timeout", "180", check=False)
        self.route_own_services()
        if r.returncode != 0:
            bad = [s for s in self.status() if not s.ok]
            names = ", ".join(f"{s.name} ({s.condition})" for s in bad) or "unknown"
            raise LabError(
                f"the lab did not become healthy: {names}. Its containers are left running "
                f"so you can look: `lab logs SERVICE`; `lab down` removes them."
            )
        return self.status()

    def create(self, attempts: int = 5) -> None:
        """Choose a free subnet and create the lab's network and containers in it.

        Two labs choosing at once could pick the same /24; the machine-wide
        lock serialises them, and a pool Docker still calls overlapping (a lab
        started without the lock) moves the lab on to the next free /24."""
        also: list[subnets.Taken] = []
        with _lock():
            for _ in range(attempts):
                self.choose_subnet(also)
                r = self.compose("up", "--no-start", check=False, capture=True)
                if r.returncode == 0:
                    self.created = True
                    return
                if self.wanted or _OVERLAP not in r.stderr:
                    raise LabError(f"`docker compose up --no-start` failed: {r.stderr.strip()}")
                net = ipaddress.IPv4Network(self.plan.subnet)
                also.append(subnets.Taken(net, "a network Docker reported as overlapping"))
        raise LabError(f"no free subnet after {attempts} tries; `docker network ls` shows why")

    def down(self, volumes: bool = False) -> None:
        args = ["down", "--remove-orphans", "--timeout", "5"]
        if volumes:
            args.append("--volumes")
        self.compose(*args)
        from lab import bridges

        bridges.revoke(self.project)
        subnets.forget(self.root, self.project)  # the next `up` chooses again
        from lab.ownservice import generate

        generate.forget(self.root, self.project)  # and runs without them unless --with

    def route_own_services(self) -> None:
        """Give a user's own containers (weblab.yaml) the routes the lab's image gets from its
        entrypoint: the ISP's networks behind the exchange router, so the client's packets
        (from the home's public address) and the resolver's answers find their way back.
        Their image may have no ``ip`` and no NET_ADMIN, so a throw-away container of the
        lab's image with NET_ADMIN sets them in the service's network namespace."""
        via = self.plan.address("ix-router", "internet")
        nets = [self.plan.networks[n] for n in ("isp", "transit")]
        script = "; ".join(f"ip route replace {n} via {via}" for n in nets)
        for host in self.plan.hosts:
            if not host.own:
                continue
            try:
                cid = self.container_id(host.service)
            except LabError:
                continue
            cmd = ["docker", "run", "--rm", "--network", f"container:{cid}", "--cap-add",
                   "NET_ADMIN", "--label", "org.weblab.lab=routes", "--entrypoint", "sh",
                   self.image, "-c", script]  # fmt: skip
            subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=60)

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
        return [service_status(host, found.get(host.service)) for host in self.plan.hosts]

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

    def mac(self, service: str, network: str | None = None) -> str:
        """The MAC address of a service's interface on NETWORK (default: its first)."""
        info = self._docker_json("inspect", self.container_id(service))[0]
        nets = info["NetworkSettings"]["Networks"]
        want = network or self.plan.by_service[service].network
        named = nets.get(f"{self.project}_{want}") or next(iter(nets.values()))
        return str(named["MacAddress"])

    def bridges(self) -> dict[str, str]:
        """The host-side bridge interface of each lab network, by network (the capture
        listens on all of them)."""
        names = [f"{self.project}_{n}" for n in topology.NETWORKS]
        out = {}
        for info in self._docker_json("network", "inspect", *names):
            custom = (info.get("Options") or {}).get("com.docker.network.bridge.name")
            net = str(info["Name"]).removeprefix(f"{self.project}_")
            out[net] = str(custom or "br-" + info["Id"][:12])
        return {n: out[n] for n in topology.NETWORKS if n in out}

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


@contextlib.contextmanager
def _lock(path: Path = LOCK) -> Iterator[None]:
    """Hold the machine-wide subnet lock; without it (another user's file) go on unlocked."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def status_json(statuses: list[ServiceStatus]) -> str:
    """The statuses for `lab status --json`, each with the word the table shows."""
    return json.dumps([{**asdict(s), "condition": s.condition} for s in statuses], indent=2)

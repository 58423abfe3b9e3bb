"""The lab's DNS servers as compose.yaml runs them, started inside a MiniInternet.

compose.yaml is read, not copied: each DNS service's command, bound to the
service's own address (they all share port 53 in the namespace).
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.dnsquery import wait_ready
from harness.netns import MiniInternet
from harness.procs import PYTHON, ROOT
from lab import composefile


@dataclass(frozen=True)
class Service:
    """One DNS service of compose.yaml: its address and its command."""

    name: str
    address: str
    argv: tuple[str, ...]

    def option(self, flag: str) -> str:
        """The value given to ``flag`` in the command ("" if absent)."""
        args = list(self.argv)
        return args[args.index(flag) + 1] if flag in args else ""

    def zones(self) -> list[str]:
        """The --zone files of an authoritative server, as absolute paths."""
        args = list(self.argv)
        return [str(ROOT / args[i + 1]) for i, a in enumerate(args) if a == "--zone"]


def compose_services(compose: Path = ROOT / "compose.yaml") -> dict[str, Service]:
    """The DNS services (services.dns, services.resolver) exactly as compose runs them
    for a lab in the documentation plan (compose.yaml's variables at their defaults)."""
    doc = composefile.load(path=compose)
    found: dict[str, Service] = {}
    for name, spec in doc["services"].items():
        command = spec.get("command") or []
        if len(command) > 2 and command[2] in ("services.dns", "services.resolver"):
            address = next(iter(spec["networks"].values()))["ipv4_address"]
            found[name] = Service(name, address, tuple(command))
    return found


def our_argv(service: Service, tmp: Path) -> list[str]:
    """Compose's command, bound to the service's own address (all share port 53 here).

    The only changes: ``--listen`` (compose binds 0.0.0.0 in a container of
    its own), the venv's Python, the root hints generated into ``tmp`` as the
    image build does, and the resolver's control socket in ``tmp``.
    """
    argv = [PYTHON, *service.argv[1:], "--listen", service.address]
    if service.argv[2] == "services.resolver":
        argv[argv.index("--hints") + 1] = str(root_hints(tmp))
        argv += ["--control-socket", str(tmp / f"{service.name}.sock")]
    return argv


def root_hints(tmp: Path) -> Path:
    """services/zones/root.hints as the image build makes it (generated from root.zone)."""
    path = tmp / "root.hints"
    if not path.exists():
        r = subprocess.run(
            [PYTHON, "-m", "services.resolver.hints", str(ROOT / "services/zones/root.zone")],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=True,
            timeout=30,
        )
        path.write_text(r.stdout)
    return path


def start_ours(
    net: MiniInternet, tmp: Path, names: Sequence[str] | None = None, extra: Sequence[str] = ()
) -> dict[str, subprocess.Popen[bytes]]:
    """Start our servers (all of compose's DNS services by default); wait until each answers."""
    services = compose_services()
    procs: dict[str, subprocess.Popen[bytes]] = {}
    for name in names or list(services):
        service = services[name]
        procs[name] = net.start(
            [*our_argv(service, tmp), *extra], log=tmp / f"{name}.log", cwd=ROOT
        )
    for name, proc in procs.items():
        service = services[name]
        if service.argv[2] == "services.resolver":
            wait_ready(net, service.address, ".", "NS", proc=proc, rd=True)
        else:
            wait_ready(net, service.address, _apex(service), "SOA", proc=proc)
    return procs


def _apex(service: Service) -> str:
    first = Path(service.zones()[0]).name.removesuffix(".zone")
    return "." if first == "root" else first

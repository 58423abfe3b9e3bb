"""The real lab, started once per test session (or reused if already up).

Assertions are made with clients this project did not write: dig, curl and
openssl run inside the lab's client container (whose resolv.conf points at
the lab resolver); tshark reads the captures on the host.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field

import pytest

from lab.compose import Lab


@pytest.fixture(scope="session")
def lab() -> Lab:
    """A running, healthy lab."""
    lab = Lab()
    statuses = lab.status()
    if not all(s.state == "running" and s.health in ("healthy", "-") for s in statuses):
        from lab import bootstrap

        bootstrap.bootstrap()
        lab.up()
    return lab


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.integration)


@dataclass
class Dig:
    """dig's output, split into the parts the tests look at."""

    status: str
    flags: set[str]
    sections: dict[str, list[list[str]]] = field(default_factory=dict)
    server: str = ""
    text: str = ""

    def records(self, section: str, rtype: str | None = None) -> list[list[str]]:
        rows = self.sections.get(section, [])
        return [r for r in rows if rtype is None or r[3] == rtype]


def parse_dig(text: str) -> Dig:
    m = re.search(r"status: (\w+)", text)
    f = re.search(r";; flags: ([a-z ]+);", text)
    s = re.search(r";; SERVER: ([\d.]+)#", text)
    out = Dig(
        m.group(1) if m else "",
        set(f.group(1).split()) if f else set(),
        server=s.group(1) if s else "",
        text=text,
    )
    current = None
    for line in text.splitlines():
        h = re.match(r";; (\w+) SECTION:", line)
        if h:
            current = h.group(1)
            out.sections[current] = []
        elif not line.strip():
            current = None
        elif current and not line.startswith(";"):
            out.sections[current].append(line.split())
    return out


def dig(lab: Lab, *args: str) -> Dig:
    """Run dig in the client container and parse what it printed."""
    r = lab.exec("client", "dig", "+time=3", "+tries=1", *args, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    return parse_dig(r.stdout)


def run(*cmd: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, check=False)

"""Several labs on one machine: start one as `lab up` does, and measure what each costs.

Used by tests/integration/test_side_by_side.py and bench/labs_bench.py. A
lab is started exactly as `lab up` starts it (a free subnet chosen and
remembered, the delay plan written in its addresses, every health check
passed, the profile applied), so the time measured is the time a user waits.
Memory is what ``docker stats --no-stream`` reports for the project's
containers, summed: the containers' cgroup memory (page cache included, as
Docker counts it).
"""

from __future__ import annotations

import re
import subprocess
import time
from dataclasses import dataclass

from lab import distance, topology
from lab.compose import PROJECT_LABEL, Lab
from lab.errors import LabError

_UNITS = {"b": 1 / 2**20, "kib": 1 / 1024, "mib": 1.0, "gib": 1024.0, "tib": 2**20,
          "kb": 1e3 / 2**20, "mb": 1e6 / 2**20, "gb": 1e9 / 2**20}  # fmt: skip
_SIZE = re.compile(r"\s*([\d.]+)\s*([a-zA-Z]+)")


@dataclass(frozen=True)
class Started:
    """A lab that `start` brought up: its project, subnet and the seconds it took."""

    project: str
    subnet: str
    seconds: float


def start(lab: Lab, profile: str = topology.DEFAULT_PROFILE) -> Started:
    """Bring LAB up as `lab up` does (its subnet chosen first); how long until it is healthy."""
    t0 = time.monotonic()
    if not lab.running():
        lab.create()
    distance.write_plan(lab, profile)
    lab.up()
    distance.apply(lab, profile)
    return Started(lab.project, lab.plan.subnet, round(time.monotonic() - t0, 1))


def mib(usage: str) -> float:
    """The used part of docker stats' MemUsage ("12.5MiB / 1.94GiB") in MiB."""
    m = _SIZE.match(usage.split("/")[0])
    if not m or m.group(2).lower() not in _UNITS:
        raise ValueError(f"not a docker stats memory figure: {usage!r}")
    return float(m.group(1)) * _UNITS[m.group(2).lower()]


def memory_mib(project: str) -> tuple[float, int]:
    """The project's running containers' memory, summed (MiB), and how many there were."""
    ids = subprocess.run(
        ["docker", "ps", "-q", "--filter", f"label={PROJECT_LABEL}={project}"],
        capture_output=True, text=True, check=False,
    ).stdout.split()  # fmt: skip
    if not ids:
        return 0.0, 0
    r = subprocess.run(
        ["docker", "stats", "--no-stream", "--format", "{{.MemUsage}}", *ids],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    if r.returncode != 0:
        raise LabError(f"docker stats for {project}: {r.stderr.strip()}")
    rows = [line for line in r.stdout.splitlines() if line.strip()]
    return round(sum(mib(line) for line in rows), 1), len(rows)

"""Fixtures: a copy of a real cold-DNS browse run (capture with embedded TLS secrets).

The runs in data/ were recorded before the home network: one network, every host in
198.51.100.0/24 (their timelines record no ``networks``). A test that calls a report
function on them directly names their hosts from that flat plan (``fixture_plan``), as
``build_report`` does from the timeline.
"""

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.report import hosts
from lab.topology import Plan, plan_of

DATA = Path(__file__).parent / "data"
SAMPLE = DATA / "sample-run"
# The plan the fixtures' timelines give back (all three are flat runs).
FLAT = plan_of(json.loads((SAMPLE / "timeline.json").read_text()))
FLAT_IP = {s: h.ipv4 for s, h in FLAT.by_service.items()}


@pytest.fixture
def fixture_plan() -> Iterator[Plan]:
    """Name hosts from the fixtures' own (flat) plan while the test runs."""
    with hosts.using(FLAT) as p:
        yield p


needs_tshark = pytest.mark.skipif(
    shutil.which("tshark") is None, reason="tshark is not installed (Debian package tshark)"
)


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A writable copy of the sample run folder."""
    dst = tmp_path / "20261122-230842-browse"
    shutil.copytree(SAMPLE, dst)
    return dst

"""Fixtures: a copy of a real cold-DNS browse run (capture with embedded TLS secrets)."""

import shutil
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
SAMPLE = DATA / "sample-run"

needs_tshark = pytest.mark.skipif(
    shutil.which("tshark") is None, reason="tshark is not installed (Debian package tshark)"
)


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A writable copy of the sample run folder."""
    dst = tmp_path / "20261122-230842-browse"
    shutil.copytree(SAMPLE, dst)
    return dst

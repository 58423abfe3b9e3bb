"""examples/retry-client, a user's suite on the `weblab` fixture, against the running lab."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from lab.compose import ROOT, Lab

EXAMPLE = ROOT / "examples" / "retry-client"


def test_retry_client_example_passes_and_leaves_the_lab_up(lab: Lab) -> None:
    """The example's three tests pass on the reused lab, and the plugin does not tear it down."""
    pytest_bin = Path(sys.executable).with_name("pytest")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    r = subprocess.run(
        [str(pytest_bin), "-q", "-p", "no:cacheprovider"],
        cwd=EXAMPLE,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "4 passed" in r.stdout
    assert all(s.state == "running" for s in lab.status())


def test_fixture_object_against_the_lab(lab: Lab) -> None:
    """weblab.dig, fetch and capture work in-process on the running lab."""
    from lab.pytest_plugin import Weblab, _compose

    w = Weblab(lab, _compose(lab), ROOT / "runs")
    assert w.dig("www.example.com") == [w.address("edge")]
    doc = w.fetch("https://www.example.com/")
    assert doc["status"] == 200
    with w.capture() as rec:
        w.fetch("https://www.example.com/")
    assert rec.pcapng.stat().st_size > 0
    assert rec.report is not None
    assert rec.report.exists()

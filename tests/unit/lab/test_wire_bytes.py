"""Bytes on the wire per browse step, counted from a real capture in one tshark pass."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from lab.scenario.expect import StepOutcome
from lab.scenario.runner import wire_bytes
from lab.topology import plan_of

SAMPLE = Path(__file__).parents[1] / "report" / "data" / "sample-run"
CAPTURE = SAMPLE / "capture.pcapng"
# A run from before the home network: its client and edge at their flat-plan addresses.
PLAN = plan_of(json.loads((SAMPLE / "timeline.json").read_text()))
FIRST, LAST = 1795388926.422, 1795388926.440  # the sample's client <-> edge frames lie between

pytestmark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")


def test_bytes_fall_into_the_step_that_was_running() -> None:
    """Frames inside a browse step's window count for it; a step before them counts none."""
    steps = [
        StepOutcome(1, "browse", "https://www.example.com/", FIRST - 10, FIRST - 5),
        StepOutcome(2, "browse", "https://www.example.com/", FIRST, LAST),
    ]
    assert wire_bytes(CAPTURE, steps, PLAN) == {1: 0, 2: 13286}


def test_other_steps_are_not_counted() -> None:
    """Only browse steps get a figure; none at all means tshark is not even run."""
    assert wire_bytes(CAPTURE, [StepOutcome(1, "dig", "www.example.com", FIRST, LAST)], PLAN) == {}

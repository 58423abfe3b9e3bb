"""Helpers shared by the conformance tests: the started programs and the tools they need."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.procs import Proc


class Procs:
    """Programs a fixture started; stopped by PID, last started first."""

    def __init__(self) -> None:
        self.started: list[Proc] = []

    def add(self, proc: Proc) -> Proc:
        self.started.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in reversed(self.started):
            proc.stop()


def need(tool: str) -> str:
    """The path of ``tool``, or skip with the way to install it."""
    path = shutil.which(tool) or (
        f"/usr/sbin/{tool}" if Path(f"/usr/sbin/{tool}").exists() else None
    )
    if path is None:
        pytest.skip(
            f"{tool} not installed: run python -c 'from lab import tooling; tooling.ensure(print)'"
        )
    return path

"""Helpers shared by the conformance tests: the started programs and the tools they need."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import NoReturn

import pytest

from harness.procs import Proc
from harness.toolcheck import missing_tool


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


def lacking(tool: str) -> NoReturn:
    """Skip for want of ``tool``, or fail under CI=true (harness/toolcheck.py says which)."""
    verdict = missing_tool(tool, os.environ)
    if verdict.fail:
        pytest.fail(verdict.message, pytrace=False)
    pytest.skip(verdict.message)


def need(tool: str) -> str:
    """The path of ``tool``, or skip (fail in CI) with the way to install it."""
    path = shutil.which(tool) or (
        f"/usr/sbin/{tool}" if Path(f"/usr/sbin/{tool}").exists() else None
    )
    if path is None:
        lacking(tool)
    return path

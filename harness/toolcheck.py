"""What a test does when a tool it needs is missing: skip on a laptop, fail in CI.

On a developer's machine a suite that needs NSD or nginx skips, saying how
to install them. In CI the same skip would turn the run green while the
conformance or differential suite never ran, so under ``CI=true`` (the
variable GitHub Actions, GitLab CI and .ci/run set) a missing tool is a
failure. Pure: the caller passes the environment and calls pytest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

INSTALL = "run `lab tools` (installs the peers and test tools: lab/tooling.py)"


@dataclass(frozen=True)
class Missing:
    """The verdict on a missing tool: ``fail`` (CI) or skip, and the line to show."""

    fail: bool
    message: str


def in_ci(env: Mapping[str, str]) -> bool:
    """Whether this is a CI run: CI set to true (any case) or 1, as CI services do."""
    return env.get("CI", "").strip().lower() in ("true", "1", "yes")


def missing_tool(name: str, env: Mapping[str, str]) -> Missing:
    """What to do about ``name`` (one tool, or several joined by spaces) not being found."""
    if in_ci(env):
        return Missing(True, f"{name} not installed and CI=true (a skip would hide it): {INSTALL}")
    return Missing(False, f"{name} not installed: {INSTALL}")

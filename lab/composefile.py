"""compose.yaml as `docker compose` reads it for one lab: variables interpolated.

compose.yaml takes the lab's project and each network's first three octets as
``${LAB_PROJECT}``, ``${LAB_NET}``, ``${LAB_ISP}``, ``${LAB_HOME}`` and
``${LAB_TRANSIT}`` (lab/compose.py sets them for every call). The harness and
the unit tests read the file without Docker, so they interpolate it the same
way, with the subset of the Compose specification's syntax the file uses:
``${VAR}``, ``${VAR:-default}`` (unset or empty), ``${VAR-default}`` (unset)
and ``$$`` for a literal dollar.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from lab import topology

ROOT = Path(__file__).resolve().parent.parent
_VAR = re.compile(
    r"\$(?:\$|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?-)(?P<default>[^}]*))?\})"
)


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """TEXT with each variable replaced from ENV as Compose would replace it."""

    def one(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name, op, default = m.group("name"), m.group("op"), m.group("default") or ""
        value = env.get(name)
        if op == ":-" and not value:
            return default
        if op == "-" and value is None:
            return default
        return value or ""

    return _VAR.sub(one, text)


def lab_variables(
    project: str = "weblab", plan: topology.Plan = topology.DEFAULT_PLAN
) -> dict[str, str]:
    """The variables lab/compose.py gives `docker compose` for a lab PROJECT in PLAN."""
    return {
        "LAB_PROJECT": project,
        "LAB_NET": plan.prefix,
        "LAB_ISP": plan.prefix_of("isp"),
        "LAB_HOME": plan.prefix_of("home"),
        "LAB_TRANSIT": plan.prefix_of("transit"),
    }


def load(env: Mapping[str, str] | None = None, path: Path = ROOT / "compose.yaml") -> Any:
    """The Compose document with ENV's variables (none: every default, the documentation plan)."""
    return yaml.safe_load(interpolate(path.read_text(), env or {}))

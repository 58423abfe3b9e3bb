"""Scenario files: YAML in lab/scenarios/, loaded into typed objects.

A mistake in a file is reported with the file, the line and what was expected,
never as a traceback::

    name: browse
    description: Open the site with a cold DNS cache
    cold_dns: true            # restart the resolver first: nothing cached
    steps:
      - browse: https://www.example.com/
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from lab.errors import UsageError

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"
STEP_KINDS = {
    "browse": "open a page like a browser: DNS, TCP, TLS, HTTP, then its subresources",
}
TOP_KEYS = {"name", "description", "cold_dns", "steps"}


@dataclass(frozen=True)
class Step:
    kind: str
    target: str


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    path: Path
    cold_dns: bool = False
    steps: tuple[Step, ...] = field(default_factory=tuple)


def _where(path: Path, node: yaml.Node) -> str:
    return f"{path}:{node.start_mark.line + 1}"


def _scalar(path: Path, node: yaml.Node, what: str) -> str:
    if not isinstance(node, yaml.ScalarNode):
        raise UsageError(f"{_where(path, node)}: {what} must be a plain value")
    return str(node.value)


def load(path: Path) -> Scenario:
    """Parse one scenario file, rejecting unknown keys and step kinds with file:line."""
    try:
        root = yaml.compose(path.read_text(), Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        raise UsageError(f"{path}: not valid YAML: {e}") from e
    except OSError as e:
        raise UsageError(f"cannot read scenario {path}: {e.strerror}") from e
    if not isinstance(root, yaml.MappingNode):
        raise UsageError(f"{path}:1: a scenario is a mapping with keys {sorted(TOP_KEYS)}")
    fields: dict[str, yaml.Node] = {}
    for key_node, value in root.value:
        key = _scalar(path, key_node, "a key")
        if key not in TOP_KEYS:
            raise UsageError(f"{_where(path, key_node)}: unknown key {key!r}; "
                             f"expected one of {sorted(TOP_KEYS)}")
        fields[key] = value
    for required in ("name", "steps"):
        if required not in fields:
            raise UsageError(f"{path}:1: missing required key {required!r}")
    cold = False
    if "cold_dns" in fields:
        raw = _scalar(path, fields["cold_dns"], "cold_dns").lower()
        if raw not in ("true", "false"):
            raise UsageError(f"{_where(path, fields['cold_dns'])}: cold_dns must be true or false")
        cold = raw == "true"
    steps_node = fields["steps"]
    if not isinstance(steps_node, yaml.SequenceNode) or not steps_node.value:
        raise UsageError(f"{_where(path, steps_node)}: steps must be a non-empty list")
    steps = []
    for item in steps_node.value:
        if not isinstance(item, yaml.MappingNode) or len(item.value) != 1:
            raise UsageError(f"{_where(path, item)}: a step is one `kind: target` pair, "
                             f"e.g. `- browse: https://www.example.com/`")
        k_node, v_node = item.value[0]
        kind = _scalar(path, k_node, "a step kind")
        if kind not in STEP_KINDS:
            raise UsageError(f"{_where(path, k_node)}: unknown step {kind!r}; "
                             f"known steps: {', '.join(sorted(STEP_KINDS))}")
        steps.append(Step(kind, _scalar(path, v_node, f"the target of {kind}")))
    return Scenario(
        name=_scalar(path, fields["name"], "name"),
        description=_scalar(path, fields["description"], "description")
        if "description" in fields else "",
        path=path, cold_dns=cold, steps=tuple(steps))


def available(directory: Path = SCENARIO_DIR) -> dict[str, Path]:
    return {p.stem: p for p in sorted(directory.glob("*.yaml"))}


def find(name: str, directory: Path = SCENARIO_DIR) -> Scenario:
    """A scenario by name (lab/scenarios/NAME.yaml) or by path to a YAML file."""
    as_path = Path(name)
    if as_path.suffix in (".yaml", ".yml") and as_path.exists():
        return load(as_path)
    known = available(directory)
    if name not in known:
        raise UsageError(f"unknown scenario {name!r}; available: {', '.join(known) or 'none'}"
                         f" (or give the path of a .yaml file)")
    return load(known[name])

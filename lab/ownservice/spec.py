"""``weblab.yaml``: a user's own containers, loaded into typed objects with file:line errors.

The shape::

    services:
      shop.example.com:          # its name on the lab's Internet (under example.com)
        build: .                 # a build context (relative to this file), or `image: NAME`
        port: 8443               # the TCP port it serves HTTPS on
        fronted: true            # the edge fronts and caches it (default); false: reached directly
        service: shop            # the Compose service name (default: the name's first label)
        healthcheck: ["CMD", "curl", "-fsk", "https://127.0.0.1:8443/"]   # optional
        environment: {KEY: value}                                         # optional
        command: [python, app.py]                                         # optional

A mistake is one line: the file, the line, what was wrong and what is expected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lab import topology, yamlfile
from lab.errors import UsageError

ZONE = "example.com"  # the zone the lab adds the names to (ns1.example.com serves it)
TOP_KEYS = ("services",)
SERVICE_KEYS = (
    "image",
    "build",
    "port",
    "fronted",
    "service",
    "healthcheck",
    "environment",
    "command",
)
BUILD_KEYS = ("context", "dockerfile")
MAX_SERVICES = 50  # addresses .200-.249 of the lab's /24
# A DNS label (RFC 1035 §2.3.1, RFC 1123 §2.1), lower case.
_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
_SERVICE = re.compile(r"[a-z0-9][a-z0-9_.-]*")  # what Compose takes as a service name


@dataclass(frozen=True)
class OwnService:
    """One user container as weblab.yaml gives it."""

    name: str  # shop.example.com
    service: str  # the Compose service name: shop
    port: int
    fronted: bool
    line: int  # where the file gives it
    image: str | None = None
    build: str | None = None  # absolute context directory
    dockerfile: str | None = None
    healthcheck: tuple[str, ...] | str | None = None  # CMD list, or a CMD-SHELL string
    environment: tuple[tuple[str, str], ...] = ()
    command: tuple[str, ...] | None = None

    @property
    def origin_name(self) -> str:
        """The name the edge reaches it by when fronted (the public name is the edge's)."""
        first, _, rest = self.name.partition(".")
        return f"{first}-origin.{rest}"


@dataclass(frozen=True)
class OwnFile:
    path: Path
    services: tuple[OwnService, ...]


class _Reader:
    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, node: yaml.Node, msg: str) -> UsageError:
        return UsageError(f"{self.path}:{node.start_mark.line + 1}: {msg}")

    def scalar(self, node: yaml.Node, what: str) -> str:
        if not isinstance(node, yaml.ScalarNode):
            raise self.fail(node, f"{what} must be a plain value")
        return str(node.value)

    def strings(self, node: yaml.Node, what: str) -> tuple[str, ...]:
        if not isinstance(node, yaml.SequenceNode) or not node.value:
            raise self.fail(node, f"{what} must be a non-empty list of strings")
        return tuple(self.scalar(n, f"each item of {what}") for n in node.value)

    def pairs(
        self, node: yaml.Node, allowed: tuple[str, ...] | None, what: str
    ) -> list[tuple[str, yaml.Node, yaml.Node]]:
        if not isinstance(node, yaml.MappingNode):
            expected = f" with keys {', '.join(allowed)}" if allowed else ""
            raise self.fail(node, f"{what} must be a mapping{expected}")
        out, seen = [], set()
        for k, v in node.value:
            key = self.scalar(k, "a key")
            if allowed is not None and key not in allowed:
                raise self.fail(k, f"unknown key {key!r} in {what}; expected {', '.join(allowed)}")
            if key in seen:
                raise self.fail(k, f"{key!r} given twice in {what}")
            seen.add(key)
            out.append((key, k, v))
        return out


def check_name(name: str) -> str | None:
    """Why NAME cannot be a user service's name, or None when it can."""
    name = name.lower().rstrip(".")
    if not name.endswith("." + ZONE):
        inside = "inside the lab but not in example.com" if topology.in_lab(name) else "outside"
        return (
            f"{name!r} is {inside}: a service's name must be under {ZONE} "
            f"(served by ns1.example.com), e.g. shop.{ZONE}"
        )
    labels = name.split(".")
    if len(name) > 253 or not all(_LABEL.fullmatch(x) for x in labels):
        return f"{name!r} is not a host name (letters, digits and '-' in labels of 1..63)"
    return None


def _service(r: _Reader, k: yaml.Node, v: yaml.Node, base: Path) -> OwnService:
    name = r.scalar(k, "a service's name").lower().rstrip(".")
    why = check_name(name)
    if why:
        raise r.fail(k, why)
    fields: dict[str, Any] = {}
    nodes: dict[str, yaml.Node] = {}
    for key, _k, node in r.pairs(v, SERVICE_KEYS, f"service {name!r}"):
        nodes[key] = node
        if key == "port":
            raw = r.scalar(node, "port")
            if not raw.isdigit() or not 1 <= int(raw) <= 65535:
                raise r.fail(node, f"port must be a TCP port 1..65535, not {raw!r}")
            fields["port"] = int(raw)
        elif key == "fronted":
            raw = r.scalar(node, "fronted").lower()
            if raw not in ("true", "false"):
                raise r.fail(node, f"fronted is true (the edge fronts it) or false, not {raw!r}")
            fields["fronted"] = raw == "true"
        elif key in ("image", "service"):
            fields[key] = r.scalar(node, key)
        elif key == "build":
            if isinstance(node, yaml.MappingNode):
                given = {kk: r.scalar(n, kk) for kk, _, n in r.pairs(node, BUILD_KEYS, "build")}
                if "context" not in given:
                    raise r.fail(node, "build needs `context:` (a directory)")
                fields["build"], fields["dockerfile"] = given["context"], given.get("dockerfile")
            else:
                fields["build"] = r.scalar(node, "build")
        elif key in ("command", "healthcheck"):
            given_s = isinstance(node, yaml.ScalarNode) and key == "healthcheck"
            fields[key] = r.scalar(node, key) if given_s else r.strings(node, key)
        elif key == "environment":
            env = r.pairs(node, None, "environment")
            fields[key] = tuple((kk, r.scalar(n, f"environment {kk}")) for kk, _, n in env)
    where = r.fail(v, "")  # for errors about the service as a whole
    if "image" in fields and "build" in fields:
        raise r.fail(nodes["build"], "give `image:` or `build:`, not both")
    if "image" not in fields and "build" not in fields:
        raise UsageError(
            f"{where}service {name!r} needs `image:` (a local image) or `build:` "
            "(a directory with a Dockerfile)"
        )
    if "port" not in fields:
        raise UsageError(f"{where}service {name!r} needs `port:` (the TCP port it serves on)")
    if "build" in fields:
        context = (base / fields["build"]).resolve()
        dockerfile = context / (fields.get("dockerfile") or "Dockerfile")
        if not context.is_dir() or not dockerfile.is_file():
            raise r.fail(nodes["build"], f"no Dockerfile at {dockerfile}")
        fields["build"] = str(context)
    service = fields.pop("service", name.split(".")[0])
    if not _SERVICE.fullmatch(service):
        raise r.fail(nodes.get("service", k), f"{service!r} cannot be a Compose service name")
    if service in topology.BY_SERVICE:
        known = topology.BY_SERVICE[service].dns_name
        raise r.fail(
            nodes.get("service", k),
            f"service {service!r} clashes with the lab's own {service} ({known}); set `service:`",
        )
    return OwnService(
        name=name,
        service=service,
        line=k.start_mark.line + 1,
        fronted=fields.pop("fronted", True),
        **fields,
    )


def load(path: Path, taken_names: frozenset[str] = frozenset()) -> OwnFile:
    """Parse weblab.yaml; TAKEN_NAMES are the names example.com already has (no clash)."""
    root = yamlfile.compose(path)
    r = _Reader(path)
    if root is None:
        raise UsageError(f"{path}:1: empty; give `services:` with at least one service")
    top = {key: v for key, _k, v in r.pairs(root, TOP_KEYS, "weblab.yaml")}
    if "services" not in top:
        raise UsageError(f"{path}:1: missing `services:` (a mapping of names to services)")
    entries = r.pairs(top["services"], None, "services")
    if not entries:
        raise r.fail(top["services"], "services is empty; give at least one")
    if len(entries) > MAX_SERVICES:
        raise r.fail(top["services"], f"at most {MAX_SERVICES} services")
    out: list[OwnService] = []
    for _key, k, v in entries:
        s = _service(r, k, v, path.parent)
        names = {s.name, s.origin_name} if s.fronted else {s.name}
        for other in out:
            if other.service == s.service:
                raise r.fail(k, f"service {s.service!r} is also line {other.line}'s; set service:")
            if names & {other.name, other.origin_name}:
                raise r.fail(k, f"{s.name} clashes with {other.name} (line {other.line})")
        clash = sorted(names & taken_names)
        if clash:
            raise r.fail(
                k, f"{clash[0]} already exists in the lab's example.com zone; choose another name"
            )
        out.append(s)
    return OwnFile(path.resolve(), tuple(out))

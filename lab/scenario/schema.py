"""The scenario format as a JSON Schema (draft 2020-12), built from the loader's own tables.

lab/scenario/spec.py stays the authority: `lab scenario check` runs it, and
its messages carry file:line. The schema is for editors and other people's
tooling (a YAML language server completes keys and flags typos as you type),
so every kind, key and choice below is read from spec.py, topology.py and
distance's profiles rather than restated. What the loader checks in code (the
ranges of `wait`, `loss` and `delay`, one subject per expectation) is written
here once, and tests/unit/lab/test_scenario_schema.py holds both to the same
broken files.

Where the two still differ: the loader reads an `int:` written as the quoted
string "5", the schema wants the number. A schema cannot see across the file
(`step: 7` in a scenario of three steps, a `before_step` past the last one,
`jitter_ms` above `delay_ms`), nor tell `yes` from `true` once YAML has parsed
it; the loader refuses all of these.
"""

from __future__ import annotations

from typing import Any

import yaml

from lab import topology
from lab.scenario import spec

DIALECT = "https://json-schema.org/draft/2020-12/schema"

# The loader turns any plain YAML value into a `str` argument (`http: 2` is "2").
_SCALAR = {"type": ["string", "number", "boolean"]}
_JSON_TYPE: dict[type, dict[str, Any]] = {
    str: _SCALAR,
    int: {"type": "integer"},
    float: {"type": "number"},
    bool: {"type": "boolean"},
    dict: {"type": "object"},
    list: {"type": "array"},
    object: {},  # any YAML value (a JSON body)
}

# One line on each expectation key and top-level key: spec.py has their types only.
# A unit test fails when a key is added there and not here.
EXPECT_HELP: dict[str, str] = {
    "step": "the step (1-based) whose outcome the other keys check",
    "status": "the HTTP status of the step's (last) response",
    "cache": "the edge's cache answer on every response of the step (HIT, MISS, STALE, ...)",
    "rcode": "the DNS rcode of a dig step (NOERROR, NXDOMAIN, SERVFAIL, ...)",
    "max_ms": "the step takes at most this many milliseconds",
    "ok": "the step succeeds (true) or fails (false)",
    "error": "a substring of the step's error message (case-insensitive)",
    "attempts": "how many tries a fetch step took (retries + 1)",
    "packets": "a tshark display filter counted in the run's capture ($edge, $roots, ... "
    "stand for addresses)",
    "count": "exactly this many packets match",
    "min": "at least this many packets match",
    "max": "at most this many packets match",
    "during": "count only the packets sent while this step ran",
    "in": "which capture the packets are counted in: capture (each packet once, the default) "
    "or hops (every copy, one per network it crossed: the NAT, TTLs, MACs)",
    "walk": "a name whose resolution is checked against `via`",
    "via": "the servers the resolver asked for the `walk` name, in order (roots, tlds, or a host)",
    "rtts": "round trips each phase (connect, tls, dns) of the step's first connection costs "
    "under the profile, timed on the wire where the capture has it (SYN to SYN-ACK, "
    "ClientHello to the server's Finished, the home's question to the resolver and its answer; "
    "dns 0: no question left the client)",
    "forged": "{min, max}: forged records a poison step left in the resolver's cache (or "
    "handed to the client's own lookups)",
    "stalled": "{min, max}: responses of the step that had crossed the wire but waited for "
    "another's lost packet (after a drop fault)",
    "unblocked": "{min, max}: responses that crossed the wire after the lost packet and were "
    "handed over before its repair",
    "note": "a label printed with the result",
}
TOP_HELP: dict[str, str] = {
    "name": "the scenario's name (the file's stem for the shipped ones)",
    "description": "one line shown by `lab scenarios` and at the top of a run",
    "profile": "link delays for the run: a profile name, or {base: NAME, links: {service: "
    "{delay_ms, jitter_ms, loss_pct}}}",
    "cold_dns": "restart the resolver first: nothing cached",
    "cold_edge": "restart the edge first: empty cache, no pooled connections",
    "faults": "applied before the steps (or before step `before_step`), removed after",
    "steps": "what the client does, in order",
    "expect": "checked after the run: on a step's outcome, the packets, or a resolver walk",
}


def _choices(values: tuple[str, ...]) -> dict[str, Any]:
    """An enum that takes `1.1` as well as "1.1": what YAML makes of an unquoted choice."""
    out: list[Any] = []
    for v in values:
        for form in (v, yaml.safe_load(v)):
            if form not in out:
                out.append(form)
    return {"enum": out}


def _step_arg(kind: str, arg: str, typ: type) -> dict[str, Any]:
    if kind == "browse" and arg == "http":
        return _choices(spec.BROWSE_HTTP)
    if kind == "chromium" and arg == "http":
        return _choices(spec.CHROMIUM_HTTP)
    if kind == "wait":
        return {"type": "number", "exclusiveMinimum": 0, "maximum": 120}
    if kind == "profile":
        return {"enum": list(topology.PROFILES)}
    if kind == "flush":
        return {"enum": list(spec.FLUSHABLE)}
    if kind == "dhcp":
        return {"enum": list(spec.DHCP_ACTIONS)}
    if kind == "trace" and arg == "tool":
        return {"enum": list(spec.TRACE_TOOLS)}
    return dict(_JSON_TYPE[typ])


def _step(kind: str) -> dict[str, Any]:
    help_, args, main_arg = spec.STEP_KINDS[kind]
    props = {a: _step_arg(kind, a, t) for a, t in args.items()}
    mapping = {
        "type": "object",
        "properties": props,
        "required": [main_arg],
        "additionalProperties": False,
    }
    short = {**props[main_arg], "description": f"the step's {main_arg}"}
    return {
        "type": "object",
        "description": help_,
        "properties": {kind: {"description": help_, "oneOf": [short, mapping]}},
        "required": [kind],
        "additionalProperties": False,
    }


def _fault(kind: str) -> dict[str, Any]:
    help_, args = spec.FAULT_KINDS[kind]
    props: dict[str, Any] = {a: dict(_JSON_TYPE[t]) for a, t in args.items()}
    props["service"] = {"enum": ["api"] if kind == "api" else list(topology.BY_SERVICE)}
    props["before_step"] = {"type": "integer", "minimum": 1}
    required = ["service"]
    if kind == "loss":
        props["percent"] = {"type": "number", "exclusiveMinimum": 0, "maximum": 100}
        required.append("percent")
    if kind == "delay":
        props["ms"] = {"type": "integer", "exclusiveMinimum": 0}
        required.append("ms")
    if kind == "drop":
        props["proto"] = {"enum": ["tcp", "udp"]}
        props["port"] = {"type": "integer", "minimum": 1, "maximum": 65535}
        props["packet"] = {"type": "integer", "minimum": 1}
        props["min_bytes"] = {"type": "integer", "minimum": 0, "maximum": 65535}
        props["after_bytes"] = {"type": "integer", "minimum": 0}
        required.append("packet")
    body = {
        "type": "object",
        "properties": props,
        "required": required,
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "description": help_,
        "properties": {kind: {"description": help_, **body}},
        "required": [kind],
        "additionalProperties": False,
    }


def _expectation() -> dict[str, Any]:
    props: dict[str, Any] = {
        k: {**_JSON_TYPE[t], "description": EXPECT_HELP[k]} for k, t in spec.EXPECT_KEYS.items()
    }
    props["step"]["minimum"] = 1
    props["during"]["minimum"] = 1
    props["in"].update(enum=["capture", "hops"])
    props["via"].update(minItems=1, items={"enum": ["roots", "tlds", *topology.BY_SERVICE]})
    props["rtts"].update(
        propertyNames={"enum": list(spec.RTT_PHASES)}, additionalProperties={"type": "number"}
    )
    for key in ("stalled", "unblocked", "forged"):
        props[key].update(
            propertyNames={"enum": ["min", "max"]},
            additionalProperties={"type": "integer", "minimum": 0},
            minProperties=1,
        )
    return {
        "type": "object",
        "description": "about exactly one of: a step's outcome, the packets, a resolver walk",
        "properties": props,
        "additionalProperties": False,
        "oneOf": [{"required": [k]} for k in ("step", "packets", "walk")],
        "dependentRequired": {
            "walk": ["via"],
            "via": ["walk"],
            "rtts": ["step"],
            "stalled": ["step"],
            "unblocked": ["step"],
            "forged": ["step"],
            "in": ["packets"],
        },
        "dependentSchemas": {
            "packets": {"anyOf": [{"required": [k]} for k in ("count", "min", "max")]}
        },
    }


def _profile() -> dict[str, Any]:
    names = {"enum": list(topology.PROFILES)}
    link = {
        "type": "object",
        "properties": {
            "delay_ms": {"type": "number", "minimum": 0, "maximum": topology.MAX_DELAY_MS},
            "jitter_ms": {"type": "number", "minimum": 0, "maximum": topology.MAX_DELAY_MS},
            "loss_pct": {"type": "number", "minimum": 0, "maximum": 100},
        },
        "additionalProperties": False,
    }
    custom = {
        "type": "object",
        "properties": {
            "base": names,
            "links": {
                "type": "object",
                "propertyNames": {"enum": list(topology.BY_SERVICE)},
                "additionalProperties": link,
            },
        },
    }
    return {"description": TOP_HELP["profile"], "oneOf": [names, custom]}


def scenario_schema() -> dict[str, Any]:
    """The JSON Schema of a scenario file, from the loader's STEP_KINDS, FAULT_KINDS, ..."""
    defs: dict[str, Any] = {f"step-{k}": _step(k) for k in spec.STEP_KINDS}
    defs |= {f"fault-{k}": _fault(k) for k in spec.FAULT_KINDS}
    defs["expectation"] = _expectation()
    props: dict[str, Any] = {
        "name": {**_SCALAR, "description": TOP_HELP["name"]},
        "description": {**_SCALAR, "description": TOP_HELP["description"]},
        "profile": _profile(),
        "cold_dns": {"type": "boolean", "description": TOP_HELP["cold_dns"]},
        "cold_edge": {"type": "boolean", "description": TOP_HELP["cold_edge"]},
        "faults": {
            "type": "array",
            "description": TOP_HELP["faults"],
            "items": {"oneOf": [{"$ref": f"#/$defs/fault-{k}"} for k in spec.FAULT_KINDS]},
        },
        "steps": {
            "type": "array",
            "description": TOP_HELP["steps"],
            "minItems": 1,
            "items": {"oneOf": [{"$ref": f"#/$defs/step-{k}"} for k in spec.STEP_KINDS]},
        },
        "expect": {
            "type": "array",
            "description": TOP_HELP["expect"],
            "items": {"$ref": "#/$defs/expectation"},
        },
    }
    return {
        "$schema": DIALECT,
        "title": "weblab scenario",
        "description": "A scenario file for `lab run` (lab/scenarios/*.yaml); "
        "`lab scenario check FILE` gives the loader's own verdict with file:line.",
        "type": "object",
        "properties": {k: props[k] for k in sorted(spec.TOP_KEYS, key=list(props).index)},
        "required": ["name", "steps"],
        "additionalProperties": False,
        "$defs": defs,
    }

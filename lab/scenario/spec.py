"""Scenario files: YAML in lab/scenarios/, loaded into typed objects.

A mistake in a file is reported with the file, the line and what was expected,
never as a traceback. The shape::

    name: packet-loss
    description: 5% loss on the edge's interface
    cold_dns: true                 # restart the resolver first: nothing cached
    cold_edge: true                # restart the edge: empty cache, new connections
    faults:                        # applied before the steps, removed after
      - loss: {service: edge, percent: 5}
    steps:
      - browse: https://www.example.com/
      - dig: {name: www.example.com, type: A}
    expect:
      - step: 1                    # outcome of step 1
        status: 200
      - packets: "tcp.analysis.retransmission && ip.addr == $edge"
        min: 1                     # checked on the capture after the run

In step arguments ``$run`` stands for a token unique to the run (a fresh user
name on every run). In packet filters ``$service`` stands for that host's address (``$edge``,
``$root-a``; a router's first interface: ``$home-router`` is its LAN side);
``$public`` for the home's public address (where the NAT puts the client);
``$roots`` and ``$tlds`` for the set ``{a b}`` of both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lab import topology, yamlfile
from lab.errors import UsageError

SCENARIO_DIR = Path(__file__).resolve().parents[1] / "scenarios"

BROWSE_HTTP = ("1.0", "1.1", "2", "3", "auto")  # the browse client's --http choices
CHROMIUM_HTTP = ("3", "auto")  # auto: what Chromium negotiates (h2 by ALPN); 3: QUIC forced
POISON_MODES = ("defended", "weak")  # the resolver as it is, or its source port fixed

# kind -> (help, {argument: type}, the argument a bare scalar fills)
STEP_KINDS: dict[str, tuple[str, dict[str, type], str]] = {
    "browse": (
        "open a page like a browser: DNS, TCP, TLS, HTTP, then its subresources "
        "(`visits: 2` reloads it: resumed TLS, conditional requests; `http: 1.0|1.1|2|3|auto` "
        "picks the HTTP version, auto by ALPN)",
        {"url": str, "visits": int, "http": str},
        "url",
    ),
    "dig": (
        "a DNS lookup with dig from the client: through its stub cache as resolv.conf says, "
        "or `server: stub|router|resolver` (one cache layer) or an address",
        {"name": str, "type": str, "server": str, "tcp": bool, "norec": bool},
        "name",
    ),
    "wait": (
        "let time pass (seconds, at most 120): cached answers age, TTLs count down",
        {"seconds": float},
        "seconds",
    ),
    "fetch": (
        "one HTTP request from the client, with retries honouring Retry-After",
        {
            "url": str,
            "method": str,
            "headers": dict,
            "json": object,
            "retries": int,
            "token": str,
            "connect_to": str,
            "follow": bool,
        },
        "url",
    ),
    "chromium": (
        "open the page in a real Chromium (headless, in the client's network namespace): "
        "screenshot, NetLog and its TLS secrets in the run (`http: 3` forces QUIC on the "
        "lab's web names)",
        {"url": str, "http": str},
        "url",
    ),
    "websocket": (
        "subscribe to a WebSocket (logged in), POST a change over HTTPS, wait for its event "
        "(`http: 2`: the WebSocket over HTTP/2 extended CONNECT, RFC 8441; default 1.1)",
        {"url": str, "post": str, "json": object, "expect": str, "http": str},
        "url",
    ),
    "poison": (
        "race the resolver from the attacker host: ask it for a made-up name under "
        "example.com, then flood it with forged answers from ns1.example.com's address "
        "(`tries` races of up to `burst` guesses each; `mode: weak` fixes the resolver's "
        "source port for the step, `defended` leaves RFC 5452's random port)",
        {"mode": str, "tries": int, "burst": int},
        "mode",
    ),
    "profile": (
        "switch the link delays to another profile from this step on (lan, default, mobile, far)",
        {"name": str},
        "name",
    ),
    "flush": (
        "empty a cache: `flush: dns` (every DNS cache on the way), `stub`, `router` or "
        "`resolver` (one of them), `arp` (the client's and the router's neighbour caches), "
        "`edge` (restarted: no cache, no connections)",
        {"service": str},
        "service",
    ),
    "dhcp": (
        "the client's DHCP lease: `renew` (release it, then DISCOVER, OFFER, REQUEST, ACK "
        "again) or `release` (give it back: no address until the next renew)",
        {"action": str},
        "action",
    ),
    "trace": (
        "the routers on the way to a host, from the client: `tool: traceroute` (UDP probes, "
        "the default) or `tracepath`; each hop answers with ICMP time exceeded",
        {"host": str, "tool": str},
        "host",
    ),
}
FLUSHABLE = ("dns", "stub", "router", "resolver", "arp", "edge")
DHCP_ACTIONS = ("renew", "release")
TRACE_TOOLS = ("traceroute", "tracepath")
FAULT_KINDS: dict[str, tuple[str, dict[str, type]]] = {
    "stop": ("stop a service for the run", {"service": str, "before_step": int}),
    "pause": ("freeze a service's processes (docker pause)", {"service": str, "before_step": int}),
    "blackhole": (
        "drop every packet to and from a host (iptables DROP in its container)",
        {"service": str, "before_step": int},
    ),
    "loss": (
        "drop a share of a host's packets at random (iptables statistic)",
        {"service": str, "percent": float, "before_step": int},
    ),
    "drop": (
        "lose one chosen packet a host sends to another (`to`): the `packet`-th of at least "
        "`min_bytes` bytes from its `proto` port `port` (on a connection that has already "
        "brought `after_bytes`), dropped as it arrives (iptables statistic nth and connbytes "
        "in the receiver), so a loss lands where asked",
        {
            "service": str,
            "to": str,
            "proto": str,
            "port": int,
            "packet": int,
            "min_bytes": int,
            "after_bytes": int,
            "before_step": int,
        },
    ),
    "delay": (
        "hold everything that reaches a host `ms` longer (its link delay daemon, as profiles do)",
        {"service": str, "ms": int, "before_step": int},
    ),
    "api": (
        "make the API itself misbehave (its /__fault switch): errors, latency, drops",
        {
            "service": str,
            "error_rate": float,
            "status": int,
            "retry_after": int,
            "latency_ms": int,
            "drop_rate": float,
            "before_step": int,
        },
    ),
}
EXPECT_KEYS: dict[str, type] = {
    "step": int,
    "status": int,
    "cache": str,
    "rcode": str,
    "max_ms": float,
    "ok": bool,
    "error": str,
    "attempts": int,
    "packets": str,
    "count": int,
    "min": int,
    "max": int,
    "during": int,
    # Which file the packets are counted in: capture (each packet once, the default)
    # or hops (every copy of it, one per network it crossed: the NAT, TTLs, MACs).
    "in": str,
    "walk": str,  # a name whose resolution must visit the servers `via` in order
    "via": list,
    "rtts": dict,  # phase -> round trips it must cost on the step's first connection
    # After a poison step: forged records the resolver's cache held (its dump).
    "forged": dict,
    # After a drop fault (lab/scenario/hol.py): responses that had crossed the wire
    # but waited for another's lost packet, and those handed over before its repair.
    "stalled": dict,
    "unblocked": dict,
    "note": str,
}
TOP_KEYS = {"name", "description", "profile", "cold_dns", "cold_edge", "faults", "steps", "expect"}
RTT_PHASES = ("connect", "tls", "dns")


@dataclass(frozen=True)
class Step:
    kind: str
    args: dict[str, Any]
    line: int = 0

    @property
    def target(self) -> str:
        return str(self.args.get(STEP_KINDS[self.kind][2], ""))


@dataclass(frozen=True)
class Fault:
    kind: str
    service: str
    percent: float = 0.0
    ms: int = 0
    settings: tuple[tuple[str, float], ...] = ()  # the api fault's switch, drop's match
    proto: str = ""  # drop: tcp or udp
    to: str = ""  # drop: the receiving host, whose INPUT loses the packet
    before_step: int = 1  # applied just before this step (1: before the run's first)


@dataclass(frozen=True)
class Expect:
    line: int
    step: int | None = None
    status: int | None = None
    cache: str | None = None
    rcode: str | None = None
    max_ms: float | None = None
    ok: bool | None = None
    error: str | None = None  # a substring of the step's error message
    attempts: int | None = None  # how many tries the step took (retries + 1)
    packets: str | None = None
    count: int | None = None
    min: int | None = None
    max: int | None = None
    during: int | None = None  # count only the packets sent while step N ran
    in_: str = "capture"  # "hops": count in hops.pcapng, every copy of each packet
    walk: str | None = None
    via: tuple[str, ...] = ()
    rtts: tuple[tuple[str, float], ...] = ()
    forged: tuple[tuple[str, int], ...] = ()  # ("min", n) and/or ("max", n)
    stalled: tuple[tuple[str, int], ...] = ()
    unblocked: tuple[tuple[str, int], ...] = ()
    note: str = ""


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    path: Path
    cold_dns: bool = False
    cold_edge: bool = False  # restart the edge: empty cache, no pooled upstream connections
    profile: str | dict[str, Any] | None = None  # link delays for the run (None: as the lab is)
    faults: tuple[Fault, ...] = ()
    steps: tuple[Step, ...] = field(default_factory=tuple)
    expect: tuple[Expect, ...] = ()


class _Reader:
    """Turns YAML nodes into Python values, reporting errors with file:line."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def where(self, node: yaml.Node) -> str:
        return f"{self.path}:{node.start_mark.line + 1}"

    def fail(self, node: yaml.Node, msg: str) -> UsageError:
        return UsageError(f"{self.where(node)}: {msg}")

    def value(self, node: yaml.Node, kind: type, what: str) -> Any:
        if kind is object:
            return yaml.safe_load(yaml.serialize(node))
        if kind is dict:
            if not isinstance(node, yaml.MappingNode):
                raise self.fail(node, f"{what} must be a mapping")
            return yaml.safe_load(yaml.serialize(node))
        if kind is list:
            if not isinstance(node, yaml.SequenceNode):
                raise self.fail(node, f"{what} must be a list")
            return yaml.safe_load(yaml.serialize(node))
        if not isinstance(node, yaml.ScalarNode):
            raise self.fail(node, f"{what} must be a plain value")
        raw = str(node.value)
        try:
            if kind is bool:
                if raw.lower() not in ("true", "false"):
                    raise ValueError(raw)
                return raw.lower() == "true"
            return kind(raw)
        except ValueError as e:
            raise self.fail(node, f"{what} must be {kind.__name__}, not {raw!r}") from e

    def mapping(self, node: yaml.Node, allowed: dict[str, type], what: str) -> dict[str, Any]:
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, f"{what} must be a mapping with keys {sorted(allowed)}")
        out: dict[str, Any] = {}
        for k_node, v_node in node.value:
            key = self.value(k_node, str, "a key")
            if key not in allowed:
                raise self.fail(
                    k_node, f"unknown key {key!r} in {what}; expected one of {sorted(allowed)}"
                )
            out[key] = self.value(v_node, allowed[key], f"{key!r}")
        return out

    def single(self, node: yaml.Node, what: str, example: str) -> tuple[str, yaml.Node, int]:
        if not isinstance(node, yaml.MappingNode) or len(node.value) != 1:
            raise self.fail(node, f"{what} is one `kind: ...` pair, e.g. `{example}`")
        k_node, v_node = node.value[0]
        return self.value(k_node, str, f"{what} kind"), v_node, k_node.start_mark.line + 1


def _step(r: _Reader, node: yaml.Node) -> Step:
    kind, v, line = r.single(node, "a step", "- browse: https://www.example.com/")
    if kind not in STEP_KINDS:
        raise UsageError(
            f"{r.path}:{line}: unknown step {kind!r}; known steps: {', '.join(sorted(STEP_KINDS))}"
        )
    _help, allowed, main_arg = STEP_KINDS[kind]
    if isinstance(v, yaml.ScalarNode):
        args = {main_arg: r.value(v, str, f"the target of {kind}")}
    else:
        args = r.mapping(v, allowed, f"step {kind!r}")
    if main_arg not in args:
        raise r.fail(v, f"step {kind!r} needs {main_arg!r}")
    if kind == "browse" and args.get("http", "auto") not in BROWSE_HTTP:
        at = next(n for k, n in v.value if k.value == "http")
        raise r.fail(at, f"browse `http:` is one of {', '.join(BROWSE_HTTP)}, not {args['http']!r}")
    if kind == "chromium" and str(args.get("http", "auto")) not in CHROMIUM_HTTP:
        at = next(n for k, n in v.value if k.value == "http")
        raise r.fail(
            at, f"chromium `http:` is one of {', '.join(CHROMIUM_HTTP)}, not {args['http']!r}"
        )
    if kind == "poison":
        if args["mode"] not in POISON_MODES:
            raise r.fail(v, f"poison `mode:` is {' or '.join(POISON_MODES)}, not {args['mode']!r}")
        if not 1 <= args.get("tries", 5) <= 50 or not 1 <= args.get("burst", 65536) <= 262144:
            raise r.fail(v, "poison is bounded: `tries:` 1..50, `burst:` 1..262144 datagrams")
    if kind == "dhcp" and args["action"] not in DHCP_ACTIONS:
        raise r.fail(v, f"dhcp is {' or '.join(DHCP_ACTIONS)}, not {args['action']!r}")
    if kind == "trace" and args.get("tool", "traceroute") not in TRACE_TOOLS:
        raise r.fail(v, f"trace `tool:` is {' or '.join(TRACE_TOOLS)}, not {args['tool']!r}")
    return Step(kind, args, line)


def _fault(r: _Reader, node: yaml.Node) -> Fault:
    kind, v, line = r.single(node, "a fault", "- loss: {service: edge, percent: 5}")
    if kind not in FAULT_KINDS:
        raise UsageError(
            f"{r.path}:{line}: unknown fault {kind!r}; "
            f"known faults: {', '.join(sorted(FAULT_KINDS))}"
        )
    args = r.mapping(v, FAULT_KINDS[kind][1], f"fault {kind!r}")
    service = args.get("service")
    if service not in topology.BY_SERVICE:
        raise r.fail(v, f"fault {kind!r} needs `service:` one of {', '.join(topology.BY_SERVICE)}")
    if kind == "loss" and not 0 < args.get("percent", 0) <= 100:
        raise r.fail(v, "loss needs `percent:` between 0 and 100")
    routers = {h.service for h in topology.HOSTS if h.router}
    if kind in ("delay", "drop") and args.get("service") in routers:
        raise r.fail(
            v,
            f"{kind} needs a host's link delay daemon; {args['service']} is a router, which "
            "has none: blackhole or loss on it drops what it forwards",
        )
    if kind == "delay" and args.get("ms", 0) <= 0:
        raise r.fail(v, "delay needs `ms:` above 0")
    if kind == "api" and service != "api":
        raise r.fail(v, "the api fault applies to `service: api` only")
    if kind == "drop":
        if args.get("proto", "tcp") not in ("tcp", "udp"):
            raise r.fail(v, "drop needs `proto:` tcp or udp")
        if args.get("packet", 0) < 1:
            raise r.fail(v, "drop needs `packet:` 1 or more (which matching packet to drop)")
        if args.get("to", "client") not in topology.BY_SERVICE or args.get("to") == service:
            raise r.fail(v, "drop needs `to:` the receiving host, another service than `service:`")
        args.setdefault("port", 443)
        args.setdefault("min_bytes", 0)
        args.setdefault("after_bytes", 0)
        if args["after_bytes"] < 0:
            raise r.fail(v, "drop needs `after_bytes:` 0 or more")
        if not 0 < args["port"] < 65536 or not 0 <= args["min_bytes"] <= 65535:
            raise r.fail(v, "drop needs `port:` 1..65535 and `min_bytes:` 0..65535")
    before = int(args.pop("before_step", 1))
    proto = str(args.pop("proto", "tcp")) if kind == "drop" else ""
    to = str(args.pop("to", "client")) if kind == "drop" else ""
    settings = tuple(sorted((k, float(x)) for k, x in args.items() if k != "service"))
    return Fault(
        kind,
        str(service),
        float(args.get("percent", 0)),
        int(args.get("ms", 0)),
        settings if kind in ("api", "drop") else (),
        proto,
        to,
        before,
    )


def _expect(r: _Reader, node: yaml.Node, n_steps: int) -> Expect:
    args = r.mapping(node, EXPECT_KEYS, "an expectation")
    if sum(k in args for k in ("packets", "step", "walk")) != 1:
        raise r.fail(
            node,
            "an expectation is about one of: a `step:` (its outcome), "
            "`packets:` (a tshark display filter on the capture), or a `walk:` (the "
            "servers the resolver asked for a name, in order)",
        )
    if "walk" in args:
        via = args.get("via")
        known = {"roots", "tlds", *topology.BY_SERVICE}
        if not via or not all(isinstance(v, str) and v in known for v in via):
            raise r.fail(node, f"a walk needs `via:` a list of {', '.join(sorted(known))}")
        args["via"] = tuple(via)
    elif "via" in args:
        raise r.fail(node, "`via:` belongs to a `walk:` expectation")
    if "rtts" in args:
        if "step" not in args:
            raise r.fail(node, "`rtts:` checks a step: give `step:` too")
        bad = [k for k in args["rtts"] if k not in RTT_PHASES]
        if bad or not all(isinstance(v, int | float) for v in args["rtts"].values()):
            raise r.fail(node, f"rtts maps {', '.join(RTT_PHASES)} to a number of round trips")
        args["rtts"] = tuple(sorted((k, float(v)) for k, v in args["rtts"].items()))
    for key in ("stalled", "unblocked", "forged"):
        if key not in args:
            continue
        if "step" not in args:
            raise r.fail(node, f"`{key}:` checks a step: give `step:` too")
        bounds = args[key]
        if (
            not bounds
            or set(bounds) - {"min", "max"}
            or not all(
                isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in bounds.values()
            )
        ):
            raise r.fail(node, f"`{key}:` is {{min: N}} and/or {{max: N}}, counts of responses")
        args[key] = tuple(sorted(bounds.items()))
    if "step" in args and not 1 <= args["step"] <= n_steps:
        raise r.fail(node, f"step {args['step']} does not exist (the scenario has {n_steps})")
    if "during" in args and not 1 <= args["during"] <= n_steps:
        raise r.fail(node, f"during: step {args['during']} does not exist")
    if "packets" in args and not {"count", "min", "max"} & set(args):
        raise r.fail(node, "a packets expectation needs `count:`, `min:` or `max:`")
    if "in" in args:
        if "packets" not in args or args["in"] not in ("capture", "hops"):
            raise r.fail(node, "`in:` is capture or hops, for a packets expectation")
        args["in_"] = args.pop("in")
    return Expect(line=node.start_mark.line + 1, **args)


def load(path: Path) -> Scenario:
    """Parse one scenario file, rejecting unknown keys, steps and faults with file:line."""
    root = yamlfile.compose(path, "scenario")
    r = _Reader(path)
    if not isinstance(root, yaml.MappingNode):
        raise UsageError(f"{path}:1: a scenario is a mapping with keys {sorted(TOP_KEYS)}")
    top: dict[str, yaml.Node] = {}
    for k_node, v_node in root.value:
        key = r.value(k_node, str, "a key")
        if key not in TOP_KEYS:
            raise r.fail(k_node, f"unknown key {key!r}; expected one of {sorted(TOP_KEYS)}")
        top[key] = v_node
    for required in ("name", "steps"):
        if required not in top:
            raise UsageError(f"{path}:1: missing required key {required!r}")

    def seq(key: str) -> list[yaml.Node]:
        node = top.get(key)
        if node is None:
            return []
        if not isinstance(node, yaml.SequenceNode):
            raise r.fail(node, f"{key} must be a list")
        return list(node.value)

    steps = tuple(_step(r, n) for n in seq("steps"))
    if not steps:
        raise r.fail(top["steps"], "steps must be a non-empty list")
    for s in steps:
        if s.kind == "wait" and not 0 < float(s.args["seconds"]) <= 120:
            raise UsageError(f"{r.path}:{s.line}: wait takes 0 < seconds <= 120")
        if s.kind == "profile":
            _check_profile(r.path, s.line, s.args["name"])
        if s.kind == "flush" and s.args["service"] not in FLUSHABLE:
            raise UsageError(f"{r.path}:{s.line}: flush takes one of {', '.join(FLUSHABLE)}")
    profile: str | dict[str, Any] | None = None
    if "profile" in top:
        node = top["profile"]
        given = r.value(node, dict if isinstance(node, yaml.MappingNode) else str, "profile")
        _check_profile(r.path, node.start_mark.line + 1, given)
        profile = given
    faults = tuple(_fault(r, n) for n in seq("faults"))
    for f, node in zip(faults, seq("faults"), strict=False):
        if not 1 <= f.before_step <= len(steps):
            raise r.fail(node, f"before_step {f.before_step} is not a step of this scenario")
    cold = top.get("cold_dns")
    cold_edge = top.get("cold_edge")
    return Scenario(
        name=r.value(top["name"], str, "name"),
        description=r.value(top["description"], str, "description") if "description" in top else "",
        path=path,
        cold_dns=bool(r.value(cold, bool, "cold_dns")) if cold is not None else False,
        cold_edge=bool(r.value(cold_edge, bool, "cold_edge")) if cold_edge is not None else False,
        profile=profile,
        faults=faults,
        steps=steps,
        expect=tuple(_expect(r, n, len(steps)) for n in seq("expect")),
    )


def _check_profile(path: Path, line: int, profile: str | dict[str, Any]) -> None:
    """A profile name or mapping that lab/distance.py accepts, else file:line and why."""
    from lab import distance

    try:
        distance.resolve(profile)
    except UsageError as e:
        raise UsageError(f"{path}:{line}: {e}") from e


def expand_filter(text: str, plan: topology.Plan = topology.DEFAULT_PLAN) -> str:
    """Replace $service names in a display filter with the hosts' addresses in the lab's PLAN."""
    groups = {"roots": ("root-a", "root-b"), "tlds": ("tld-a", "tld-b")}
    for name, members in groups.items():
        text = text.replace(f"${name}", "{" + ", ".join(plan.address(m) for m in members) + "}")
    text = text.replace("$public", plan.public)  # the home's address on the ISP's side (NAT)
    for host in sorted(plan.hosts, key=lambda h: -len(h.service)):
        text = text.replace(f"${host.service}", host.ipv4)
    if "$" in text:
        raise UsageError(
            f"unknown $name in packet filter {text!r}; names: "
            f"{', '.join(['$roots', '$tlds', '$public', *('$' + s for s in topology.BY_SERVICE)])}"
        )
    return text


def available(directory: Path = SCENARIO_DIR) -> dict[str, Path]:
    return {p.stem: p for p in sorted(directory.glob("*.yaml"))}


def find(name: str, directory: Path = SCENARIO_DIR) -> Scenario:
    """A scenario by name (lab/scenarios/NAME.yaml) or by path to a YAML file."""
    as_path = Path(name)
    if as_path.suffix in (".yaml", ".yml") and as_path.exists():
        return load(as_path)
    if as_path.suffix in (".yaml", ".yml") or "/" in name:
        raise UsageError(
            f"{name}: no such file (a scenario file's path, relative to {Path.cwd()}, "
            "or a scenario's name from `lab scenarios`)"
        )
    known = available(directory)
    if name not in known:
        raise UsageError(
            f"unknown scenario {name!r}; available: {', '.join(known) or 'none'}"
            f" (or give the path of a .yaml file)"
        )
    return load(known[name])

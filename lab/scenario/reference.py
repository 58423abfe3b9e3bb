"""docs/scenarios.md, the scenario format's reference page, built from the loader's tables.

Each step and fault kind's description is its help string in spec.py; the
arguments and their types are spec.py's too. What spec.py does not hold (one
line per argument, an example of each kind) is here, keyed by kind, so a kind
added to spec.py without them fails generation and the unit test that
compares the committed page with this output. Every example is loaded by the
real loader in that test.

    .venv/bin/python -m lab.scenario.reference > docs/scenarios.md
"""

from __future__ import annotations

from lab import topology
from lab.scenario import spec
from lab.scenario.schema import EXPECT_HELP, TOP_HELP

_TYPE = {str: "text", int: "integer", float: "number", bool: "true/false", dict: "mapping"}
_TYPE |= {list: "list", object: "any value"}

# (kind, argument) first, then the argument alone.
ARG_HELP: dict[tuple[str, str] | str, str] = {
    "url": "the URL",
    ("browse", "visits"): "how many times to open the page (2: a reload on the warm connections)",
    ("browse", "http"): f"HTTP version: {', '.join(spec.BROWSE_HTTP)} (default auto, by ALPN)",
    ("dig", "name"): "the name to look up",
    ("dig", "type"): "the record type (default A)",
    ("dig", "server"): "ask one cache layer, `stub` (127.0.0.53), `router` (the home "
    "router) or `resolver` (the ISP's), or an address, instead of resolv.conf's stub",
    ("dig", "tcp"): "over TCP (`+tcp`)",
    ("dig", "norec"): "recursion not desired (`+norec`): what the server itself holds",
    ("wait", "seconds"): "how long, 0 < seconds <= 120",
    ("fetch", "method"): "the HTTP method (default GET)",
    ("fetch", "headers"): "request headers, name: value",
    ("fetch", "json"): "a JSON body (any YAML value; `$run` in it is replaced)",
    ("fetch", "retries"): "retries on 429/503 and connection errors, waiting as Retry-After says",
    ("fetch", "token"): "a bearer token, or `login` / `tampered` / `expired` to get one "
    "from the API first",
    ("fetch", "connect_to"): "`host:port` (a lab service name or an address) to connect to "
    "instead of DNS's answer; SNI and the certificate check keep the URL's host",
    ("fetch", "follow"): "follow redirects",
    ("chromium", "http"): f"{' or '.join(spec.CHROMIUM_HTTP)} (default auto: what Chromium "
    "negotiates; 3 forces QUIC)",
    ("websocket", "post"): "the HTTPS URL to POST the change to once subscribed",
    ("websocket", "json"): "the POST's JSON body",
    ("websocket", "expect"): "the event type to wait for (e.g. user.created)",
    ("websocket", "http"): "2: over HTTP/2 extended CONNECT (RFC 8441); default 1.1",
    ("poison", "mode"): "defended (the resolver as it is) or weak (its source port fixed to "
    "5300 for the step)",
    ("poison", "tries"): "races, each for a fresh made-up name (default 5, at most 50)",
    ("poison", "burst"): "forged answers per race at most (default 65536: every ID once)",
    ("profile", "name"): f"a profile: {', '.join(topology.PROFILES)}",
    ("flush", "service"): f"{' or '.join(spec.FLUSHABLE)}",
    ("dhcp", "action"): f"{' or '.join(spec.DHCP_ACTIONS)}",
    ("trace", "host"): "the host to trace the route to (a name or an address)",
    ("trace", "tool"): f"{' or '.join(spec.TRACE_TOOLS)} (default traceroute)",
    "service": f"the host: {', '.join(topology.BY_SERVICE)}",
    ("api", "service"): "`api` (the only host with the switch)",
    "before_step": "apply it just before this step (default 1: before the first)",
    "percent": "share of packets dropped, 0 < percent <= 100",
    "ms": "extra one-way delay in ms, above 0",
    "to": "the host that receives the packet and loses it (default client)",
    "proto": "tcp or udp (default tcp)",
    "port": "the source port of the packets counted (default 443)",
    "packet": "which of the matching packets to drop, from 1 (once: the rest pass)",
    "min_bytes": "count only packets of at least this many bytes (default 0: all)",
    "after_bytes": "count only once the packet's connection has brought this many bytes "
    "(default 0: from its first)",
    "error_rate": "share of requests answered with `status` (0..1)",
    "status": "the status of those errors (e.g. 503)",
    "retry_after": "the Retry-After seconds sent with them",
    "latency_ms": "extra time before every answer",
    "drop_rate": "share of requests whose connection is closed unanswered (0..1)",
}

STEP_EXAMPLES: dict[str, str] = {
    "browse": '- browse: {url: "https://www.example.com/", visits: 2, http: "2"}',
    "dig": "- dig: {name: www.example.com, type: AAAA, tcp: true}",
    "wait": "- wait: 6",
    "fetch": '- fetch: {url: "https://api.example.com/api/users", method: POST, token: login,\n'
    '          retries: 3, json: {username: "user-$run"}}',
    "chromium": '- chromium: {url: "https://www.example.com/", http: "3"}',
    "websocket": '- websocket: {url: "wss://api.example.com/api/users/events",\n'
    '              post: "https://api.example.com/api/users",\n'
    '              json: {username: "ws-$run", email: "ws-$run@example.com"},\n'
    "              expect: user.created}",
    "poison": "- poison: {mode: weak, tries: 5}",
    "profile": "- profile: lan",
    "flush": "- flush: resolver",
    "dhcp": "- dhcp: renew",
    "trace": "- trace: {host: www.example.com, tool: tracepath}",
}
FAULT_EXAMPLES: dict[str, str] = {
    "stop": "- stop: {service: origin, before_step: 2}",
    "pause": "- pause: {service: ns-example}",
    "blackhole": "- blackhole: {service: tld-a}",
    "loss": "- loss: {service: edge, percent: 5}",
    "drop": "- drop: {service: edge, proto: udp, packet: 12, min_bytes: 1000}",
    "delay": "- delay: {service: origin, ms: 200}",
    "api": "- api: {service: api, error_rate: 0.5, status: 503, retry_after: 1}",
}
EXPECT_EXAMPLES: tuple[tuple[str, str, str], ...] = (
    (
        "A step's outcome",
        "`step:` and any of `status`, `cache`, `rcode`, `ok`, `error`, `attempts`, `max_ms`, "
        "`rtts`, `note`.",
        "- {step: 1, status: 200, cache: MISS, max_ms: 2000}\n"
        "- {step: 2, rcode: NXDOMAIN}\n"
        "- {step: 1, ok: false, error: certificate has expired}\n"
        "- {step: 1, rtts: {connect: 1, tls: 1, dns: 1}, note: one round trip each}",
    ),
    (
        "Packets in the capture",
        "`packets:` (a tshark display filter) and at least one of `count`, `min`, `max`; "
        "`during: N` counts only what step N sent; `in: hops` counts in hops.pcapng (every "
        "copy of each packet, one per network it crossed) instead of capture.pcapng. "
        "`$edge`, `$client`, ... stand for a host's address (a router's: its first "
        "interface), `$public` for the home's public address, `$roots` and `$tlds` for the "
        "set of both.",
        '- packets: "dns.flags.response == 0 && ip.dst == $roots"\n'
        "  count: 1\n"
        "  during: 1\n"
        "  note: the resolver asked a root server once",
    ),
    (
        "A resolver walk",
        "`walk:` a name and `via:` the servers the resolver asked for it, in order, from the "
        "client's first question on (`roots`, `tlds`, or a host).",
        "- walk: www.example.com\n  via: [roots, tlds, ns-example]",
    ),
)


def _args_table(kind: str, args: dict[str, type], short: str | None) -> list[str]:
    rows = ["| argument | type | meaning |", "|---|---|---|"]
    for arg, typ in args.items():
        meaning = ARG_HELP.get((kind, arg)) or ARG_HELP[arg]
        mark = " (the short form's value)" if arg == short else ""
        rows.append(f"| `{arg}`{mark} | {_TYPE[typ]} | {meaning} |")
    return rows


def _yaml(text: str) -> list[str]:
    return ["```yaml", text, "```"]


def reference_markdown() -> str:
    """The whole page, from spec.py's STEP_KINDS, FAULT_KINDS, EXPECT_KEYS and TOP_KEYS."""
    out = [
        "# Scenario files",
        "",
        "<!-- Generated by `python -m lab.scenario.reference` from lab/scenario/spec.py"
        " (kinds, arguments, help) and lab/scenario/reference.py (examples): edit those and"
        " regenerate. -->",
        "",
        "A scenario is a YAML file: `lab run FILE.yaml` runs it, `lab scenario check FILE...`"
        " checks it without running anything (the loader's own errors, with file:line), and"
        " [scenario.schema.json](scenario.schema.json) (`lab scenario schema`) lets an editor"
        " complete and flag keys as you type, e.g. with the YAML language server:"
        " `# yaml-language-server: $schema=PATH/TO/docs/scenario.schema.json` as the file's first"
        " line.",
        "",
        "```yaml",
        "name: packet-loss",
        "description: 5% loss on the edge's interface",
        "cold_edge: true",
        "faults:",
        "  - loss: {service: edge, percent: 5}",
        "steps:",
        "  - browse: https://www.example.com/",
        "expect:",
        "  - {step: 1, status: 200}",
        '  - packets: "tcp.analysis.retransmission && ip.addr == $edge"',
        "    min: 1",
        "```",
        "",
        "In step arguments `$run` stands for a token unique to the run (a fresh user name on"
        " every run).",
        "",
        "## Top-level keys",
        "",
        "`name` and `steps` are required; any other key is an error.",
        "",
        "| key | meaning |",
        "|---|---|",
        *(f"| `{k}` | {TOP_HELP[k]} |" for k in TOP_HELP if k in spec.TOP_KEYS),
        "",
        "## Steps",
        "",
        "Each step is one `kind: ...` pair: a mapping of arguments, or the short form, a plain"
        " value for the argument marked below.",
    ]
    for kind, (help_, args, short) in spec.STEP_KINDS.items():
        out += ["", f"### `{kind}`", "", help_[0].upper() + help_[1:] + ".", ""]
        out += [*_args_table(kind, args, short), "", *_yaml(STEP_EXAMPLES[kind])]
    out += [
        "",
        "## Faults",
        "",
        "Each fault is one `kind: {service: ..., ...}` pair under `faults:`, applied before"
        " the steps (or just before `before_step`) and removed after the run, Ctrl-C included.",
    ]
    for kind, (help_, args) in spec.FAULT_KINDS.items():
        out += ["", f"### `{kind}`", "", help_[0].upper() + help_[1:] + ".", ""]
        out += [*_args_table(kind, args, None), "", *_yaml(FAULT_EXAMPLES[kind])]
    out += [
        "",
        "## Expectations",
        "",
        "Each entry under `expect:` is checked after the run and is about exactly one of: a"
        " step's outcome, the packets, or a resolver walk.",
    ]
    for title, what, example in EXPECT_EXAMPLES:
        out += ["", f"### {title}", "", what, "", *_yaml(example)]
    out += ["", "### Every expectation key", "", "| key | type | meaning |", "|---|---|---|"]
    out += [f"| `{k}` | {_TYPE[t]} | {EXPECT_HELP[k]} |" for k, t in spec.EXPECT_KEYS.items()]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(reference_markdown(), end="")

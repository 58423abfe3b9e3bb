"""Run a scenario: inject its faults, capture the lab while the client does its steps.

A run leaves ``runs/<time>-<scenario>/`` behind:

- capture.pcapng   every lab packet of the run, TLS secrets embedded
- timeline.json    the steps and every request with its timings, the
                   expectations and whether they held
- report.html      the story of the run: sequence diagram, waterfall, narration
- run.har          the HTTP requests as HAR 1.2 (browser devtools open it)
- keys.log         the TLS key log (also embedded in the capture)
- services.log     the servers' structured logs during the run
- events.jsonl     what the client reported as it went
- INTERRUPTED      present only if the run was stopped with Ctrl-C
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lab import browser, distance, dnscaches, topology
from lab.capture.pcapng import annotate_run
from lab.capture.record import make_capture, sample_forgeries, seal
from lab.compose import Lab
from lab.report import build_report
from lab.report.har import write_har
from lab.scenario import hol
from lab.scenario.expect import Checked, StepOutcome, check
from lab.scenario.faults import Faults
from lab.scenario.spec import Scenario
from lab.scenario.steps import run_step


@dataclass
class RunResult:
    folder: Path
    capture: Path
    timeline: dict[str, Any]
    ok: bool
    seconds: float
    checks: list[Checked] = field(default_factory=list)
    # Steps an expectation looks at: their own failure is judged by it, not by `ok`.
    expected_steps: frozenset[int] = frozenset()


def say(msg: str) -> None:
    print(f"  {msg}", flush=True)


def run_scenario(lab: Lab, scenario: Scenario, runs_dir: Path, raw: bool = False) -> RunResult:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    folder = runs_dir / f"{stamp}-{scenario.name}"
    folder.mkdir(parents=True, exist_ok=False)
    t_run = time.monotonic()
    keylog_dir = runs_dir / "keylog"
    keylog_dir.mkdir(exist_ok=True)
    faults = Faults(lab, scenario.faults)
    if any(step.kind == "chromium" for step in scenario.steps):
        browser.ensure_image(lab.image, say)  # once per lab image, before any step's clock
    also = None
    if any(step.kind == "poison" for step in scenario.steps):
        also = sample_forgeries(lab.mac("attacker"))
    bridges = lab.bridges()
    capture = make_capture(list(bridges.values()), folder / "raw.pcapng", lab.image, raw,
                           list(lab.plan.bridges.values()), also)  # fmt: skip
    since = dt.datetime.now(dt.UTC).isoformat()
    events: list[dict[str, Any]] = []
    outcomes: list[StepOutcome] = []
    started = time.time()
    interrupted = False
    overhead: dict[str, float] = {}  # what the capture and the report add to a run, seconds
    before = distance.current(lab)
    profile = scenario.profile if scenario.profile is not None else before
    profile_name, links = distance.resolve(profile)
    changed = False
    t0 = time.monotonic()
    # The capture starts before any restart, so a fresh server's first SYN (and
    # the TLS handshakes of its new upstream connections) are in the file.
    capture.start()
    overhead["capture_start"] = round(time.monotonic() - t0, 3)
    try:
        if scenario.profile is not None and scenario.profile != before:
            distance.apply(lab, scenario.profile, say)
            changed = True
        if scenario.cold_edge:
            say("prep  restarting the edge: empty cache, no open connections to the origins")
            lab.restart("edge")
        if scenario.cold_dns:
            # After the edge: its own lookups at start (the origins' names) went to the
            # old resolver, so the new one starts empty and the client's walk is whole.
            say("prep  restarting the resolver so its cache is empty")
            lab.restart("resolver")
        mechanisms = distance.Applied("", links, distance.statuses(lab)).mechanisms()
        if scenario.cold_dns:
            # The edge resolves its origins again whenever their addresses expire, and
            # the new resolver walks from the root for it: once, in CI, just before a
            # dns-trace, so the client's walk found com. and net. cached. Emptied again
            # here, right before the first step, the client's walk is whole.
            # A cold start is a machine joining the network: it takes a fresh DHCP lease,
            # then the stub's and the home router's caches are empty too, and the neighbour
            # caches, so the first step starts with ARP for the gateway and the stub's
            # first question (all in the capture, which is already running).
            say("prep  the client renews its DHCP lease; every DNS cache and the ARP caches "
                "emptied")  # fmt: skip
            lab.exec("client", "python", "-m", "services.client.lease", "renew", check=True,
                     timeout=60)  # fmt: skip
            dnscaches.flush(lab)
            dnscaches.forget_neighbours(lab)
        for i, step in enumerate(scenario.steps, 1):
            faults.apply(say, before_step=i)
            print(f"step {i}/{len(scenario.steps)}: {step.kind} {step.target}", flush=True)
            if step.kind == "profile":
                profile_name, links = distance.resolve(step.args["name"])
                changed = True
            outcome = run_step(lab, i, step, folder, events)
            outcome.detail["one_way_ms"] = {s: link.delay_ms for s, link in links.items()}
            outcome.detail["profile"] = profile_name
            outcomes.append(outcome)
    except KeyboardInterrupt:
        interrupted = True
        (folder / "INTERRUPTED").write_text(
            "the run was stopped with Ctrl-C; faults were removed and the capture closed\n"
        )
        raise
    finally:
        try:
            faults.remove(say)
            if changed:
                distance.apply(lab, before, say)
        finally:
            t0 = time.monotonic()
            capture.stop()
            client_keys = sorted(folder.glob("step-*/client.keylog"))
            n_keys = seal(folder, lab.plan.networks, bridges, keylog_dir, client_keys)
            overhead["capture_stop_and_secrets"] = round(time.monotonic() - t0, 3)
            (folder / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
            logs = lab.compose(
                "logs", "--no-color", "--no-log-prefix", "--since", since, check=False, capture=True
            )
            (folder / "services.log").write_text(logs.stdout)
            if interrupted:
                _write_timeline(
                    folder, scenario, started, outcomes, [], faults.notes, n_keys, lab.plan
                )
    losses = hol.for_run(folder / "capture.pcapng", outcomes, scenario.faults, lab.plan)
    for i, found in losses.items():
        outcomes[i - 1].detail["hol"] = found.as_dict()
    checks = check(scenario.expect, outcomes, folder / "capture.pcapng", lab.plan)
    timeline = _write_timeline(
        folder, scenario, started, outcomes, checks, faults.notes, n_keys, lab.plan
    )
    timeline["hol"] = [found.as_dict() for found in losses.values()]
    timeline["poison"] = [
        dict(o.detail["poison"], step=o.index) for o in outcomes if "poison" in o.detail
    ]
    on_wire = wire_bytes(folder / "capture.pcapng", outcomes, lab.plan)
    for row in timeline["phases"]:
        row["wire_bytes"] = on_wire.get(row["step"], 0)
    (folder / "timeline.json").write_text(json.dumps(timeline, indent=2))  # the report reads it
    timeline["distance"] = {
        "profile": profile if isinstance(profile, str) else distance.resolve(profile)[0],
        "mechanism": mechanisms,
        "one_way_ms": {s: link.delay_ms for s, link in distance.resolve(profile)[1].items()},
    }
    t_post = time.monotonic()
    annotate_run(folder / "capture.pcapng", scenario.name, timeline)
    annotate_run(folder / "hops.pcapng", scenario.name, timeline)
    write_har(folder)
    build_report(folder)
    overhead["names_har_report"] = round(time.monotonic() - t_post, 3)
    timeline["overhead_seconds"] = overhead
    (folder / "timeline.json").write_text(json.dumps(timeline, indent=2))
    expected_steps = {e.step for e in scenario.expect if e.step is not None}
    ok = run_ok(scenario, outcomes, checks)
    return RunResult(
        folder,
        folder / "capture.pcapng",
        timeline,
        ok,
        time.monotonic() - t_run,
        checks,
        frozenset(expected_steps),
    )


def _write_timeline(
    folder: Path,
    scenario: Scenario,
    started: float,
    outcomes: list[StepOutcome],
    checks: list[Checked],
    notes: list[str],
    n_keys: int,
    plan: topology.Plan = topology.DEFAULT_PLAN,
) -> dict[str, Any]:
    """Merge the steps' own timelines into one document for the report and the HAR."""
    fetches: list[dict[str, Any]] = []
    dns: list[dict[str, Any]] = []
    for o in outcomes:
        fetches += [dict(f, step=o.index) for f in o.detail.get("fetches", [])]
        dns += [dict(d, step=o.index) for d in o.detail.get("dns", [])]
    doc = {
        "scenario": scenario.name,
        "description": scenario.description,
        # The lab's networks (the capture's addresses are in them) and a user's own
        # services (weblab.yaml), named too: topology.plan_of reads them back.
        **topology.recorded(plan),
        "started": started,
        "finished": time.time(),
        "cold_dns": scenario.cold_dns,
        "cold_edge": scenario.cold_edge,
        "faults": [asdict(f) for f in scenario.faults],
        "fault_notes": notes,
        "steps": [{k: v for k, v in asdict(o).items() if k != "detail"} for o in outcomes],
        "phases": phases(outcomes),
        "fetches": fetches,
        "dns": dns,
        "expectations": [asdict(c) for c in checks],
        "tls_secrets": n_keys,
        "ok": run_ok(scenario, outcomes, checks),
    }
    (folder / "timeline.json").write_text(json.dumps(doc, indent=2))
    return doc


def run_ok(scenario: Scenario, outcomes: list[StepOutcome], checks: list[Checked]) -> bool:
    """Every expectation held, and every step no expectation looks at succeeded (a step
    expected to fail, a 401 say, is judged by its expectation)."""
    expected_steps = {e.step for e in scenario.expect if e.step is not None}
    return all(c.passed for c in checks) and all(
        o.ok for o in outcomes if o.index not in expected_steps
    )


def phases(outcomes: list[StepOutcome]) -> list[dict[str, Any]]:
    """Where each page load's time went: DNS, TCP, TLS, first byte, subresources."""
    out = []
    for o in outcomes:
        fetches = o.detail.get("fetches", [])
        if o.kind not in ("browse", "chromium") or not fetches:
            continue
        # The page itself (Chromium's NetLog also holds its vendor's background requests).
        page = next((f for f in fetches if f["url"] == o.target), fetches[0])
        used = [f for f in fetches if f.get("connection")]  # fetches that reached a server
        one_way = o.detail.get("one_way_ms", {})
        rtt = 2 * (one_way.get("client", 0) + one_way.get("edge", 0))
        before_first_byte = (
            float(page["connect_ms"]) + float(page["tls_ms"]) + float(page["ttfb_ms"])
        )
        out.append(
            {
                "step": o.index,
                "profile": o.detail.get("profile", ""),
                "http": ",".join(
                    sorted({str(f["http_version"]) for f in used if f.get("http_version")})
                ),
                "tls_handshakes": sum(1 for f in fetches if float(f.get("tls_ms") or 0) > 0),
                "in_flight": in_flight(fetches),
                "rtts_before_first_byte": round(before_first_byte / rtt, 1) if rtt else None,
                "rtt_client_edge_ms": 2 * (one_way.get("client", 0) + one_way.get("edge", 0)),
                "dns_ms": round(sum(float(f["dns_ms"]) for f in fetches), 1),
                "tcp_ms": round(sum(float(f["connect_ms"]) for f in fetches), 1),
                "tls_ms": round(sum(float(f["tls_ms"]) for f in fetches), 1),
                "first_byte_ms": round(float(page["ttfb_ms"]), 1),
                "page_ms": round(float(page["total_ms"]), 1),
                "subresources_ms": round(o.ms - float(page["total_ms"]), 1),
                "total_ms": round(o.ms, 1),
                "connections": sum(1 for f in used if not f.get("reused_connection")),
                "cache": sorted({str(f.get("cache") or "-") for f in fetches}),
            }
        )
    return out


def in_flight(fetches: list[dict[str, Any]]) -> int:
    """The most requests that were open at the same moment (started, not yet finished)."""
    edges = []
    for f in fetches:
        start = float(f.get("started") or 0)
        edges += [(start, 1), (start + float(f.get("total_ms") or 0) / 1000, -1)]
    most = now = 0
    for _, step in sorted(edges, key=lambda e: (e[0], e[1])):
        now += step
        most = max(most, now)
    return most


def wire_bytes(
    capture: Path, outcomes: list[StepOutcome], plan: topology.Plan = topology.DEFAULT_PLAN
) -> dict[int, int]:
    """Bytes on the wire between the client and the edge while each browse step ran.

    One tshark pass over the capture, whatever the number of steps."""
    steps = [o for o in outcomes if o.kind in ("browse", "chromium")]
    if not steps:
        return {}
    client, edge = plan.address("client"), plan.address("edge")
    r = subprocess.run(
        ["tshark", "-r", str(capture), "-Y", f"ip.addr == {client} && ip.addr == {edge}",
         "-T", "fields", "-e", "frame.time_epoch", "-e", "frame.len"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    out = {o.index: 0 for o in steps}
    for line in r.stdout.splitlines():
        when, _, size = line.partition("\t")
        if not size.isdigit():
            continue
        t = float(when)
        for o in steps:
            if o.started <= t <= o.finished:
                out[o.index] += int(size)
    return out


def format_phases(rows: list[dict[str, Any]]) -> list[str]:
    """The phases table: one line per page load."""
    if not rows:
        return []
    head = (
        f"{'where the time went':<24} {'rtt':>5} {'dns':>7} {'tcp':>7} {'tls':>7}"
        f" {'1st byte':>8} {'subres':>8} {'total':>8}  cache"
    )
    lines = ["", head, "-" * len(head)]
    for r in rows:
        label = f"step {r['step']} ({r['profile'] or '?'})"
        lines.append(
            f"{label:<24} {r['rtt_client_edge_ms']:>5g} {r['dns_ms']:>7.1f} {r['tcp_ms']:>7.1f}"
            f" {r['tls_ms']:>7.1f} {r['first_byte_ms']:>8.1f} {r['subresources_ms']:>8.1f}"
            f" {r['total_ms']:>8.1f}  {','.join(r['cache'])}"
        )
    lines.append(
        "ms; rtt = client <-> edge round trip of the profile; dns/tcp/tls summed over the"
        " page's connections; subres = after the page itself"
    )
    head = (
        f"{'per version':<24} {'http':>5} {'conns':>5} {'TLS hs':>6} {'RTTs to 1st byte':>16}"
        f" {'in flight':>9} {'wire bytes':>10} {'total ms':>9}"
    )
    lines += ["", head, "-" * len(head)]
    for r in rows:
        label = f"step {r['step']} ({r['profile'] or '?'})"
        rtts = (
            "-" if r.get("rtts_before_first_byte") is None else f"{r['rtts_before_first_byte']:g}"
        )
        handshakes = r.get("tls_handshakes", 0)
        lines.append(
            f"{label:<24} {r.get('http', ''):>5} {r['connections']:>5} {handshakes:>6}"
            f" {rtts:>16} {r.get('in_flight', 0):>9} {r.get('wire_bytes', 0):>10}"
            f" {r['total_ms']:>9.1f}"
        )
    return lines


def format_timeline(timeline: dict[str, Any]) -> str:
    """A compact table of every request: where the time went, and the cache's answer."""
    head = (
        f"{'request':<44} {'st':>3} {'cache':<6} {'dns':>7} {'tcp':>7} {'tls':>7}"
        f" {'ttfb':>7} {'dl':>7} {'total':>8}"
    )
    rows = [head, "-" * len(head)]

    def ms(v: float, reused: bool = False) -> str:
        return "reuse" if reused else (f"{v:.1f}" if v else "-")

    for f in timeline.get("fetches", []):
        url = f["url"].replace("https://", "")
        url = url if len(url) <= 44 else url[:41] + "..."
        reused = bool(f.get("reused_connection"))
        rows.append(
            f"{url:<44} {f['status'] or 'ERR':>3} {f.get('cache') or '-':<6}"
            f" {ms(f['dns_ms'], reused):>7} {ms(f['connect_ms'], reused):>7}"
            f" {ms(f['tls_ms'], reused):>7} {f['ttfb_ms']:>7.1f} {f['download_ms']:>7.1f}"
            f" {f['total_ms']:>8.1f}"
        )
        if f.get("error"):
            rows.append(f"    error: {f['error']}")
    if timeline.get("fetches"):
        rows.append(
            "times in ms; dns/tcp/tls 'reuse' = a connection already open (kept alive over"
            " HTTP/1.x, one more stream over HTTP/2), no new handshake"
        )
    for s in timeline.get("steps", []):
        if s["kind"] != "browse":
            state = "ok" if s["ok"] else f"FAILED {s['error']}"
            extra = f" status={s['status']}" if s["status"] is not None else ""
            extra += f" rcode={s['rcode']}" if s["rcode"] else ""
            rows.append(
                f"step {s['index']} {s['kind']} {s['target']}: {state}{extra} ({s['ms']:.1f} ms)"
            )
    rows += format_phases(timeline.get("phases", []))
    for note in timeline.get("fault_notes", []):
        rows.append(f"note: {note}")
    for c in timeline.get("expectations", []):
        rows.append(f"expect {'PASS' if c['passed'] else 'FAIL'}: {c['what']} -> {c['found']}")
    return "\n".join(rows)

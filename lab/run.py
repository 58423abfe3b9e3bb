"""Run a scenario: capture the lab network while the client does its steps.

A run leaves ``runs/<time>-<scenario>/`` behind:

- capture.pcapng   every lab packet of the run, TLS secrets embedded
- timeline.json    the client's steps with their timings
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab.capture import Capture, KeylogSlice, embed_secrets
from lab.errors import LabError
from lab.labctl import Lab
from lab.scenario import Scenario


@dataclass
class RunResult:
    folder: Path
    capture: Path
    timeline: dict[str, Any]
    ok: bool
    seconds: float


def _print_event(ev: dict[str, Any]) -> None:
    kind = ev.get("event", "")
    if kind == "dns.query":
        print(f"  DNS   ? {ev['name']} A  (asking {ev['server']})", flush=True)
    elif kind == "dns.answer":
        chain = "; ".join(ev.get("chain") or [])
        addrs = ", ".join(ev.get("addresses") or []) or "-"
        print(f"  DNS   = {ev['name']} -> {addrs}  {ev['rcode']} {ev['ms']:.1f} ms"
              + (f"  via {chain}" if chain else ""), flush=True)
    elif kind == "tcp.connected":
        print(f"  TCP   connected to {ev['address']}:{ev['port']} ({ev['host']})"
              f" {ev['ms']:.1f} ms", flush=True)
    elif kind == "tls.established":
        print(f"  TLS   {ev['version']} {ev['cipher']} alpn={ev['alpn']} with {ev['host']}"
              f" {ev['ms']:.1f} ms", flush=True)
    elif kind == "http.done":
        err = f"  ERROR {ev['error']}" if ev.get("error") else ""
        print(f"  HTTP  {ev['status'] or '---'} {ev['url']}  {ev['bytes']} B"
              f"  cache={ev.get('cache') or '-'}{err}", flush=True)


def run_scenario(lab: Lab, scenario: Scenario, runs_dir: Path) -> RunResult:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    folder = runs_dir / f"{stamp}-{scenario.name}"
    folder.mkdir(parents=True, exist_ok=False)
    t_run = time.monotonic()
    if scenario.cold_dns:
        print("  prep  restarting the resolver so its cache is empty", flush=True)
        lab.restart("resolver")
    keylog_dir = runs_dir / "keylog"
    keylog_dir.mkdir(exist_ok=True)
    keys = KeylogSlice(keylog_dir)
    capture = Capture(lab.bridge(), folder / "raw.pcapng")
    since = dt.datetime.now(dt.timezone.utc).isoformat()
    capture.start()
    events: list[dict[str, Any]] = []
    ok = True
    try:
        for i, step in enumerate(scenario.steps, 1):
            print(f"step {i}/{len(scenario.steps)}: {step.kind} {step.target}", flush=True)
            ok = _run_browse(lab, step.target, folder, events) and ok
    except KeyboardInterrupt:
        (folder / "INTERRUPTED").write_text("the run was stopped with Ctrl-C\n")
        raise
    finally:
        capture.stop()
        n_keys = keys.collect([folder / "client.keylog"], folder / "keys.log")
        embed_secrets(folder / "raw.pcapng", folder / "keys.log", folder / "capture.pcapng")
        (folder / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
        logs = lab.compose("logs", "--no-color", "--no-log-prefix", "--since", since,
                           check=False, capture=True)
        (folder / "services.log").write_text(logs.stdout)
    timeline_file = folder / "timeline.json"
    timeline = json.loads(timeline_file.read_text()) if timeline_file.exists() else {}
    timeline["tls_secrets"] = n_keys
    timeline_file.write_text(json.dumps(timeline, indent=2))
    return RunResult(folder, folder / "capture.pcapng", timeline, ok,
                     time.monotonic() - t_run)


def _run_browse(lab: Lab, url: str, folder: Path, events: list[dict[str, Any]]) -> bool:
    """Run the browse client in the client container, relaying its progress live."""
    cid = lab.container_id("client")
    proc = subprocess.Popen(
        ["docker", "exec", cid, "python", "-m", "lab.client.browse", url,
         "--out", f"/runs/{folder.name}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stderr is not None
    for line in proc.stdout:
        try:
            ev = json.loads(line)
        except json.JSONDecodeError:
            print("  " + line.rstrip(), flush=True)
            continue
        events.append(ev)
        _print_event(ev)
    err = proc.stderr.read()
    code = proc.wait()
    if code not in (0, 1):
        raise LabError(f"the browse client failed in the client container (exit {code}):\n"
                       f"{err.strip()[-1500:]}")
    return code == 0


def format_timeline(timeline: dict[str, Any]) -> str:
    """A compact table of every request: where the time went, and the cache's answer."""
    head = (f"{'request':<44} {'st':>3} {'cache':<6} {'dns':>7} {'tcp':>7} {'tls':>7}"
            f" {'ttfb':>7} {'dl':>7} {'total':>8}")
    rows = [head, "-" * len(head)]
    for f in timeline.get("fetches", []):
        url = f["url"].replace("https://", "")
        url = url if len(url) <= 44 else url[:41] + "..."

        def ms(v: float, reused: bool = False) -> str:
            return "reuse" if reused else (f"{v:.1f}" if v else "-")

        reused = bool(f.get("reused_connection"))
        rows.append(
            f"{url:<44} {f['status'] or 'ERR':>3} {f.get('cache') or '-':<6}"
            f" {ms(f['dns_ms'], reused):>7} {ms(f['connect_ms'], reused):>7}"
            f" {ms(f['tls_ms'], reused):>7} {f['ttfb_ms']:>7.1f} {f['download_ms']:>7.1f}"
            f" {f['total_ms']:>8.1f}")
        if f.get("error"):
            rows.append(f"    error: {f['error']}")
    rows.append("times in ms; dns/tcp/tls 'reuse' = kept-alive connection, no new handshake")
    return "\n".join(rows)

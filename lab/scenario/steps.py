"""Running one scenario step in the client container and reading its outcome."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

from lab import browser, distance, dnscaches, topology
from lab.compose import Lab
from lab.errors import LabError
from lab.scenario.expect import StepOutcome
from lab.scenario.spec import Step


def _event_line(ev: dict[str, Any]) -> str | None:
    kind = ev.get("event", "")
    if kind == "dns.query":
        return f"DNS   ? {ev['name']} A  (asking {ev['server']})"
    if kind == "dns.answer":
        chain = "; ".join(ev.get("chain") or [])
        addrs = ", ".join(ev.get("addresses") or []) or "-"
        return f"DNS   = {ev['name']} -> {addrs}  {ev['rcode']} {ev['ms']:.1f} ms" + (
            f"  via {chain}" if chain else ""
        )
    if kind == "tcp.connected":
        return f"TCP   connected to {ev['address']}:{ev['port']} ({ev['host']}) {ev['ms']:.1f} ms"
    if kind == "tls.established":
        return (
            f"TLS   {ev['version']} {ev['cipher']} alpn={ev['alpn']} with {ev['host']}"
            f" {ev['ms']:.1f} ms"
        )
    if kind == "quic.established":
        resumed = " resumed" if ev.get("resumed") else ""
        return (
            f"QUIC  {ev['version']} {ev['cipher']} alpn={ev['alpn']} with {ev['host']}"
            f" ({ev['address']} UDP {ev['port']}){resumed}: transport and TLS in one"
            f" handshake, {ev['ms']:.1f} ms"
        )
    if kind == "quic.fallback":
        return f"QUIC  {ev['host']}: {ev['why']}; back to TCP"
    if kind == "http.done":
        err = f"  ERROR {ev['error']}" if ev.get("error") else ""
        version = ev.get("http_version")
        stream = f" stream {ev['stream_id']}" if ev.get("stream_id") is not None else ""
        how = f"  HTTP/{version} conn {ev.get('connection', '?')}{stream}" if version else ""
        return (
            f"HTTP  {ev['status'] or '---'} {ev['url']}  {ev['bytes']} B"
            f"  cache={ev.get('cache') or '-'}{how}{err}"
        )
    return None


def _browse(
    lab: Lab, o: StepOutcome, step: Step, out: str, folder: Path, events: list[dict[str, Any]]
) -> None:
    cmd = [
        "docker",
        "exec",
        lab.container_id("client"),
        "python",
        "-m",
        "services.client.browse",
        step.args["url"],
        "--out",
        out,
        "--visits",
        str(step.args.get("visits", 1)),
        "--http",
        str(step.args.get("http", "auto")),
    ]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None
        assert proc.stderr is not None
        for line in proc.stdout:
            try:
                ev = json.loads(line)
            except json.JSONDecodeError:
                print("  " + line.rstrip(), flush=True)
                continue
            events.append(dict(ev, step=o.index))
            text = _event_line(ev)
            if text:
                print("  " + text, flush=True)
        err = proc.stderr.read()
        code = proc.wait()
    if code not in (0, 1):
        raise LabError(
            f"the browse client failed in the client container (exit {code}):\n"
            f"{err.strip()[-1500:]}"
        )
    timeline_file = folder / f"step-{o.index}" / "timeline.json"
    tl = json.loads(timeline_file.read_text()) if timeline_file.exists() else {}
    o.detail = tl
    fetches = tl.get("fetches", [])
    o.ok = code == 0
    o.status = fetches[0]["status"] if fetches else None
    o.cache = [f["cache"] for f in fetches if f.get("cache")]
    o.error = next((f["error"] for f in fetches if f.get("error")), "")


def _dig(lab: Lab, o: StepOutcome, step: Step) -> None:
    a = step.args
    cmd = ["dig", "+time=3", "+tries=1"]
    if a.get("server"):
        asked = str(a["server"])
        chosen = dnscaches.BY_NAME.get(asked)
        cmd.append("@" + (chosen.address(lab.plan) if chosen else asked))
    cmd += ["+tcp"] if a.get("tcp") else []
    cmd += ["+norec"] if a.get("norec") else []
    cmd += [str(a["name"]), str(a.get("type", "A"))]
    r = lab.exec("client", *cmd, timeout=60)
    m = re.search(r"status: (\w+)", r.stdout)
    o.rcode = m.group(1) if m else None
    o.ok = r.returncode == 0 and o.rcode == "NOERROR"
    lines = r.stdout.strip().splitlines()
    o.error = "" if o.ok else (o.rcode or (lines[-1] if lines else r.stderr.strip()))
    answers = re.findall(
        r"^(\S+)\s+(\d+)\s+IN\s+(\S+)\s+(.+)$",
        r.stdout.split(";; ANSWER SECTION:")[1].split("\n\n")[0]
        if ";; ANSWER SECTION:" in r.stdout
        else "",
        re.M,
    )
    took = re.search(r";; Query time: (\d+) msec", r.stdout)
    server = re.search(r";; SERVER: ([\d.]+)", r.stdout)
    o.detail = {
        "command": " ".join(cmd),
        "answers": [" ".join(x) for x in answers],
        "output": r.stdout,
        "query_ms": int(took.group(1)) if took else None,
        "server": server.group(1) if server else None,
    }
    who = ""
    if server:
        layer = next((x.name for x in dnscaches.LAYERS if x.address(lab.plan) == server.group(1)),
                     None)  # fmt: skip
        who = f" from {server.group(1)}" + (f" ({layer})" if layer else "")
    if took:
        who += f" in {took.group(1)} ms"
    for line in [f"DIG   {' '.join(cmd[3:])} -> {o.rcode}{who}"] + [
        f"        {x}" for x in o.detail["answers"]
    ]:
        print("  " + line, flush=True)


def _fetch(lab: Lab, o: StepOutcome, step: Step, out: str) -> None:
    a = step.args
    cmd = [
        "python",
        "-m",
        "services.client.fetch",
        str(a.get("method", "GET")),
        str(a["url"]),
        "--retries",
        str(a.get("retries", 0)),
        "--keylog",
        f"{out}/client.keylog",
    ]
    for k, v in (a.get("headers") or {}).items():
        cmd += ["--header", f"{k}: {v}"]
    if "json" in a:
        cmd += ["--json", json.dumps(a["json"])]
    if a.get("token"):
        cmd += ["--token", str(a["token"])]
    if a.get("connect_to"):
        cmd += ["--connect-to", _address(str(a["connect_to"]), lab.plan)]
    if a.get("follow"):
        cmd.append("--follow")
    r = lab.exec("client", "sh", "-c", f'mkdir -p {out} && exec "$@"', "sh", *cmd, timeout=300)
    if r.returncode != 0:
        raise LabError(f"the fetch client failed (exit {r.returncode}): {r.stderr.strip()[-800:]}")
    res = json.loads(r.stdout)
    o.detail = {"fetch": res}
    o.status, o.ok, o.error = res["status"] or None, res["ok"], res["error"]
    cache = res["headers"].get("x-cache")
    o.cache = [cache] if cache else []
    tries = len(res["attempts"]) - len(res.get("redirects", []))
    for hop in res.get("redirects", []):
        print(f"  HTTP  {hop}", flush=True)
    print(
        f"  HTTP  {res['method']} {res['url']} -> {res['status'] or res['error']}"
        + (f" after {tries} attempts" if tries > 1 else ""),
        flush=True,
    )
    for att in res["attempts"][:-1]:
        print(
            f"        attempt: {att['status'] or att['error']}"
            f" retry-after={att['retry_after'] or '-'} waited {att['waited_s']:.2f} s",
            flush=True,
        )


def _address(target: str, plan: topology.Plan = topology.DEFAULT_PLAN) -> str:
    """``badcert:8441`` -> ``198.51.100.95:8441``: a lab service name (in PLAN) or an address."""
    host, _, port = target.rpartition(":")
    known = plan.by_service.get(host)
    return f"{known.ipv4 if known else host}:{port}"


def _with_run_token(step: Step, token: str) -> Step:
    """Replace ``$run`` in the step's arguments (unique names for data that persists)."""
    args = json.loads(json.dumps(step.args).replace("$run", token))
    return Step(step.kind, args, step.line)


# The names Chromium is told to reach over QUIC in an `http: 3` step: its QUIC
# trusts a private CA only for hosts in --origin-to-force-quic-on.
QUIC_HOSTS = ("www.example.com", "static.example.com", "api.example.com")


def _chromium(lab: Lab, o: StepOutcome, step: Step, out: str) -> None:
    """Chromium in the browser image, sharing the client container's network namespace."""
    image = browser.ensure_image(lab.image, lambda m: print(f"  {m}", flush=True))
    cmd = [
        "docker",
        "run",
        "--rm",
        "--network",
        f"container:{lab.container_id('client')}",
        "--label",
        "org.weblab.lab=browser",
        "-v",
        f"{lab.root / 'certs'}:/certs:ro",
        "-v",
        f"{lab.root / 'runs'}:/runs",
        "-e",
        "LAB_RESOLVER=127.0.0.53",  # the client's stub cache: the browser shares its network
        image,
        "python",
        "-m",
        "services.client.chromium",
        str(step.args["url"]),
        "--out",
        out,
    ]
    if str(step.args.get("http", "auto")) == "3":
        for host in QUIC_HOSTS:
            cmd += ["--quic", host]
    r = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=180)
    lines = [x for x in r.stdout.splitlines() if x.startswith("{")]
    result: dict[str, Any] = json.loads(lines[-1]) if lines else {}
    o.ok = bool(result.get("ok"))
    o.error = (
        "" if o.ok else str(result.get("error") or r.stderr.strip()[-300:] or "chromium failed")
    )
    fetches = result.pop("fetches", [])
    lab_fetches = [f for f in fetches if f["url"] in result.get("lab_urls", [])]
    o.detail = {"chromium": result, "fetches": fetches, "dns": result.pop("dns", [])}
    o.status = lab_fetches[0]["status"] if lab_fetches else None
    o.cache = [f["cache"] for f in lab_fetches if f.get("cache")]
    for f in lab_fetches:
        print("  CHROME " + _chromium_line(f), flush=True)
    for c in result.get("coalesced", []):
        print(f"  CHROME {c['host']} rode on {c['onto']}'s HTTP/2 connection (same"
              " address, one certificate for both: connection coalescing)", flush=True)  # fmt: skip
    print(
        f"  CHROME HTTP/2 with {', '.join(result.get('h2_hosts', [])) or 'nobody'}, "
        f"QUIC with {', '.join(result.get('quic_hosts', [])) or 'nobody'}; "
        f"its own DNS cache answered {result.get('dns_cache_hits', 0)} lookups; vendor "
        f"names it tried: {', '.join(result.get('vendor_lookups', [])) or 'none'}",
        flush=True,
    )


def _chromium_line(f: dict[str, Any]) -> str:
    """One request as Chromium's NetLog timed it, in the browse step's words."""
    if f.get("error"):
        return f"--- {f['url']}  {f['error']}"
    how = f"HTTP/{f['http_version'] or '?'} conn {f['connection'] or '?'}"
    how += f" stream {f['stream_id']}" if f.get("stream_id") is not None else ""
    new = (
        "reused"
        if f.get("reused_connection")
        else f"dns {f['dns_ms']:.0f} tcp {f['connect_ms']:.0f} tls {f['tls_ms']:.0f} ms"
    )
    return (
        f"{f['status'] or '---'} {f['url']}  {f['bytes']} B  cache={f.get('cache') or '-'}"
        f"  {how}  {new}  first byte {f['ttfb_ms']:.0f} ms"
    )


def _websocket(lab: Lab, o: StepOutcome, step: Step, out: str) -> None:
    """The client subscribes, makes a change, and waits for the pushed event."""
    a = step.args
    expect = str(a.get("expect", "user.created"))
    cmd = ["python", "-m", "services.client.watch", str(a["url"]), "--post", str(a["post"]),
           "--json", json.dumps(a.get("json", {})), "--expect", expect,
           "--keylog", f"{out}/client.keylog", "--http", str(a.get("http", "1.1"))]  # fmt: skip
    lab.exec("client", "mkdir", "-p", out)
    r = lab.exec("client", *cmd, timeout=60)
    lines = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
    result: dict[str, Any] = next((x for x in lines if x.get("event") == "ws.result"), {})
    for x in lines:
        if x.get("event") == "ws.message":
            print(f"  WS    <- {json.dumps(x['data'])[:100]}", flush=True)
        elif x.get("event") == "http.done":
            print(f"  HTTP  {x['status']} POST {a['post']}", flush=True)
    o.ok = bool(result.get("ok"))
    o.status = result.get("post_status")
    o.error = str(result.get("error") or ("" if o.ok else r.stderr.strip()[-300:]))
    o.detail = {"websocket": result}


def _flush(lab: Lab, o: StepOutcome, service: str) -> None:
    """Empty DNS caches (their control sockets), the neighbour caches, or the edge's cache
    (a restart)."""
    if service in dnscaches.BY_NAME or service == "dns":
        names = tuple(dnscaches.BY_NAME) if service == "dns" else (service,)
        dnscaches.flush(lab, names)
        print(f"  FLUSH empty now: {', '.join(f'the {n} cache' for n in names)}", flush=True)
    elif service == "arp":
        dnscaches.forget_neighbours(lab)
        print("  FLUSH the client and the home router forgot each other's MAC (ARP next)",
              flush=True)  # fmt: skip
    else:
        lab.restart("edge")
        print("  FLUSH the edge restarted: no cache, no connections", flush=True)
    o.ok = True


WEAK_PORT = 5300  # the resolver's one source port in its weakened mode
FORGED = "198.18.2.66"  # the address every forged answer claims: the attacker's own


def _resolver_ctl(lab: Lab, *args: str) -> Any:
    """One control command in the resolver's container; its --json output, decoded."""
    r = lab.exec("resolver", "python", "-m", "services.resolver.ctl", *args, check=True)
    return json.loads(r.stdout) if r.stdout.strip()[:1] in ("{", "[") else {}


def _poison(lab: Lab, o: StepOutcome, step: Step) -> None:
    """The attacker races the resolver; then its cache is read for what the forgeries left."""
    a = step.args
    mode, tries, burst = str(a["mode"]), int(a.get("tries", 5)), int(a.get("burst", 65536))
    resolver, spoof = lab.plan.by_service["resolver"], lab.plan.by_service["ns-example"]
    before = _resolver_ctl(lab, "stats", "--json")
    if mode == "weak":
        _resolver_ctl(lab, "weaken", str(WEAK_PORT))
        print(f"  DNS   the resolver now asks every question from UDP port {WEAK_PORT}"
              " (its weakened mode, for this step only)", flush=True)  # fmt: skip
    try:
        cmd = ["python", "-m", "services.attacker.poison", "--resolver", resolver.ipv4,
               "--spoof", spoof.ipv4, "--zone", "example.com", "--tries", str(tries),
               "--burst", str(burst), "--forged", FORGED,
               "--port", str(WEAK_PORT) if mode == "weak" else "random"]  # fmt: skip
        r = lab.exec("attacker", *cmd, timeout=300)
    finally:
        if mode == "weak":
            _resolver_ctl(lab, "weaken", "off")
    lines = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
    races = [x for x in lines if "try" in x]
    summary: dict[str, Any] = next((x for x in lines if x.get("summary")), {})
    for x in races:
        got = ", ".join(x["answer"]) or x["rcode"]
        verdict = "POISONED" if x["poisoned"] else "held"
        print(f"  RACE  {x['try']}: {x['sent']} forged answers for {x['name']} in"
              f" {x['ms']:.0f} ms; the resolver answered {got}: {verdict}", flush=True)  # fmt: skip
    if mode == "weak":
        print("  DNS   the resolver's source ports are random again", flush=True)
    after = _resolver_ctl(lab, "stats", "--json")
    entries = _resolver_ctl(lab, "dump", "example.com", "--json")
    forged = [e for e in entries if FORGED in e.get("records", [])]
    # A later lookup from the client, for each name the attacker raced: what a user gets.
    lookups = {}
    for x in races:
        d = lab.exec("client", "dig", "+short", "+tries=1", "+time=3", x["name"], "A")
        lookups[x["name"]] = d.stdout.split()
    fooled = sorted(n for n, addrs in lookups.items() if FORGED in addrs)
    for e in forged:
        lab.exec("resolver", "python", "-m", "services.resolver.ctl", "flush", e["name"])
    print(f"  CACHE {len(forged)} forged record(s) in the resolver's cache"
          f"{' (flushed now)' if forged else ''}; the client's own lookups of the raced names"
          f" got the forged address {len(fooled)} time(s)", flush=True)  # fmt: skip
    o.ok = r.returncode == 0 and bool(summary)
    o.error = "" if o.ok else (r.stderr.strip()[-300:] or "the attacker's race did not run")

    def delta(group: str, key: str) -> int | None:
        b, a = (before or {}).get(group) or {}, (after or {}).get(group) or {}
        return int(a[key]) - int(b[key]) if key in a and key in b else None

    o.detail = {"poison": {
        "mode": mode, "port": WEAK_PORT if mode == "weak" else "random", "forged_address": FORGED,
        "races": races, "summary": summary, "forged_in_cache": forged, "client_fooled": fooled,
        # Forgeries the resolver read and turned down (wrong ID, or no question out to
        # that server), and those the kernel dropped at a closed port (random-port mode).
        "ignored": delta("upstream", "ignored"), "closed_port": delta("kernel_udp", "no_ports"),
    }}  # fmt: skip


def client_lease(lab: Lab) -> dict[str, Any]:
    """The client's DHCP lease as its hook wrote it ({} if there is no file)."""
    r = lab.exec("client", "cat", "/run/weblab/lease.json")
    try:
        doc = json.loads(r.stdout) if r.returncode == 0 else {}
    except ValueError:
        doc = {}
    return doc if isinstance(doc, dict) else {}


def no_lease_error(lab: Lab) -> str:
    """Why the client cannot look anything up, if it has no lease; '' when it has one."""
    lease = client_lease(lab)
    if lease.get("address"):
        return ""
    why = lease.get("error") or f"its last DHCP event was {lease.get('reason', 'none')}"
    return (
        f"the client has no DHCP lease, so no address, no gateway and no DNS server: {why}. "
        "Start the home router (`lab up`) or renew the lease (a `dhcp: renew` step)"
    )


def _dhcp(lab: Lab, o: StepOutcome, action: str) -> None:
    r = lab.exec("client", "python", "-m", "services.client.lease", action, timeout=60)
    lease = client_lease(lab)
    o.detail = {"lease": lease, "output": (r.stdout + r.stderr)[-2000:]}
    if action == "release":
        o.ok = r.returncode == 0 and not lease.get("address")
        print("  DHCP  released: the client has no address now", flush=True)
    else:
        o.ok = r.returncode == 0 and bool(lease.get("address"))
        if o.ok:
            print(f"  DHCP  lease {lease['address']} from {lease.get('server')}: gateway "
                  f"{lease.get('router')}, DNS {lease.get('dns')}, "
                  f"{lease.get('lease_seconds')} s", flush=True)  # fmt: skip
    o.error = "" if o.ok else (no_lease_error(lab) or r.stderr.strip()[-300:])


_HOP = re.compile(r"^\s*(\d+)[?:]?\s+(.*)$")


def parse_hops(output: str) -> list[dict[str, Any]]:
    """traceroute -n / tracepath -n output as [{hop, address, ms}], one per hop line."""
    hops: dict[int, dict[str, Any]] = {}
    for line in output.splitlines():
        m = _HOP.match(line)
        if not m or line.lstrip().startswith(("traceroute to", "Resume")):
            continue
        n, rest = int(m.group(1)), m.group(2)
        addr = re.search(r"(\d+\.\d+\.\d+\.\d+)", rest)
        ms = re.search(r"([\d.]+)\s*ms", rest)
        if n not in hops or (addr and not hops[n].get("address")):
            hops[n] = {"hop": n, "address": addr.group(1) if addr else None,
                       "ms": float(ms.group(1)) if ms else None}  # fmt: skip
    return [hops[n] for n in sorted(hops)]


def _trace(lab: Lab, o: StepOutcome, step: Step) -> None:
    tool = str(step.args.get("tool", "traceroute"))
    host = str(step.args["host"])
    cmd = (["traceroute", "-n", "-q", "1", "-w", "2", "-m", "10", host] if tool == "traceroute"
           else ["tracepath", "-n", "-m", "10", host])  # fmt: skip
    r = lab.exec("client", *cmd, timeout=90)
    hops = parse_hops(r.stdout)
    for h in hops:
        who = lab.plan.by_address.get(h["address"] or "")
        name = f" ({who.service})" if who else ""
        ms = f" {h['ms']:.1f} ms" if h["ms"] is not None else ""
        print(f"  HOP   {h['hop']:>2} {h['address'] or '*'}{name}{ms}", flush=True)
    o.detail = {"command": " ".join(cmd), "hops": hops, "output": r.stdout}
    o.ok = r.returncode == 0 and bool(hops) and bool(hops[-1]["address"])
    o.error = "" if o.ok else (r.stderr.strip()[-300:] or "no hop answered")


def run_step(
    lab: Lab, index: int, step: Step, folder: Path, events: list[dict[str, Any]]
) -> StepOutcome:
    step = _with_run_token(step, folder.name.split("-", 1)[0] + folder.name.split("-")[1])
    o = StepOutcome(index=index, kind=step.kind, target=step.target, started=time.time())
    # A client with no lease has no address: say so, in those words, before a lookup
    # times out (checked before the step's clock starts).
    needs_lease = step.kind in ("browse", "fetch", "chromium", "websocket", "trace", "dig")
    missing = no_lease_error(lab) if needs_lease else ""
    t0 = time.perf_counter()
    out = f"/runs/{folder.name}/step-{index}"
    if missing:
        o.ok, o.error = False, missing
        print(f"  ERROR {missing}", flush=True)
    elif step.kind == "browse":
        _browse(lab, o, step, out, folder, events)
    elif step.kind == "dig":
        _dig(lab, o, step)
    elif step.kind == "fetch":
        _fetch(lab, o, step, out)
    elif step.kind == "chromium":
        _chromium(lab, o, step, out)
    elif step.kind == "websocket":
        _websocket(lab, o, step, out)
    elif step.kind == "profile":
        applied = distance.apply(lab, step.args["name"])
        print(f"  LINK  {distance.summary(applied)}", flush=True)
        o.ok = True
    elif step.kind == "flush":
        _flush(lab, o, str(step.args["service"]))
    elif step.kind == "poison":
        _poison(lab, o, step)
    elif step.kind == "dhcp":
        _dhcp(lab, o, str(step.args["action"]))
    elif step.kind == "trace":
        _trace(lab, o, step)
    elif step.kind == "wait":
        seconds = float(step.args["seconds"])
        print(f"  WAIT  {seconds:g} s", flush=True)
        time.sleep(seconds)  # a scenario's own pause, bounded by the loader (<= 120 s)
        o.ok = True
    o.ms = round((time.perf_counter() - t0) * 1000, 3)
    o.finished = time.time()
    return o

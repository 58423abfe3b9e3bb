"""``python -m services.client.chromium URL --out DIR``: a real Chromium opens the page.

Runs in the browser image (services/browser/Dockerfile) inside the client's
network namespace, so it resolves names through the lab resolver (the
client's resolv.conf; no --host-resolver-rules) and its packets are the
client's. It trusts only the lab CA (imported into a fresh NSS database with
certutil), writes its TLS secrets where the capture finds them
(``--ssl-key-log-file``), and leaves a NetLog and a screenshot in DIR. The
summary it prints (one JSON line) is read from the NetLog: the URLs fetched,
the HTTP/2 sessions, the names it looked up, the answers its own DNS cache
gave (the "browser cache" of the articles), and the lookups of its vendor's
hosts that the closed lab answers NXDOMAIN.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from services.client import netlog

CA_FILE = "/certs/ca.crt"
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
LAB_SUFFIXES = ("example.com", "edgecdn.net", "edgecdn-dns.com")


def summarize_netlog(doc: dict[str, Any]) -> dict[str, Any]:
    """What a NetLog says about one page load (event names from its own constants)."""
    names = {v: k for k, v in doc.get("constants", {}).get("logEventTypes", {}).items()}
    urls: list[str] = []
    h2: set[str] = set()
    quic: set[str] = set()
    looked_up: set[str] = set()
    cache_hits = 0
    for event in doc.get("events", []):
        name = names.get(event.get("type"), "")
        params = event.get("params") or {}
        if name == "URL_REQUEST_START_JOB" and "url" in params:
            urls.append(str(params["url"]))
        elif name.startswith("HTTP2_SESSION") and "host" in params:
            h2.add(netlog.hostname(params["host"]))
        elif name == "QUIC_SESSION" and "host" in params:
            quic.add(netlog.hostname(params["host"]))
        elif name.startswith("HOST_RESOLVER") and "host" in params:
            looked_up.add(netlog.hostname(params["host"]))
        if name == "HOST_RESOLVER_MANAGER_CACHE_HIT":
            cache_hits += 1
    vendor = sorted(h for h in looked_up if not h.endswith(LAB_SUFFIXES))
    return {
        "urls": urls,
        "lab_urls": [u for u in urls if netlog.hostname(u).endswith(LAB_SUFFIXES)],
        "h2_hosts": sorted(h2),
        "quic_hosts": sorted(quic),
        "looked_up": sorted(looked_up),
        "vendor_lookups": vendor,
        "dns_cache_hits": cache_hits,
    }


def _quic_flags(hosts: list[str]) -> list[str]:
    if not hosts:
        return []
    return ["--enable-quic", "--origin-to-force-quic-on=" + ",".join(f"{h}:443" for h in hosts)]


def timeline(doc: dict[str, Any], resolver: str = "") -> dict[str, Any]:
    """Chromium's own timings as the lab's timeline records (services/client/netlog.py)."""
    log = netlog.NetLog.parse(doc)
    fetches = netlog.fetches(log)
    return {
        "fetches": [asdict(f) for f in fetches],
        "dns": [asdict(d) for d in netlog.lookups(log, resolver)],
        "coalesced": netlog.coalesced(log),
        "failed": [
            {"url": f.url, "error": f.error}
            for f in fetches
            if f.error and netlog.hostname(f.url).endswith(LAB_SUFFIXES)
        ],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m services.client.chromium", description=__doc__)
    p.add_argument("url")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--timeout", type=float, default=60.0)
    p.add_argument(
        "--quic",
        action="append",
        default=[],
        metavar="HOST",
        help="speak HTTP/3 to HOST:443 from the first request (--origin-to-force-quic-on): "
        "Chromium's QUIC accepts a private CA's certificate only for hosts forced this way",
    )
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="chromium-home-"))
    nssdb = home / ".pki" / "nssdb"
    nssdb.mkdir(parents=True)
    env = {**os.environ, "HOME": str(home)}
    db = f"sql:{nssdb}"
    for cmd in (
        ["certutil", "-N", "--empty-password", "-d", db],
        ["certutil", "-A", "-n", "weblab-lab-ca", "-t", "C,,", "-i", CA_FILE, "-d", db],
    ):
        subprocess.run(cmd, check=True, capture_output=True, env=env, timeout=30)
    netlog_file, shot = args.out / "netlog.json", args.out / "screenshot.png"
    argv_chrome = ["chromium", *FLAGS, f"--user-data-dir={home / 'profile'}",
                   f"--ssl-key-log-file={args.out / 'client.keylog'}",
                   f"--log-net-log={netlog_file}",
                   f"--screenshot={shot}", "--window-size=1280,900", "--enable-logging=stderr",
                   "--v=0", *_quic_flags(args.quic), args.url]  # fmt: skip
    r = subprocess.run(
        argv_chrome, capture_output=True, text=True, env=env, timeout=args.timeout, check=False
    )
    (args.out / "chromium.log").write_text(r.stderr)
    console = [line for line in r.stderr.splitlines() if ":CONSOLE(" in line]
    summary: dict[str, Any] = {"url": args.url, "exit": r.returncode, "console_errors": console}
    try:
        doc = json.loads(netlog_file.read_text())
        summary.update(summarize_netlog(doc))
        summary.update(timeline(doc, os.environ.get("LAB_RESOLVER", "")))
    except (OSError, ValueError) as e:
        summary["error"] = f"no NetLog: {e}"
    summary["screenshot"] = shot.exists()
    summary["ok"] = (
        r.returncode == 0 and summary["screenshot"] and args.url in summary.get("urls", [])
    )
    if args.quic and not summary.get("quic_hosts"):
        summary["ok"] = False
        summary["error"] = "QUIC was forced but the NetLog has no QUIC session"
    print(json.dumps(summary), flush=True)
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())

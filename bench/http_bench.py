"""``python -m bench.http_bench``: our edge against nginx, same origin, same asset, same cert.

Both caches sit in front of one origin (services.web) over verified HTTPS and
serve ``https://static.example.com/css/site.css`` from a warm cache on
127.0.0.1. Measured in the same run, one after the other:

- keep-alive throughput with wrk (``-t1 -c20 -d5s --latency``): requests/s,
  p50/p99 latency, server CPU (utime+stime from /proc over the run);
- full TLS handshakes/s with ``openssl s_time -new`` (a new session for every
  connection, one GET each), and the server CPU each handshake costs;
- HTTP/2 warm HITs with h2load (``-c20 -m10``: 20 connections, 10 streams in
  flight on each): requests/s, mean latency, server CPU per request.

Every figure is printed with the ratio ours/nginx. Nothing is asserted: timings
belong in benchmarks, not tests (ARCHITECTURE.md). Each measurement is bounded
(5 s) and every process is stopped by its PID.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from harness.accounting import children, cpu_seconds
from harness.peers import Tls, lab_tls, start_edge, start_nginx, start_origin
from harness.procs import LOOPBACK, ROOT, Proc

HOST = "static.example.com"
ASSET = "/css/site.css"
ORIGIN_NAME = "origin.example.com"


@dataclass
class Figures:
    """One server's figures."""

    server: str
    rps: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    cpu_s: float = 0.0
    cpu_us_per_req: float = 0.0
    handshakes_s: float = 0.0
    cpu_ms_per_handshake: float = 0.0
    h2_rps: float = 0.0
    h2_mean_ms: float = 0.0
    h2_cpu_us_per_req: float = 0.0


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if not m:
        raise ValueError(f"wrk latency {text!r}")
    return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]


def parse_wrk(out: str) -> tuple[float, float, float]:
    """Requests/s, p50 and p99 latency (ms) from ``wrk --latency`` output."""
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)", out)
    if errors:
        raise RuntimeError(f"wrk reported errors: {errors.group(0)}")
    return rps, p50, p99


def _pids(proc: Proc) -> list[int]:
    # nginx: the master and its worker; the edge: one process.
    return [proc.pid, *children(proc.pid)]


def warm(port: int, ca: Path) -> str:
    """Fetch the asset twice through the cache; the cache's verdict on the second fetch."""
    ctx = ssl.create_default_context(cafile=str(ca))
    ctx.check_hostname = False  # 127.0.0.1 in the URL; the Host header names the site
    verdict = ""
    for _ in range(2):
        req = urllib.request.Request(f"https://{LOOPBACK}:{port}{ASSET}", headers={"Host": HOST})
        with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
            resp.read()
            verdict = resp.headers.get("X-Cache") or resp.headers.get("X-Cache-Status") or "?"
    return verdict


def keepalive(proc: Proc, seconds: int, conns: int) -> tuple[float, float, float, float]:
    """wrk against ``proc``: rps, p50 ms, p99 ms, server CPU seconds."""
    before = cpu_seconds(_pids(proc))
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{conns}",
            f"-d{seconds}s",
            "--latency",
            "-H",
            f"Host: {HOST}",
            f"https://{LOOPBACK}:{proc.port}{ASSET}",
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 20,
        check=True,
    ).stdout
    cpu = cpu_seconds(_pids(proc)) - before
    rps, p50, p99 = parse_wrk(out)
    return rps, p50, p99, cpu


def parse_h2load(out: str) -> tuple[float, float]:
    """Requests/s and the mean time per request (ms) from h2load's summary."""
    m = re.search(r"finished in [\d.]+s, ([\d.]+) req/s", out)
    if not m:
        raise RuntimeError(f"h2load printed no rate:\n{out[-800:]}")
    failed = re.search(
        r"requests: \d+ total, \d+ started, \d+ done, \d+ succeeded, (\d+) failed", out
    )
    if failed and int(failed.group(1)):
        raise RuntimeError(f"h2load: {failed.group(0)}")
    mean = re.search(r"time for request:\s+\S+\s+\S+\s+(\S+)", out)
    return float(m.group(1)), _ms(mean.group(1)) if mean else 0.0


def h2(proc: Proc, seconds: int, conns: int) -> tuple[float, float, float]:
    """h2load over HTTP/2 against ``proc``: rps, mean ms, server CPU seconds."""
    before = cpu_seconds(_pids(proc))
    out = subprocess.run(
        ["h2load", "-t1", "-c", str(conns), "-m", "10", "-D", str(seconds),
         "-H", f":authority: {HOST}", f"https://{LOOPBACK}:{proc.port}{ASSET}"],
        capture_output=True, text=True, timeout=seconds + 30, check=True,
    ).stdout  # fmt: skip
    cpu = cpu_seconds(_pids(proc)) - before
    rps, mean = parse_h2load(out)
    return rps, mean, cpu


def handshakes(proc: Proc, seconds: int) -> tuple[float, float]:
    """``openssl s_time -new``: full handshakes per second, server CPU ms per handshake."""
    before = cpu_seconds(_pids(proc))
    out = subprocess.run(
        [
            "openssl",
            "s_time",
            "-connect",
            f"{LOOPBACK}:{proc.port}",
            "-new",
            "-time",
            str(seconds),
            "-www",
            ASSET,
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 20,
        check=False,
    ).stdout
    cpu = cpu_seconds(_pids(proc)) - before
    m = re.search(r"(\d+) connections in ([\d.]+)s", out)
    if not m:
        raise RuntimeError(f"openssl s_time printed no count:\n{out[-1000:]}")
    count, elapsed = int(m.group(1)), float(m.group(2))
    # s_time's "real seconds" line counts wall time; its first figure is client CPU time.
    real = re.search(r"(\d+) connections in (\d+) real seconds", out)
    wall = float(real.group(2)) if real else elapsed
    return count / wall, (cpu * 1000 / count if count else 0.0)


def measure(name: str, proc: Proc, ca: Path, seconds: int, conns: int) -> Figures:
    """All figures for one running server."""
    verdict = warm(proc.port or 0, ca)
    print(f"[{name}] warm: second fetch {verdict}", file=sys.stderr)
    f = Figures(name)
    f.rps, f.p50_ms, f.p99_ms, f.cpu_s = keepalive(proc, seconds, conns)
    f.cpu_us_per_req = f.cpu_s * 1e6 / (f.rps * seconds) if f.rps else 0.0
    f.handshakes_s, f.cpu_ms_per_handshake = handshakes(proc, seconds)
    f.h2_rps, f.h2_mean_ms, h2_cpu = h2(proc, seconds, conns)
    f.h2_cpu_us_per_req = h2_cpu * 1e6 / (f.h2_rps * seconds) if f.h2_rps else 0.0
    return f


def table(rows: Sequence[Figures], base: Figures) -> str:
    """The figures and the ratio of each row to ``base`` (nginx)."""
    head = (
        f"{'server':14} {'req/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'CPU s':>6} "
        f"{'CPU us/req':>10} {'hs/s':>7} {'CPU ms/hs':>9} {'h2 req/s':>9} {'h2 ms':>6} "
        f"{'h2 us/req':>9}  ratio h1 req/s, hs/s, h2 req/s vs nginx"
    )
    lines = [head, "-" * len(head)]
    for f in rows:
        lines.append(
            f"{f.server:14} {f.rps:9.0f} {f.p50_ms:7.2f} {f.p99_ms:7.2f} {f.cpu_s:6.2f} "
            f"{f.cpu_us_per_req:10.1f} {f.handshakes_s:7.0f} "
            f"{f.cpu_ms_per_handshake:9.2f} {f.h2_rps:9.0f} {f.h2_mean_ms:6.2f} "
            f"{f.h2_cpu_us_per_req:9.1f}  {f.rps / base.rps:.2f}, "
            f"{f.handshakes_s / base.handshakes_s:.2f}, "
            f"{f.h2_rps / base.h2_rps if base.h2_rps else 0:.2f}"
        )
    return "\n".join(lines)


def run(seconds: int, conns: int, with_uvloop: bool, out: Path | None) -> list[Figures]:
    """Start the origin, nginx and our edge (plain asyncio, then uvloop), measure each."""
    for tool in ("wrk", "openssl", "h2load"):
        if not shutil.which(tool):
            raise SystemExit(
                f"bench: {tool} not found; run python -c 'from lab import "
                "tooling; tooling.ensure(print)'"
            )
    rows: list[Figures] = []
    with tempfile.TemporaryDirectory(prefix="weblab-bench-") as tmp:
        work = Path(tmp)
        edge_tls, origin_tls = lab_tls(work / "certs", "edge"), lab_tls(work / "certs", "origin")
        started: list[Proc] = []
        try:
            origin = start_origin(work / "origin", origin_tls)
            started.append(origin)
            upstream = f"https://{ORIGIN_NAME}:{origin.port}"
            nginx = start_nginx(
                work / "nginx",
                f"https://{LOOPBACK}:{origin.port}",
                tls=edge_tls,
                upstream_name=ORIGIN_NAME,
                server_name=HOST,
            )
            started.append(nginx)
            rows.append(measure("nginx", nginx, edge_tls.ca, seconds, conns))
            nginx.stop()
            variants = [False, True] if with_uvloop and _has_uvloop() else [False]
            for uv in variants:
                edge = start_edge(
                    work / ("edge-uvloop" if uv else "edge"),
                    [f"{HOST}={upstream}"],
                    tls=Tls(edge_tls.cert, edge_tls.key, edge_tls.ca),
                    resolve=[f"{ORIGIN_NAME}:{origin.port}:{LOOPBACK}"],
                    uvloop=uv,
                )
                started.append(edge)
                rows.append(
                    measure("edge+uvloop" if uv else "edge", edge, edge_tls.ca, seconds, conns)
                )
                edge.stop()
        finally:
            for p in reversed(started):
                p.stop()
    print(table(rows, rows[0]))
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(
            json.dumps(
                {
                    "time": time.time(),
                    "seconds": seconds,
                    "connections": conns,
                    "asset": f"https://{HOST}{ASSET}",
                    "figures": [asdict(r) for r in rows],
                },
                indent=2,
            )
            + "\n"
        )
        print(f"written {out}", file=sys.stderr)
    return rows


def _has_uvloop() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.http_bench", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--seconds", type=int, default=5, help="each measurement (max 10)")
    parser.add_argument("--connections", type=int, default=20, help="wrk keep-alive connections")
    parser.add_argument("--no-uvloop", action="store_true", help="skip the uvloop variant")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench" / "http_bench.json")
    args = parser.parse_args(argv)
    if not 1 <= args.seconds <= 10:
        parser.error("--seconds must be 1..10")
    run(args.seconds, args.connections, not args.no_uvloop, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

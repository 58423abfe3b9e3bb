"""``python -m bench.http_bench``: our edge against nginx and caddy, same asset, same cert.

Both caches sit in front of one origin (services.web) over verified HTTPS and
serve ``https://static.example.com/css/site.css`` from a warm cache on
127.0.0.1. Measured in the same run, one after the other:

- keep-alive throughput with wrk (``-t1 -c20 -d5s --latency``): requests/s,
  p50/p99 latency, server CPU (utime+stime from /proc over the run);
- full TLS handshakes/s with ``openssl s_time -new`` (a new session for every
  connection, one GET each), and the server CPU each handshake costs;
- HTTP/2 warm HITs with h2load (``-c20 -m10``: 20 connections, 10 streams in
  flight on each): requests/s, mean latency, server CPU per request;
- HTTP/3 warm HITs and QUIC handshakes/s against caddy (bench/h3measure.py),
  which serves the edge's HIT (same bytes, same fields) as a static file.

Every TCP figure is printed with the ratio to nginx, every HTTP/3 one with the
ratio to caddy. Nothing is asserted: timings
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

from bench.h3measure import H3Figures, h3_table, measure_h3
from harness.accounting import children, cpu_seconds
from harness.peers import Asset, Tls, lab_tls, start_caddy, start_edge, start_nginx, start_origin
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
    # nginx: the master and its worker; the edge: one process; caddy: one (its
    # threads are counted in the process's own /proc/PID/stat).
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


def hit_asset(port: int, ca: Path) -> Asset:
    """The asset as the warm cache answers it: body and header fields, for caddy to serve."""
    ctx = ssl.create_default_context(cafile=str(ca))
    ctx.check_hostname = False
    req = urllib.request.Request(f"https://{LOOPBACK}:{port}{ASSET}", headers={"Host": HOST})
    with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
        return Asset(ASSET, resp.read(), list(resp.headers.items()))


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


def with_h3(name: str, proc: Proc, tcp: Figures, seconds: int, conns: int) -> H3Figures:
    """PROC's HTTP/3 figures, beside the TCP+TLS handshakes of its TCP row."""
    f = measure_h3(name, proc, _pids, seconds, conns, HOST, ASSET)
    f.tcp_hs_s, f.server_ms_per_tcp_hs = tcp.handshakes_s, tcp.cpu_ms_per_handshake
    return f


def run(seconds: int, conns: int, with_uvloop: bool, out: Path | None) -> list[Figures]:
    """Start the origin, nginx, our edge (plain asyncio, then uvloop) and caddy, measure each."""
    for tool in ("wrk", "openssl", "h2load", "caddy"):
        if not shutil.which(tool):
            raise SystemExit(
                f"bench: {tool} not found; run python -c 'from lab import "
                "tooling; tooling.ensure(print)'"
            )
    rows: list[Figures] = []
    h3_rows: list[H3Figures] = []
    load = [_loadavg()]
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
                name = "edge+uvloop" if uv else "edge"
                rows.append(measure(name, edge, edge_tls.ca, seconds, conns))
                h3_rows.append(with_h3(name, edge, rows[-1], seconds, conns))
                asset = hit_asset(edge.port or 0, edge_tls.ca)
                edge.stop()
            caddy = start_caddy(work / "caddy", edge_tls, asset)
            started.append(caddy)
            print("[caddy (file)] a static file: its X-Cache field is the edge's", file=sys.stderr)
            rows.append(measure("caddy (file)", caddy, edge_tls.ca, seconds, conns))
            h3_rows.append(with_h3("caddy (file)", caddy, rows[-1], seconds, conns))
            caddy.stop()
        finally:
            for p in reversed(started):
                p.stop()
    load.append(_loadavg())
    print(table(rows, rows[0]))
    print()
    print(h3_table(h3_rows, h3_rows[-1]))
    print(f"load average before, after: {load[0]}, {load[1]}", file=sys.stderr)
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
                    "http3": [asdict(r) for r in h3_rows],
                    "loadavg_1min": load,
                },
                indent=2,
            )
            + "\n"
        )
        print(f"written {out}", file=sys.stderr)
    return rows


def _loadavg() -> float:
    # Other work on the machine shifts every figure: the run records how busy it was.
    return float(Path("/proc/loadavg").read_text().split()[0])


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

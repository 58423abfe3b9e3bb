"""The HTTP/3 rows of the HTTP benchmark: warm HITs and QUIC handshakes, with both sides' CPU.

Each measurement runs bench/h3load.py in its own process (Debian's h2load has
no HTTP/3) against a server's UDP port, the same number as its TLS port:

- warm HITs over kept-alive QUIC connections (``-c20 -m10``, as the HTTP/2
  row): requests/s, p50/p99;
- QUIC handshakes: a new connection, one GET, close, one at a time (as
  ``openssl s_time -new`` does over TCP+TLS): handshakes/s.

The server's CPU is read from /proc around the run (harness/accounting.py),
the client's by the client itself, also from /proc. Client and server share
the machine's CPUs, so the side that spends more CPU per request is the one
that limits the rate: that side is named the bottleneck, and its busy share
(CPU seconds / wall seconds) says how close to one core it ran.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from harness.accounting import cpu_seconds
from harness.procs import LOOPBACK, PYTHON, ROOT, Proc


@dataclass
class H3Figures:
    """One server's HTTP/3 figures, beside its TCP+TLS handshake rate."""

    server: str
    rps: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    server_us_per_req: float = 0.0
    client_us_per_req: float = 0.0
    server_req_s_per_core: float = (
        0.0  # 1 s / server CPU per request: its rate on a core of its own
    )
    server_busy: float = 0.0  # CPU seconds per wall second over the run
    client_busy: float = 0.0
    bottleneck: str = ""
    quic_hs_s: float = 0.0
    server_ms_per_quic_hs: float = 0.0
    client_ms_per_quic_hs: float = 0.0
    quic_server_busy: float = 0.0
    quic_client_busy: float = 0.0
    quic_bottleneck: str = ""
    tcp_hs_s: float = 0.0  # openssl s_time -new, from the TCP row
    server_ms_per_tcp_hs: float = 0.0


def h3load(
    proc: Proc,
    pids: Callable[[Proc], list[int]],
    args: Sequence[str],
    seconds: int,
    authority: str,
    path: str,
) -> tuple[dict[str, float], float]:
    """Run bench.h3load against PROC's UDP port: its JSON summary and the server CPU seconds."""
    before = cpu_seconds(pids(proc))
    r = subprocess.run(
        [PYTHON, "-m", "bench.h3load", f"https://{LOOPBACK}:{proc.port}{path}",
         "--authority", authority, "-D", str(seconds), *args],
        capture_output=True, text=True, timeout=seconds + 30, check=False, cwd=ROOT,
    )  # fmt: skip
    server_cpu = cpu_seconds(pids(proc)) - before
    if r.returncode != 0:
        raise RuntimeError(f"bench.h3load exited {r.returncode}:\n{r.stderr[-800:]}")
    out: dict[str, float] = json.loads(r.stdout)
    if out["failed"]:
        raise RuntimeError(f"bench.h3load: {out['failed']} failed: {out['errors']}")
    return out, server_cpu


def bottleneck(server_cpu: float, client_cpu: float) -> str:
    """The side that spent more CPU for the same work (both share the machine's CPUs)."""
    if not server_cpu and not client_cpu:
        return "-"
    return "server" if server_cpu >= client_cpu else "client"


def measure_h3(
    name: str,
    proc: Proc,
    pids: Callable[[Proc], list[int]],
    seconds: int,
    conns: int,
    authority: str,
    path: str,
) -> H3Figures:
    """Warm HITs over HTTP/3, then QUIC handshakes, against one running server."""
    f = H3Figures(name)
    out, server_cpu = h3load(proc, pids, ["-c", str(conns), "-m", "10"], seconds, authority, path)
    done, wall, client_cpu = out["requests"], out["seconds"], out["client_cpu_s"]
    f.rps, f.p50_ms, f.p99_ms = out["rps"], out["p50_ms"], out["p99_ms"]
    f.server_us_per_req = server_cpu * 1e6 / done if done else 0.0
    f.client_us_per_req = client_cpu * 1e6 / done if done else 0.0
    f.server_req_s_per_core = 1e6 / f.server_us_per_req if f.server_us_per_req else 0.0
    f.server_busy, f.client_busy = server_cpu / wall, client_cpu / wall
    f.bottleneck = bottleneck(server_cpu, client_cpu)
    out, server_cpu = h3load(proc, pids, ["-c", "1", "--handshakes"], seconds, authority, path)
    done, wall, client_cpu = out["requests"], out["seconds"], out["client_cpu_s"]
    f.quic_hs_s = done / wall
    f.server_ms_per_quic_hs = server_cpu * 1000 / done if done else 0.0
    f.client_ms_per_quic_hs = client_cpu * 1000 / done if done else 0.0
    f.quic_server_busy, f.quic_client_busy = server_cpu / wall, client_cpu / wall
    f.quic_bottleneck = bottleneck(server_cpu, client_cpu)
    return f


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "-"


def h3_table(rows: Sequence[H3Figures], base: H3Figures) -> str:
    """HTTP/3 warm HITs and handshakes, each row against BASE (caddy)."""
    head = (
        f"{'HTTP/3':14} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'srv us/req':>10} "
        f"{'cli us/req':>10} {'srv 1-core':>10} {'srv busy':>8} {'cli busy':>8} {'bound by':>8}  "
        "req/s, srv us/req vs caddy"
    )
    lines = [head, "-" * len(head)]
    for f in rows:
        lines.append(
            f"{f.server:14} {f.rps:7.0f} {f.p50_ms:7.2f} {f.p99_ms:7.2f} "
            f"{f.server_us_per_req:10.1f} {f.client_us_per_req:10.1f} "
            f"{f.server_req_s_per_core:10.0f} {f.server_busy:8.2f} "
            f"{f.client_busy:8.2f} {f.bottleneck:>8}  {_ratio(f.rps, base.rps)}, "
            f"{_ratio(f.server_us_per_req, base.server_us_per_req)}"
        )
    head = (
        f"{'handshakes':14} {'TCP hs/s':>8} {'srv ms/hs':>9} {'QUIC hs/s':>9} "
        f"{'srv ms/hs':>9} {'cli ms/hs':>9} {'bound by':>8}  "
        "QUIC/TCP hs/s, srv ms QUIC/TCP; QUIC hs/s vs caddy"
    )
    lines += ["", head, "-" * len(head)]
    for f in rows:
        lines.append(
            f"{f.server:14} {f.tcp_hs_s:8.0f} {f.server_ms_per_tcp_hs:9.2f} {f.quic_hs_s:9.0f} "
            f"{f.server_ms_per_quic_hs:9.2f} {f.client_ms_per_quic_hs:9.2f} "
            f"{f.quic_bottleneck:>8}  {_ratio(f.quic_hs_s, f.tcp_hs_s)}, "
            f"{_ratio(f.server_ms_per_quic_hs, f.server_ms_per_tcp_hs)}; "
            f"{_ratio(f.quic_hs_s, base.quic_hs_s)}"
        )
    return "\n".join(lines)

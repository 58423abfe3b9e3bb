"""``python -m bench.delay_bench``: how exact the userspace link delay is, and what it costs.

This kernel has no netem, so the lab's distance comes from services/linkdelay
(NFQUEUE + a daemon that releases each held reply on time). Two containers of
the lab image on a throw-away ``internal`` network in 198.18.200.0/24 (RFC
2544's benchmarking range): one runs a UDP echo server with the daemon
beside it, as every lab host does; the other sends timed probes. For each
asked round trip (0, 10, 50, 100 ms) it prints the measured p50/p99, the
added delay against the 0 ms baseline and its error, then the daemon's CPU
per held packet over a burst. Bounded: 4 x 100 probes and one burst of 2,000.
netem, the peer this would be compared with, cannot run on this kernel; the
ratio reported is measured/asked.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.procs import ROOT

NET = "weblab-bench-delay"
SUBNET = "198.18.200.0/24"
ECHO_IP, PROBE_IP = "198.18.200.10", "198.18.200.20"
LABEL = "org.weblab.lab=bench"
ASKED = (0.0, 10.0, 50.0, 100.0)

ECHO = """
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 7))
while True:
    data, peer = s.recvfrom(2048)
    s.sendto(data, peer)
"""

PROBE = """
import json, socket, sys, time
n, gap = int(sys.argv[1]), float(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
out = []
for i in range(n):
    t = time.perf_counter()
    s.sendto(i.to_bytes(4, "big"), (sys.argv[3], 7))
    while int.from_bytes(s.recv(64)[:4], "big") != i:
        pass
    out.append((time.perf_counter() - t) * 1000)
    time.sleep(gap)
print(json.dumps(out))
"""


def docker(*args: str, check: bool = True) -> str:
    r = subprocess.run(["docker", *args], capture_output=True, text=True, check=False, timeout=120)
    if check and r.returncode != 0:
        raise SystemExit(f"bench: docker {' '.join(args[:3])}: {r.stderr.strip()}")
    return r.stdout.strip()


def write_plan(folder: Path, delay_ms: float) -> None:
    peers = {PROBE_IP: {"delay_ms": delay_ms}} if delay_ms else {}
    plan = {"profile": f"bench-{delay_ms:g}", "hosts": {
        ECHO_IP: {"service": "echo", "serves": ["udp/7"], "peers": peers}}}  # fmt: skip
    (folder / "plan.json").write_text(json.dumps(plan))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def daemon_cpu_s(echo: str) -> float:
    """utime + stime of the echo container's link delay daemon (its own /proc)."""
    pid = docker("exec", echo, "cat", "/run/linkdelay/pid")
    fields = docker("exec", echo, "cat", f"/proc/{pid}/stat").rsplit(")", 1)[1].split()
    ticks = int(docker("exec", echo, "getconf", "CLK_TCK"))
    return (int(fields[11]) + int(fields[12])) / ticks


def run(image: str, probes: int, out: Path) -> dict[str, object]:
    folder = Path(tempfile.mkdtemp(prefix="delay-bench-"))
    write_plan(folder, 0)
    docker("network", "create", "--internal", "--subnet", SUBNET, "--label", LABEL, NET)
    started: list[str] = []
    try:
        echo = docker("run", "-d", "--rm", "--network", NET, "--ip", ECHO_IP, "--cap-add",
                      "NET_ADMIN", "--label", LABEL, "-v", f"{folder}:/linkdelay:ro", image,
                      "python", "-c", ECHO)  # fmt: skip
        started.append(echo)
        probe = docker("run", "-d", "--rm", "--network", NET, "--ip", PROBE_IP, "--label",
                       LABEL, "-e", "LAB_NO_LINKDELAY=1", image, "sleep", "600")  # fmt: skip
        started.append(probe)
        deadline = time.monotonic() + 20
        while docker("exec", echo, "python", "-m", "services.linkdelay.ctl", "status",
                     check=False) == "":  # fmt: skip
            if time.monotonic() > deadline:
                raise SystemExit("bench: the link delay daemon did not start in the echo container")
            time.sleep(0.2)
        rows = []
        base = 0.0
        for asked in ASKED:
            write_plan(folder, asked)
            docker("exec", echo, "python", "-m", "services.linkdelay.ctl", "reload")
            rtts = json.loads(
                docker("exec", probe, "python", "-c", PROBE, str(probes), "0.005", ECHO_IP)
            )
            p50, p99 = percentile(rtts, 0.5), percentile(rtts, 0.99)
            if asked == 0:
                base = p50
            added = p50 - base
            rows.append({"asked_ms": asked, "p50_ms": round(p50, 3), "p99_ms": round(p99, 3),
                         "added_ms": round(added, 3), "error_ms": round(added - asked, 3),
                         "p99_error_ms": round(p99 - base - asked, 3)})  # fmt: skip
        write_plan(folder, 10.0)
        docker("exec", echo, "python", "-m", "services.linkdelay.ctl", "reload")
        burst = 2000
        before = daemon_cpu_s(echo)
        docker("exec", probe, "python", "-c", PROBE, str(burst), "0", ECHO_IP)
        cpu = daemon_cpu_s(echo) - before
    finally:
        for cid in started:
            docker("rm", "-f", cid, check=False)
        docker("network", "rm", NET, check=False)
    per_packet = round(cpu / burst * 1e6, 1)
    result = {"mechanism": "nfqueue (services/linkdelay)", "probes": probes, "rows": rows,
              "burst_packets": burst, "daemon_cpu_us_per_packet": per_packet}  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.delay_bench", description=__doc__)
    parser.add_argument("--image", default="weblab/lab:latest")
    parser.add_argument("--probes", type=int, default=100, help="probes per asked delay (<= 500)")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench" / "delay_bench.json")
    args = parser.parse_args(argv)
    if not 10 <= args.probes <= 500:
        parser.error("--probes must be 10..500")
    print(f"link delay accuracy: {args.probes} UDP probes per asked round trip, lab image")
    result = run(args.image, args.probes, args.out)
    print(
        f"  {'asked':>7} {'p50':>8} {'p99':>8} {'added':>8} {'error':>7} {'p99 err':>8}"
        f" {'ratio':>6}"
    )
    for r in result["rows"]:  # type: ignore[attr-defined]
        ratio = f"{r['added_ms'] / r['asked_ms']:.3f}" if r["asked_ms"] else "-"
        print(f"  {r['asked_ms']:>7g} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['added_ms']:>8.2f}"
              f" {r['error_ms']:>7.2f} {r['p99_error_ms']:>8.2f} {ratio:>6}")  # fmt: skip
    print(f"  daemon CPU per held packet: {result['daemon_cpu_us_per_packet']} µs "
          f"(burst of {result['burst_packets']})")  # fmt: skip
    print("  ms; added = p50 minus the 0 ms baseline; netem is not in this kernel, so no peer row")
    print(f"  -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``python -m bench.dns_bench``: our DNS servers against NSD and Unbound, same run, same box.

Everything runs in a throw-away network namespace (harness/netns.py) on the
lab's addresses, port 53, no Docker. dnsperf with one thread and one client
(``-T 1 -c 1``) for a bounded time sends the same query list to:

- ns1.example.com (ours) and an NSD (server-count 1, RRL off) with the same zone;
- our resolver and Unbound (num-threads 1), both with warm caches.

It prints queries per second, average latency, the server's CPU seconds
(/proc/PID/stat deltas, children included: NSD serves from a child
process) and ours/peer ratios; then the resident memory of each resolver
after 100,000 distinct names (``n<i>.wild.example.com``, answered by the
zone's wildcard) went through it. Figures, no assertions: ratios against
peers measured in the same run are what compare across machines.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from harness.accounting import tree_cpu_seconds, tree_rss_kib
from harness.addresses import ADDRESSES, CLIENT_ADDRESS, LAB_DNS, NSD_FOR, UNBOUND_ADDRESS
from harness.dnspeers import start_nsd, start_unbound
from harness.dnsservers import compose_services, start_ours
from harness.netns import MiniInternet, NetnsError, available

EXAMPLE = "ns-example"


@dataclass
class Figures:
    """One dnsperf run against one server."""

    server: str
    qps: float
    latency_ms: float
    completed: int
    lost: int
    cpu_s: float

    def row(self) -> str:
        """One table row."""
        return (
            f"  {self.server:<22} {self.qps:>10.0f} qps  {self.latency_ms:>8.3f} ms avg  "
            f"cpu {self.cpu_s:>5.2f} s  lost {self.lost}"
        )


def auth_queries() -> list[str]:
    """dnsperf lines for ns1.example.com: each owner of example.com x common types."""
    from harness.corpus import zone_records

    zone = compose_services()[EXAMPLE].zones()[0]
    owners = sorted({o for o, _, _ in zone_records(zone) if not o.startswith("big.")})
    return [f"{o.replace('*', 'x')} {t}" for o in owners for t in ("A", "AAAA", "TXT", "MX")]


def resolver_queries() -> list[str]:
    """dnsperf lines for the resolvers: the lab's public names and a few denials."""
    names = [
        "www.example.com",
        "api.example.com",
        "static.example.com",
        "example.com",
        "mail.example.com",
        "origin.example.com",
        "x.wild.example.com",
        "y.alias.example.com",
        "edge.edgecdn.net",
        "nx.example.com",
    ]
    return [f"{n} {t}" for n in names for t in ("A", "AAAA")]


def dnsperf(
    net: MiniInternet,
    server: str,
    pid: int,
    lines: list[str],
    tmp: Path,
    seconds: float,
    name: str,
    outstanding: int = 20,
) -> Figures:
    """One dnsperf run (one thread, one client) while the server's CPU is measured."""
    data = tmp / f"{name}.queries"
    data.write_text("\n".join(lines) + "\n")
    cpu = tree_cpu_seconds(pid)
    r = net.run(
        [
            "dnsperf",
            "-s",
            server,
            "-a",
            CLIENT_ADDRESS,
            "-d",
            str(data),
            "-T",
            "1",
            "-c",
            "1",
            "-q",
            str(outstanding),
            "-l",
            str(seconds),
            "-t",
            "5",
        ],
        timeout=seconds + 30,
    )
    cpu = tree_cpu_seconds(pid) - cpu
    if r.returncode != 0:
        raise RuntimeError(f"dnsperf against {server} failed: {r.stderr.strip()[-300:]}")
    return Figures(
        name,
        _number(r.stdout, r"Queries per second:\s+([\d.]+)"),
        _number(r.stdout, r"Average Latency \(s\):\s+([\d.]+)") * 1000,
        int(_number(r.stdout, r"Queries completed:\s+(\d+)")),
        int(_number(r.stdout, r"Queries lost:\s+(\d+)")),
        cpu,
    )


def _number(text: str, pattern: str) -> float:
    found = re.search(pattern, text)
    if found is None:
        raise RuntimeError(f"dnsperf output lacks {pattern!r}:\n{text[-800:]}")
    return float(found.group(1))


def fill_cache(
    net: MiniInternet, server: str, pid: int, tmp: Path, names: int, seconds: float, tag: str
) -> tuple[int, int]:
    """Send ``names`` distinct wildcard names once; (completed, RSS KiB) afterwards."""
    data = tmp / f"fill-{tag}.queries"
    data.write_text("".join(f"n{i}.wild.example.com A\n" for i in range(names)))
    r = net.run(
        [
            "dnsperf",
            "-s",
            server,
            "-a",
            CLIENT_ADDRESS,
            "-d",
            str(data),
            "-T",
            "1",
            "-c",
            "1",
            "-q",
            "50",
            "-n",
            "1",
            "-l",
            str(seconds),
            "-t",
            "5",
        ],
        timeout=seconds + 30,
    )
    completed = int(_number(r.stdout, r"Queries completed:\s+(\d+)")) if r.returncode == 0 else 0
    return completed, tree_rss_kib(pid)


def run(seconds: float, names: int, fill_seconds: float) -> dict[str, object]:
    """Start everything in a namespace, measure, stop everything; the figures."""
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="dns-bench-") as folder, MiniInternet(ADDRESSES) as net:
        tmp = Path(folder)
        ours = start_ours(net, tmp)
        services = compose_services()
        nsd = start_nsd(
            net,
            tmp,
            NSD_FOR[EXAMPLE],
            services[EXAMPLE].zones(),
            EXAMPLE,
            services[EXAMPLE].option("--name"),
        )
        unbound = start_unbound(net, tmp)

        auth = auth_queries()
        a = dnsperf(net, LAB_DNS[EXAMPLE], ours[EXAMPLE].pid, auth, tmp, seconds, "ours auth")
        b = dnsperf(net, NSD_FOR[EXAMPLE], nsd.pid, auth, tmp, seconds, "nsd")
        results["authoritative"] = _pair(a, b)

        rec = resolver_queries()
        for server, pid in (
            (LAB_DNS["resolver"], ours["resolver"].pid),
            (UNBOUND_ADDRESS, unbound.pid),
        ):
            dnsperf(net, server, pid, rec, tmp, 1, "warm-up")  # warm the cache first
        c = dnsperf(
            net,
            LAB_DNS["resolver"],
            ours["resolver"].pid,
            rec,
            tmp,
            seconds,
            "ours resolver (warm)",
        )
        d = dnsperf(net, UNBOUND_ADDRESS, unbound.pid, rec, tmp, seconds, "unbound (warm)")
        results["resolver"] = _pair(c, d)

        memory = {}
        for tag, server, pid in (
            ("ours", LAB_DNS["resolver"], ours["resolver"].pid),
            ("unbound", UNBOUND_ADDRESS, unbound.pid),
        ):
            before = tree_rss_kib(pid)
            started = time.monotonic()
            completed, after = fill_cache(net, server, pid, tmp, names, fill_seconds, tag)
            memory[tag] = {
                "names_sent": names,
                "answered": completed,
                "rss_before_kib": before,
                "rss_after_kib": after,
                "seconds": round(time.monotonic() - started, 1),
            }
        results["resolver_memory"] = memory
    return results


def _pair(ours: Figures, peer: Figures) -> dict[str, object]:
    return {
        "ours": asdict(ours),
        "peer": asdict(peer),
        "qps_ratio": round(ours.qps / peer.qps, 3) if peer.qps else None,
        "latency_ratio": round(ours.latency_ms / peer.latency_ms, 3) if peer.latency_ms else None,
    }


def show(results: dict[str, object]) -> None:
    """Human table."""
    for key in ("authoritative", "resolver"):
        pair = results[key]
        assert isinstance(pair, dict)
        print(f"{key}:")
        for side in ("ours", "peer"):
            print(Figures(**pair[side]).row())
        print(f"  ratio ours/peer: qps {pair['qps_ratio']}, latency {pair['latency_ratio']}")
    memory = results["resolver_memory"]
    assert isinstance(memory, dict)
    print("resolver memory after distinct names:")
    for tag, m in memory.items():
        print(
            f"  {tag:<8} {m['answered']}/{m['names_sent']} answered in {m['seconds']} s, "
            f"RSS {m['rss_before_kib'] / 1024:.1f} -> {m['rss_after_kib'] / 1024:.1f} MiB"
        )


def main(argv: list[str] | None = None) -> int:
    """Command line; exit 1 with one line when the benchmark cannot run."""
    parser = argparse.ArgumentParser(prog="python -m bench.dns_bench", description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0, help="per dnsperf run (5)")
    parser.add_argument("--names", type=int, default=100_000, help="names for the RSS figure")
    parser.add_argument(
        "--fill-seconds",
        type=float,
        default=240.0,
        help="bound on filling each resolver's cache (240)",
    )
    parser.add_argument("--json", action="store_true", help="machine output")
    args = parser.parse_args(argv)
    why = available()
    if why:
        print(f"dns_bench: {why}; run as root", file=sys.stderr)
        return 1
    try:
        results = run(args.seconds, args.names, args.fill_seconds)
    except (NetnsError, RuntimeError) as e:
        print(f"dns_bench: {e}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(results, indent=1))
    else:
        show(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())

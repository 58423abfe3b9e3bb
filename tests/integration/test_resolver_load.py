"""The resolver under load: a bounded dnsperf run from the host while scenarios run.

dnsperf (Debian's, installed by `lab tools`) asks the lab resolver from the
host's side of the lab bridge (the only address outside the containers that
reaches the lab network, and only it) at a fixed rate for a fixed time: up to
20,000 queries a second for 45 seconds, all for the root's NS set, which the
resolver primes as it starts and so answers from its cache (a load on names the
scenarios resolve would answer their questions before they ask: the cold walk
they check would be gone; on this
2-core machine dnsperf itself reaches about 13,000 a second beside the lab,
so the bound is the time and the rate the load offers). While it runs,
`browse` (the cold walk from the root) and `dns-trace` run as they do alone; both
must still hold every expectation. The load's own figures (sent, lost,
latency) are printed and kept in runs/resolver-load.json.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from lab.compose import ROOT, Lab
from lab.scenario import spec as scenario
from lab.scenario.runner import run_scenario
from lab.topology import BY_SERVICE

RATE, SECONDS = 20_000, 45  # queries a second at most, and for how long: the bound
NAMES = (". NS",)


def _figures(out: str) -> dict[str, float]:
    found = {}
    for key, pattern in (
        ("sent", r"Queries sent:\s+(\d+)"),
        ("completed", r"Queries completed:\s+(\d+)"),
        ("lost", r"Queries lost:\s+(\d+)"),
        ("qps", r"Queries per second:\s+([\d.]+)"),
        ("latency_avg_s", r"Average Latency \(s\):\s+([\d.]+)"),
        ("latency_max_s", r"max ([\d.]+)\)"),
    ):
        m = re.search(pattern, out)
        assert m, f"dnsperf printed no {key!r}:\n{out}"
        found[key] = float(m.group(1))
    return found


@pytest.mark.skipif(shutil.which("dnsperf") is None, reason="dnsperf missing: run `lab tools`")
def test_browse_and_dns_trace_pass_while_the_resolver_is_loaded(lab: Lab, tmp_path: Path) -> None:
    names = tmp_path / "queries.txt"
    names.write_text("\n".join(NAMES) + "\n")
    load = subprocess.Popen(
        ["dnsperf", "-s", BY_SERVICE["resolver"].ipv4, "-d", str(names), "-l", str(SECONDS),
         "-Q", str(RATE), "-c", "10", "-t", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        results, took = {}, {}
        for name in ("browse", "dns-trace"):
            r = run_scenario(lab, scenario.find(name), ROOT / "runs")
            results[name] = [c for c in r.checks if not c.passed]
            took[name] = round(r.seconds, 1)
        still_loading = load.poll() is None
        out, _ = load.communicate(timeout=SECONDS + 30)
    finally:
        if load.poll() is None:
            load.kill()
    figures = _figures(out)
    (ROOT / "runs" / "resolver-load.json").write_text(
        json.dumps({"rate": RATE, "seconds": SECONDS, **figures, "scenarios_s": took}, indent=2)
    )
    print(f"\nresolver offered {RATE} q/s for {SECONDS} s: {figures}; scenarios took {took}")
    assert still_loading, "the scenarios must run while the load does (they took too long?)"
    assert results == {"browse": [], "dns-trace": []}
    assert figures["sent"] >= 5_000 * SECONDS  # a real load ran: at least 5,000 a second
    # browse restarts the resolver (a cold cache): the load's queries in that second or
    # two go unanswered, and count as lost.
    assert figures["lost"] <= figures["sent"] * 0.1

"""Faults in the mini-Internet: a blackholed TLD server, a zone with every server down."""

from __future__ import annotations

import json
import time
from pathlib import Path
from subprocess import Popen

from dnslib import QTYPE, RCODE

from harness.addresses import LAB_DNS
from harness.dnsquery import query
from harness.netns import MiniInternet

RESOLVER = LAB_DNS["resolver"]
DEADLINE = 6.0  # the resolver's default --deadline (services/resolver/server.py)

Fresh = tuple[MiniInternet, dict[str, Popen[bytes]]]


def _timeouts(log: Path, address: str) -> int:
    """Upstream timeouts to ``address`` in the resolver's query-log traces."""
    count = 0
    for line in log.read_text().splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        for step in event.get("trace") or []:
            count += step.get("server") == address and step.get("result") == "timeout"
    return count


def test_blackholed_tld_server_fails_over(fresh: Fresh, tmp_path: Path) -> None:
    """With 198.51.100.11 silently dropping packets, the resolver still answers via .12."""
    net, _ = fresh
    rule = ["INPUT", "-d", "198.51.100.11", "-j", "DROP"]
    assert net.run(["iptables", "-A", *rule]).returncode == 0
    try:
        times = []
        for name in ("www.example.com", "api.example.com", "mail.example.com"):
            started = time.monotonic()
            reply = query(net, RESOLVER, name, "A", rd=True, timeout=DEADLINE + 2)
            times.append(time.monotonic() - started)
            assert reply is not None, name
            assert reply.header.rcode == RCODE.NOERROR, reply
            assert any(rr.rtype == QTYPE.A for rr in reply.rr), reply
    finally:
        net.run(["iptables", "-D", *rule])
    timeouts = _timeouts(tmp_path / "resolver.log", "198.51.100.11")
    print(
        f"\nfailover: first lookup {times[0]:.3f} s with {timeouts} timeout(s) to .11; "
        f"later lookups {', '.join(f'{t:.3f}' for t in times[1:])} s"
    )
    assert times[0] < DEADLINE


def _servfail_time(net: MiniInternet, name: str) -> float:
    started = time.monotonic()
    reply = query(net, RESOLVER, name, "A", rd=True, timeout=DEADLINE + 4)
    elapsed = time.monotonic() - started
    assert reply is not None, "no reply at all"
    assert reply.header.rcode == RCODE.SERVFAIL, RCODE.get(reply.header.rcode)
    return elapsed


def test_zone_with_all_servers_down_is_servfail_in_time(fresh: Fresh) -> None:
    """example.com's only server stopped, then blackholed: SERVFAIL (never NXDOMAIN) in time."""
    net, procs = fresh
    net.stop(procs["ns-example"])  # port closed: ICMP port unreachable, an immediate error
    refused = _servfail_time(net, "www.example.com")
    rule = ["INPUT", "-d", "198.51.100.21", "-j", "DROP"]  # silent: only timeouts tell
    assert net.run(["iptables", "-A", *rule]).returncode == 0
    try:
        silent = _servfail_time(net, "api.example.com")
    finally:
        net.run(["iptables", "-D", *rule])
    print(
        f"\nSERVFAIL: server stopped {refused:.3f} s, server blackholed {silent:.3f} s "
        f"(deadline {DEADLINE} s)"
    )
    assert refused <= DEADLINE + 1.0
    assert silent <= DEADLINE + 1.0

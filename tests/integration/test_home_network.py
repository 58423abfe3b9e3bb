"""The home network with real tools: the lease, the caches on the way, the routers, the NAT.

dig asks each DNS cache layer from the client; tracepath lists the routers;
tshark follows one connection through hops.pcapng, where each packet is
captured once per network it crossed.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from lab.compose import ROOT, Lab
from lab.scenario import spec as scenario
from lab.scenario.runner import run_scenario
from lab.topology import DEFAULT_PLAN as PLAN

from .conftest import run

CLIENT, ROUTER = PLAN.address("client"), PLAN.address("home-router")
LAB = [str(ROOT / ".venv" / "bin" / "lab")]


def _ttl(out: str, name: str) -> int:
    m = re.search(rf"^{re.escape(name)}\.\s+(\d+)\s+IN\s+A\s", out, re.M)
    assert m, out
    return int(m.group(1))


def test_client_has_its_lease_from_the_home_router(lab: Lab) -> None:
    """dhclient's lease: the planned address, the router as gateway and DNS server; the
    router's dnsmasq logged the ACK; resolv.conf names the stub."""
    lease = json.loads(lab.exec("client", "cat", "/run/weblab/lease.json", check=True).stdout)
    assert lease["address"] == f"{CLIENT}/24"
    assert lease["router"] == ROUTER
    assert lease["dns"] == ROUTER
    assert lease["lease_seconds"] > 0
    route = lab.exec("client", "ip", "route", "show", "default", check=True).stdout
    assert f"via {ROUTER}" in route
    assert "nameserver 127.0.0.53" in lab.exec("client", "cat", "/etc/resolv.conf").stdout
    logs = run("docker", "logs", lab.container_id("home-router"))
    assert re.search(rf"DHCPACK\S*\s.*{re.escape(CLIENT)}", logs.stdout + logs.stderr)


def test_each_cache_layer_answers_with_its_own_ttl(lab: Lab) -> None:
    """After one lookup through the stub, dig against each layer gets the answer from its
    cache; the ISP's resolver, asked last, still counts its TTL from its own start."""
    run(*LAB, "cache", "--flush", timeout=60)
    name = "www.example.com.edgecdn.net"
    first = lab.exec("client", "dig", "+noall", "+answer", name, check=True).stdout
    stub = lab.exec("client", "dig", "+noall", "+answer", "@127.0.0.53", name).stdout
    router = lab.exec("client", "dig", "+noall", "+answer", f"@{ROUTER}", name).stdout
    resolver = lab.exec("client", "dig", "+noall", "+answer",
                        f"@{PLAN.address('resolver')}", name).stdout  # fmt: skip
    ttls = [_ttl(x, name) for x in (first, stub, router, resolver)]
    assert all(0 < t <= 60 for t in ttls), ttls
    assert ttls[1] <= ttls[0]
    entries = json.loads(run(*LAB, "cache", "--layer", "stub", "--json").stdout)
    assert name in json.dumps(entries)
    run(*LAB, "cache", "--flush", timeout=60)
    for layer in ("stub", "router", "resolver"):
        left = run(*LAB, "cache", "--layer", layer, "--json").stdout
        assert f'"{name}' not in left, layer


def test_tracepath_lists_the_three_routers(lab: Lab) -> None:
    """tracepath from the client: the home router, the ISP's router, the exchange router,
    then the edge."""
    out = lab.exec("client", "tracepath", "-n", "-m", "8", PLAN.address("edge"), timeout=60).stdout
    hops = re.findall(r"^\s*(\d+):\s+(\d+\.\d+\.\d+\.\d+)", out, re.M)
    first: dict[int, str] = {}
    for n, addr in hops:
        first.setdefault(int(n), addr)
    assert [first.get(i) for i in (1, 2, 3)] == [
        ROUTER,
        PLAN.address("isp-router"),
        PLAN.address("ix-router"),
    ], out
    assert PLAN.address("edge") in out


@pytest.fixture(scope="module")
def nat_run(lab: Lab) -> Path:
    result = run_scenario(lab, scenario.find("nat"), ROOT / "runs")
    assert result.ok, [c for c in result.checks if not c.passed]
    return result.folder


def _rows(cap: Path, flt: str, *fields: str) -> list[list[str]]:
    r = subprocess.run(["tshark", "-r", str(cap), "-Y", flt, "-T", "fields",
                        *[a for f in fields for a in ("-e", f)]],
                       capture_output=True, text=True, check=True)  # fmt: skip
    return [line.split("\t") for line in r.stdout.splitlines() if line]


def test_one_syn_on_four_networks(nat_run: Path) -> None:
    """The client's first SYN to the edge, in hops.pcapng: on the home LAN from the
    client's address, then from the home's public address with the same port; TTL 64 to
    61; a new source MAC on every network; capture.pcapng keeps one copy."""
    edge = PLAN.address("edge")
    flt = f"tcp.flags.syn == 1 && tcp.flags.ack == 0 && ip.dst == {edge}"
    rows = _rows(nat_run / "hops.pcapng", flt, "frame.interface_name", "ip.src", "tcp.srcport",
                 "ip.ttl", "eth.src", "tcp.seq_raw")  # fmt: skip
    seq = rows[0][5]
    copies = [r for r in rows if r[5] == seq]
    assert [r[0] for r in copies] == ["home", "isp", "transit", "internet"]
    assert [r[1] for r in copies] == [CLIENT, PLAN.public, PLAN.public, PLAN.public]
    assert [r[3] for r in copies] == ["64", "63", "62", "61"]
    assert len({r[4] for r in copies}) == 4  # a new sender MAC at each hop
    assert len({r[2] for r in copies}) == 1  # MASQUERADE kept the port here
    once = _rows(
        nat_run / "capture.pcapng", f"{flt} && tcp.seq_raw == {seq}", "frame.interface_name"
    )
    assert once == [["home"]]


def test_wireshark_sees_four_named_interfaces(nat_run: Path) -> None:
    """capinfos lists one interface per network, named after it."""
    out = run("capinfos", str(nat_run / "hops.pcapng")).stdout
    for name in ("home", "isp", "transit", "internet"):
        assert re.search(rf"Name = {name}\b", out), out

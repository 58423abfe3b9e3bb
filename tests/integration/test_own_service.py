"""Your own service inside the lab (issue 14, part 2): examples/own-service joins a lab of
its own project with `lab up --with weblab.yaml`; real clients find and fetch it.

The lab here is a separate Compose project (LAB_OWN_PROJECT, default
``<LAB_PROJECT>-own``), started by the `lab` command as a user would and taken down at
the end, so the session's lab is left as it is.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.compose import ROOT, Lab
from lab.scenario import spec as scenario
from lab.scenario.runner import run_scenario

from .conftest import dig

EXAMPLE = ROOT / "examples" / "own-service" / "weblab.yaml"
PROJECT = os.environ.get("LAB_OWN_PROJECT") or f"{os.environ.get('LAB_PROJECT', 'weblab')}-own"
LAB = [sys.executable, "-m", "lab.cli"]


def lab_cli(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LAB_PROJECT": PROJECT}
    env.pop("LAB_SUBNET", None)  # a free /24 beside whatever runs
    return subprocess.run(
        [*LAB, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module")
def own() -> Iterator[Lab]:
    """The lab of PROJECT with the example's two services; removed at the end."""
    lab_cli("down")  # an interrupted run may have left it behind
    r = lab_cli("up", "--with", str(EXAMPLE))
    print(r.stdout[-3000:], r.stderr[-3000:])
    try:
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
        yield Lab(project=PROJECT)
    finally:
        lab_cli("down")


def curl(lab: Lab, *args: str) -> subprocess.CompletedProcess[str]:
    return lab.exec("client", "curl", "-sS", "--cacert", "/certs/ca.crt", *args, timeout=60)


def headers(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines()[1:]:
        key, sep, value = line.partition(":")
        if sep:
            out[key.strip().lower()] = value.strip()
    return out


def test_services_are_in_the_plan_and_running(own: Lab) -> None:
    """Both services are hosts of the lab's plan at .200 and .201, running."""
    shop, direct = own.plan.by_service["shop"], own.plan.by_service["direct"]
    assert shop.ipv4 == f"{own.plan.prefix}.200"
    assert direct.ipv4 == f"{own.plan.prefix}.201"
    states = {s.name: s for s in own.status()}
    assert states["shop"].state == "running"
    assert states["direct"].state == "running"


def test_dig_walks_the_hierarchy_to_ns_example(own: Lab) -> None:
    """dig +trace from the client: root, com., then ns1.example.com answers with the CNAME into
    edgecdn.net; the resolver gives the edge's address (fronted) and the container's (direct)."""
    r = own.exec(
        "client",
        "dig",
        "+trace",
        "+time=3",
        "+tries=1",
        f"@{own.plan.address('root-a')}",
        "shop.example.com",
        "A",
        timeout=60,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "(ns1.example.com)" in r.stdout, r.stdout
    assert "shop.example.com.edgecdn.net." in r.stdout, r.stdout
    fronted = dig(own, "shop.example.com", "A")
    assert [x[4] for x in fronted.records("ANSWER", "A")] == [own.plan.address("edge")]
    assert [x[4] for x in fronted.records("ANSWER", "CNAME")] == ["shop.example.com.edgecdn.net."]
    direct = dig(own, "direct.example.com", "A")
    assert [x[4] for x in direct.records("ANSWER", "A")] == [own.plan.address("direct")]


def test_fetched_through_the_edge_miss_then_hit(own: Lab) -> None:
    """curl to https://shop.example.com/: the edge answers (Via), MISS first, then HIT."""
    seen = []
    for _ in range(2):
        r = curl(own, "-D", "-", "-o", "/dev/null", "https://shop.example.com/integration")
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith("HTTP/2 200") or " 200" in r.stdout.splitlines()[0], r.stdout
        h = headers(r.stdout)
        assert "edge.edgecdn.net" in h.get("via", ""), r.stdout
        seen.append(h.get("x-cache", "").split()[0] if h.get("x-cache") else "")
    assert seen == ["MISS", "HIT"], seen


def test_fetched_directly_when_not_fronted(own: Lab) -> None:
    """curl to https://direct.example.com:9443/: the container itself, its lab certificate,
    no edge on the way."""
    r = curl(own, "-D", "-", "https://direct.example.com:9443/")
    assert r.returncode == 0, r.stderr
    h = headers(r.stdout)
    assert "via" not in h, r.stdout
    assert "x-cache" not in h, r.stdout
    assert '"shop": "direct.example.com"' in r.stdout


def test_a_scenario_run_names_the_services(own: Lab, tmp_path: Path) -> None:
    """A run fetching both: the timeline records them, the capture's names say shop and
    direct (tshark -N n), the report mentions them."""
    path = tmp_path / "own.yaml"
    path.write_text(
        "name: own-service\nsteps:\n  - fetch: https://shop.example.com/run\n"
        "  - fetch: https://direct.example.com:9443/run\n"
        "expect:\n  - {step: 1, status: 200}\n  - {step: 2, status: 200}\n"
    )
    result = run_scenario(own, scenario.load(path), ROOT / "runs")
    assert result.ok, ([c for c in result.checks if not c.passed], result.folder)
    names = {h["dns_name"] for h in result.timeline["own_hosts"]}
    assert names == {"shop.example.com", "direct.example.com"}
    r = subprocess.run(
        [
            "tshark",
            "-r",
            str(result.capture),
            "-N",
            "n",
            "-T",
            "fields",
            "-e",
            "ip.src_host",
            "-e",
            "ip.dst_host",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "direct.example.com" in r.stdout
    assert "shop.example.com" in r.stdout
    assert "direct.example.com" in (result.folder / "report.html").read_text()

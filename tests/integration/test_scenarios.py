"""The shipped scenarios, run through the same engine as `lab run`, hold their expectations."""

from __future__ import annotations

import json
from typing import IO

import pytest

from lab.compose import ROOT, Lab
from lab.scenario import spec as scenario
from lab.scenario.runner import run_scenario

from .report_layout import assert_fits

# Their reports must read at 1280 px, as browse's.
LAYOUT_CHECKED = ("api", "tld-outage", "hol-blocking")


@pytest.mark.parametrize(
    "name",
    [
        "dns-trace",
        "dns-cache",
        "tld-outage",
        "packet-loss",
        "truncation",
        "origins-down",
        "redirect",
        "bad-cert",
        "origin-down",
        "api",
        "latency",
        "websocket",
        "http-versions",
        "h2-multiplexing",
        "browser",
        "quic-resumption",
        "hol-blocking",
        "cache-poisoning",
        "dns-caches",
        "dhcp",
        "nat",
        "traceroute",
    ],
)
def test_scenario_expectations_hold(lab: Lab, name: str) -> None:
    """Every expectation the scenario file states is met by the real run and its capture."""
    sc = scenario.find(name)
    result = run_scenario(lab, sc, ROOT / "runs")
    failed = [c for c in result.checks if not c.passed]
    assert not failed, failed
    if name in LAYOUT_CHECKED:
        assert_fits(result.folder / "report.html")
    assert result.ok
    doc = json.loads((result.folder / "timeline.json").read_text())
    assert doc["scenario"] == name
    assert all(e["passed"] for e in doc["expectations"])


def test_faults_are_removed_after_the_run(lab: Lab) -> None:
    """After tld-outage the blackholed TLD server answers again (iptables rules gone)."""
    run_scenario(lab, scenario.find("tld-outage"), ROOT / "runs")
    r = lab.exec("client", "dig", "+time=2", "+tries=1", "+norec", "@198.51.100.11", "com.", "SOA")
    assert "status: NOERROR" in r.stdout


def test_warm_visit_after_cold(lab: Lab) -> None:
    """A second visit is answered from caches: the resolver asks nobody, the edge says HIT."""
    run_scenario(lab, scenario.find("browse"), ROOT / "runs")
    result = run_scenario(lab, scenario.find("browse-warm"), ROOT / "runs")
    assert result.ok, [c for c in result.checks if not c.passed]
    static = [f for f in result.timeline["fetches"] if "static.example.com" in f["url"]]
    assert static
    assert all(f["cache"] == "HIT" for f in static)
    assert_fits(result.folder / "report.html")


def test_broken_expectation_fails_the_run(lab: Lab, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """An expectation the run cannot meet makes the run fail: the checks can fail."""
    p = tmp_path / "wrong.yaml"
    p.write_text(
        "name: wrong\nsteps:\n  - dig: www.example.com\nexpect:\n  - step: 1\n    rcode: NXDOMAIN\n"
    )
    result = run_scenario(lab, scenario.load(p), ROOT / "runs")
    assert not result.ok
    assert [c.found for c in result.checks] == ["NOERROR"]


def test_interrupted_run_cleans_up(lab: Lab) -> None:
    """Ctrl-C during a run: faults removed, capture closed, the folder says INTERRUPTED."""
    import queue
    import signal
    import subprocess
    import threading
    import time

    before = set((ROOT / "runs").glob("*-tld-outage"))
    # A thread reads the output so that the wait below has a deadline (a blocking
    # readline has none); every line is kept for the failure messages.
    lines: queue.Queue[str | None] = queue.Queue()  # None: end of output
    seen: list[str] = []

    def read(stream: IO[str]) -> None:
        for line in stream:
            lines.put(line)
        lines.put(None)

    with subprocess.Popen(  # closes the pipe and reaps the process on the way out
        [str(ROOT / ".venv" / "bin" / "lab"), "run", "tld-outage"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as proc:
        assert proc.stdout is not None
        reader = threading.Thread(target=read, args=(proc.stdout,), daemon=True)
        reader.start()
        # The browse step's first event line (steps._event_line of its dns.query) is
        # printed once the client in the container has begun the step's work: the fault is
        # in place and the step is running, where a user's Ctrl-C would land.
        started = in_step = False
        deadline = time.monotonic() + 120
        while not in_step:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                proc.kill()
                pytest.fail("no event line from step 1 within 120 s:\n" + "".join(seen))
            assert line is not None, "lab run ended before its step began:\n" + "".join(seen)
            seen.append(line)
            started = started or line.startswith("step 1/1: browse ")
            in_step = started and line.startswith("  DNS   ? www.example.com A  (asking ")
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        reader.join(timeout=30)
        while not lines.empty():
            line = lines.get_nowait()
            if line is not None:
                seen.append(line)
    out = "".join(seen)
    assert proc.returncode == 130, out
    (folder,) = set((ROOT / "runs").glob("*-tld-outage")) - before
    assert (folder / "INTERRUPTED").exists()
    assert (folder / "capture.pcapng").read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"
    r = lab.exec("client", "dig", "+time=2", "+tries=1", "+norec", "@198.51.100.11", "com.", "SOA")
    assert "status: NOERROR" in r.stdout, "the blackhole was left in place"


def test_capture_container_backend(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    """The capture container (for hosts that cannot see the bridge) records a run as well."""
    monkeypatch.setenv("LAB_CAPTURE", "container")
    result = run_scenario(lab, scenario.find("dns-trace"), ROOT / "runs")
    assert result.ok, [c for c in result.checks if not c.passed]
    assert not (result.folder / "raw.pcap").exists()


def test_live_capture(lab: Lab) -> None:
    """`lab capture --seconds` records what happens meanwhile, with a report."""
    import subprocess
    import threading

    from lab.capture.live import capture_live

    def later() -> None:
        lab.exec("client", "dig", "+time=2", "+tries=1", "example.com", "MX")

    timer = threading.Timer(1.5, later)
    timer.start()
    folder = capture_live(lab, ROOT / "runs", seconds=4)
    timer.join()
    r = subprocess.run(
        [
            "tshark",
            "-r",
            str(folder / "capture.pcapng"),
            "-Y",
            "dns.qry.name == example.com && dns.qry.type == 15",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.stdout.strip(), "the MX lookup made during the capture is missing"
    assert (folder / "report.html").exists()


def test_delay_fault_is_applied_and_said(lab: Lab, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A delay fault goes through the resolver's link delay daemon: the run says so, and the
    lookup really takes 200 ms longer than the same lookup after the fault is removed."""
    p = tmp_path / "delay.yaml"
    p.write_text(
        "name: delay\nfaults:\n  - delay: {service: resolver, ms: 200}\n"
        "steps:\n  - dig: {name: origin.example.com, server: resolver}\n"
        "  - dig: {name: origin.example.com, server: resolver}\n"
    )
    result = run_scenario(lab, scenario.load(p), ROOT / "runs")
    assert result.ok
    notes = " ".join(result.timeline["fault_notes"])
    assert "delay 200 ms on everything resolver receives (userspace NFQUEUE)" in notes
    slow = result.timeline["steps"][1]["ms"]  # cached answer, fault in force
    # Asked of the resolver itself: the client's stub and the router would answer from
    # their caches without reaching the delayed host.
    resolver = lab.plan.address("resolver")
    r = lab.exec("client", "dig", "+tries=1", f"@{resolver}", "origin.example.com")
    after = float(r.stdout.split("Query time:")[1].split()[0])
    assert slow >= after + 200, (slow, after)

"""The main job, `lab run browse`, checked from its capture with tshark."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lab.compose import ROOT, Lab
from lab.topology import DEFAULT_PLAN as PLAN

from .conftest import run
from .report_layout import assert_fits

ROOTS = {PLAN.address("root-a"), PLAN.address("root-b")}
TLDS = {PLAN.address("tld-a"), PLAN.address("tld-b")}
EDGE = PLAN.address("edge")
RESOLVER = PLAN.address("resolver")
CLIENT = PLAN.address("client")
ROUTER = PLAN.address("home-router")  # its LAN side: the client's gateway and DNS server


@pytest.fixture(scope="module")
def browse_run(lab: Lab) -> Path:
    """Run the browse scenario through the CLI, as a user does; return its folder."""
    before = set((ROOT / "runs").glob("*-browse"))
    r = run(str(ROOT / ".venv" / "bin" / "lab"), "run", "browse", timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "capture:" in r.stdout
    (folder,) = set((ROOT / "runs").glob("*-browse")) - before
    return folder


def tshark(capture: Path, display_filter: str, *fields: str) -> list[list[str]]:
    args = ["tshark", "-r", str(capture), "-Y", display_filter]
    if fields:
        args += ["-T", "fields", *[a for f in fields for a in ("-e", f)]]
    r = run(*args)
    assert r.returncode == 0, r.stderr
    return [line.split("\t") for line in r.stdout.splitlines() if line.strip()]


def test_run_folder_contents(browse_run: Path) -> None:
    """The run leaves a pcapng capture, a timeline and the servers' logs."""
    assert (browse_run / "capture.pcapng").stat().st_size > 1000
    assert (browse_run / "capture.pcapng").read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"  # pcapng SHB
    timeline = json.loads((browse_run / "timeline.json").read_text())
    statuses = [f["status"] for f in timeline["fetches"]]
    assert statuses[0] == 200
    assert len(statuses) >= 4
    assert set(statuses) == {200}
    assert (browse_run / "services.log").stat().st_size > 0


def test_resolver_walked_root_tld_authoritative(browse_run: Path) -> None:
    """The resolver asked a root, a TLD and the authoritative servers during the run."""
    asked = {
        row[0]
        for row in tshark(
            browse_run / "capture.pcapng",
            f"dns.flags.response == 0 && ip.src == {RESOLVER}",
            "ip.dst",
        )
    }
    assert asked & ROOTS, asked
    assert asked & TLDS, asked
    assert {PLAN.address("ns-example"), PLAN.address("ns-cdn")} <= asked


def test_lookup_went_stub_router_resolver(browse_run: Path) -> None:
    """The client's stub asked the home router for www.example.com on the home LAN, and
    the router asked the ISP's resolver from the home's public address."""
    cap = browse_run / "capture.pcapng"
    rows = tshark(cap, f"dns.flags.response == 0 && ip.src == {CLIENT}", "ip.dst", "dns.qry.name")
    assert [ROUTER, "www.example.com"] in rows
    rows = tshark(cap, f"dns.flags.response == 0 && ip.dst == {RESOLVER}", "ip.src",
                  "dns.qry.name", "frame.interface_name")  # fmt: skip
    assert [PLAN.public, "www.example.com", "isp"] in rows


def test_cold_run_starts_with_arp_for_the_gateway(browse_run: Path) -> None:
    """The neighbour caches were emptied: the client asks who has its gateway before its
    first DNS question leaves, and the router answers with its MAC."""
    cap = browse_run / "capture.pcapng"
    who = tshark(cap, f"arp.opcode == 1 && arp.src.proto_ipv4 == {CLIENT} && "
                 f"arp.dst.proto_ipv4 == {ROUTER}", "frame.number")  # fmt: skip
    said = tshark(cap, f"arp.opcode == 2 && arp.src.proto_ipv4 == {ROUTER}", "frame.number")
    query = tshark(cap, f"dns.flags.response == 0 && ip.src == {CLIENT}", "frame.number")
    assert who
    assert said
    assert query
    assert int(who[0][0]) < int(said[0][0]) < int(query[0][0])


def test_tcp_three_way_handshake_with_edge(browse_run: Path) -> None:
    """SYN, SYN-ACK and ACK between the client and the edge are in the capture."""
    cap = browse_run / "capture.pcapng"
    syn = tshark(
        cap, f"tcp.flags.syn == 1 && tcp.flags.ack == 0 && ip.dst == {EDGE}", "tcp.srcport"
    )
    synack = tshark(
        cap, f"tcp.flags.syn == 1 && tcp.flags.ack == 1 && ip.src == {EDGE}", "tcp.dstport"
    )
    assert syn
    assert synack
    port = syn[0][0]
    assert [port] in synack
    ack = tshark(
        cap, f"tcp.srcport == {port} && tcp.flags == 0x010 && tcp.seq == 1 && tcp.ack == 1"
    )
    assert ack


def test_tls_handshake_with_edge(browse_run: Path) -> None:
    """ClientHello to the edge with SNI www.example.com, ServerHello back."""
    cap = browse_run / "capture.pcapng"
    hello = tshark(
        cap, f"tls.handshake.type == 1 && ip.dst == {EDGE}", "tls.handshake.extensions_server_name"
    )
    assert ["www.example.com"] in hello
    assert tshark(cap, f"tls.handshake.type == 2 && ip.src == {EDGE}")


def test_capture_decrypts_without_key_file(browse_run: Path) -> None:
    """tshark shows the decrypted requests to the edge (HTTP/2 HEADERS: the browser chose h2
    by ALPN) and the edge's to the origin (HTTP/1.1), with no key file given."""
    cap = browse_run / "capture.pcapng"
    rows = tshark(cap, f"http2.headers.method && ip.dst == {EDGE}", "http2.headers.authority",
                  "http2.headers.path")  # fmt: skip
    assert ["www.example.com", "/"] in rows
    # one packet may carry several streams' HEADERS: tshark joins their fields with commas
    assert any("static.example.com" in host for host, _uri in rows)
    upstream = tshark(cap, f"http.request && ip.src == {EDGE}", "http.request.version")
    assert upstream
    assert {v for (row,) in upstream for v in row.split(",")} == {"HTTP/1.1"}


def test_capture_names_hosts_and_marks_steps(browse_run: Path) -> None:
    """The pcapng names the lab's hosts, says which scenario it is and marks step starts."""
    cap = browse_run / "capture.pcapng"
    named = run(
        "tshark",
        "-r",
        str(cap),
        "-N",
        "n",
        "-Y",
        " || ".join(f"ip.dst == {a}" for a in sorted(ROOTS)),
        "-T",
        "fields",
        "-e",
        "ip.dst_host",
    )
    assert named.returncode == 0, named.stderr
    assert set(named.stdout.split()) <= {"a.root-servers.net", "b.root-servers.net"}
    assert named.stdout.split()
    info = run("capinfos", str(cap))
    assert "browse" in info.stdout  # the capture comment names the scenario
    assert tshark(cap, "frame.comment")


def test_har_validates(browse_run: Path) -> None:
    """run.har is HAR 1.2: it validates against the schema and has every request."""
    import jsonschema

    schema = json.loads(
        (ROOT / "tests" / "unit" / "report" / "data" / "har-1.2.schema.json").read_text()
    )
    har = json.loads((browse_run / "run.har").read_text())
    jsonschema.validate(har, schema)
    timeline = json.loads((browse_run / "timeline.json").read_text())
    assert [e["request"]["url"] for e in har["log"]["entries"]] == [
        f["url"] for f in timeline["fetches"]
    ]


def _lab_hosts_in_capture(cap: Path) -> set[str]:
    rows = tshark(cap, "ip", "ip.src", "ip.dst")
    addrs = {a for row in rows for a in row if a in PLAN.by_address or a == PLAN.public}
    return addrs - set(PLAN.bridges.values())


def test_report_renders_in_chromium(browse_run: Path) -> None:
    """Headless Chromium renders report.html with no console error; the diagram has a
    lifeline for every host in the capture and its arrows in capture order."""
    import re
    import shutil
    import tempfile

    chromium = shutil.which("chromium")
    assert chromium, "chromium is missing: `lab tools` installs it"
    report = browse_run / "report.html"
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--enable-logging=stderr",
        "--v=0",
    ]
    with tempfile.TemporaryDirectory() as profile:
        dom = run(
            chromium,
            *flags,
            f"--user-data-dir={profile}",
            "--dump-dom",
            report.as_uri(),
            timeout=120,
        )
    with tempfile.TemporaryDirectory() as profile:
        shot = run(
            chromium,
            *flags,
            f"--user-data-dir={profile}",
            "--window-size=1400,3000",
            f"--screenshot={browse_run / 'report.png'}",
            report.as_uri(),
            timeout=120,
        )
    assert shot.returncode == 0
    assert (browse_run / "report.png").stat().st_size > 10_000
    console = [ln for ln in dom.stderr.splitlines() if "CONSOLE" in ln]
    assert not [ln for ln in console if "Uncaught" in ln or "rror" in ln], console
    assert "Failed to load resource" not in dom.stderr
    html = dom.stdout
    lifelines = set(re.findall(r'class="lifeline" data-host="[^"]*" data-address="([^"]+)"', html))
    assert _lab_hosts_in_capture(browse_run / "capture.pcapng") <= lifelines
    frames = [int(f) for f in re.findall(r'<g class="msg [^"]*" data-frame="(\d+)"', html)]
    assert len(frames) > 20
    assert frames == sorted(frames)


def test_report_fits_the_screen(browse_run: Path) -> None:
    """At 1280 x 900 the cold browse's report has no sideways scroll, every lifeline head in
    view, each phase of the page's first request at least 40 px, and the journey in order."""
    assert_fits(browse_run / "report.html")

"""One request hop by hop, from a real run's hops.pcapng (the home network's four networks)."""

import json
import re
import shutil
from pathlib import Path

import pytest

from lab.report import build_report, hosts
from lab.report.encapsulation import Encapsulation, Field, encapsulation
from lab.report.encapsulation_fields import FIELDS
from lab.report.encapsulation_html import CSS, encapsulation_html, encapsulation_section
from lab.report.packets import tshark_rows
from lab.topology import plan_of

from .conftest import DATA, SAMPLE, needs_tshark

RUN = DATA / "hops-run"
PLAN = plan_of(json.loads((RUN / "timeline.json").read_text()))
PATH = ("home", "isp", "transit", "internet")


@pytest.fixture(scope="module")
def view() -> Encapsulation:
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed (Debian package tshark)")
    v = encapsulation(tshark_rows(RUN / "hops.pcapng", FIELDS), PLAN)
    assert v is not None
    return v


def field(v: Encapsulation, layer: str, name: str) -> Field:
    return next(f for la in v.layers if la.name == layer for f in la.fields if f.name == name)


def test_first_request_on_four_networks_in_path_order(view: Encapsulation) -> None:
    """The first HTTP/2 request is found on home, isp, transit and internet, in time order."""
    assert view.kind == "request"
    assert tuple(h.copy.network for h in view.hops) == PATH
    times = [h.copy.time for h in view.hops]
    assert times == sorted(times)
    assert [h.copy.frame for h in view.hops] == [41, 42, 43, 44]
    assert len({h.copy.key for h in view.hops}) == 1


def test_ttl_falls_by_one_at_each_router(view: Encapsulation) -> None:
    """TTL 64 at home, then 63, 62, 61; each drop noted, the IP checksum recomputed each time."""
    ttl = field(view, "IP", "TTL")
    assert [c.value for c in ttl.cells] == ["64", "63", "62", "61"]
    assert [c.note for c in ttl.cells] == ["", "TTL −1", "TTL −1", "TTL −1"]
    assert [c.changed for c in field(view, "IP", "header checksum").cells] == [False, *[True] * 3]
    assert not any(c.changed for c in field(view, "IP", "identification").cells)


def test_nat_flagged_at_the_isp_hop_only(view: Encapsulation) -> None:
    """The source becomes the home's public address on the ISP's network, marked as the NAT."""
    src = field(view, "IP", "source").cells
    assert [c.value for c in src] == [PLAN.address("client"), *[PLAN.public] * 3]
    assert PLAN.public == "203.0.113.2"
    assert [c.changed for c in src] == [False, True, False, False]
    assert "NAT" in src[1].note
    assert not any(c.changed for c in field(view, "IP", "destination").cells)
    assert view.routers[0].service == "home-router"
    assert [r.service for r in view.routers] == ["home-router", "isp-router", "ix-router"]


def test_new_macs_at_every_hop_named_by_owner(view: Encapsulation) -> None:
    """Both MACs change at every hop; each is named as the host or router it belongs to."""
    for name in ("source MAC", "destination MAC"):
        cells = field(view, "Ethernet", name).cells
        assert [c.changed for c in cells] == [False, True, True, True], name
        assert all(c.note == "new MACs" for c in cells[1:]), name
        assert len({c.value for c in cells}) == 4, name
    pairs = [(h.src.owner, h.dst.owner) for h in view.hops]
    assert pairs == [("client", "home-router"), ("home-router", "isp-router"),
                     ("isp-router", "ix-router"), ("ix-router", "edge")]  # fmt: skip


def test_http_row_has_the_decrypted_request(view: Encapsulation) -> None:
    """GET www.example.com / at every hop; copies tshark did not decrypt say where it was read."""
    for name, value in (("method", "GET"), (":authority", "www.example.com"), (":path", "/")):
        cells = field(view, "HTTP/2", name).cells
        assert [c.value for c in cells] == [value] * 4, name
    notes = [c.note for c in field(view, "HTTP/2", "method").cells]
    assert notes[:2] == ["", ""]
    assert all(n.startswith("read from frame ") for n in notes[2:])


def test_layer_sizes_nest(view: Encapsulation) -> None:
    """Frame = 14 + IP total length; IP = its header + TCP; TCP = its header + TLS records."""
    assert [la.name for la in view.layers] == ["Ethernet", "IP", "TCP", "TLS", "HTTP/2"]
    sizes = [la.size or 0 for la in view.layers]
    headers = [la.header for la in view.layers]
    assert sizes[:4] == [239, 225, 205, 173]
    assert headers[:3] == [14, 20, 32]
    for outer in range(3):
        assert sizes[outer] == headers[outer] + sizes[outer + 1], view.layers[outer].name
    assert 0 < sizes[4] < sizes[3]


def test_answer_comes_back_through_the_nat(view: Encapsulation) -> None:
    """The response's copies run internet to home; the home router translates the destination."""
    assert tuple(h.copy.network for h in view.reply) == PATH[::-1]
    assert [h.copy.ttl for h in view.reply] == [64, 63, 62, 61]
    assert [h.copy.ip_dst for h in view.reply] == [PLAN.public] * 3 + [PLAN.address("client")]
    assert view.reply[0].copy.status == "200"
    assert view.reply_routers[-1].service == "home-router"


def test_html_structure_fits_the_page(view: Encapsulation) -> None:
    """One column per hop, layers as nested boxes, changed cells marked, no fixed pixel widths."""
    with hosts.using(PLAN):
        html = encapsulation_html(view)
    head = re.search(r"<thead>(.*?)</thead>", html, re.S)
    assert head is not None
    assert re.findall(r"<th>\d · (\w+)<br>", head.group(1)) == list(PATH)
    boxes = re.findall(r'<div class="ebox (l-\w+)">', html)
    assert boxes == ["l-ethernet", "l-ip", "l-tcp", "l-tls", "l-http"]
    nest = html[html.index('<div class="enest">') : html.index('<table class="etable">')]
    assert nest.endswith("</div>" * (len(boxes) + 1))  # each box closes inside the one before
    # both MACs at 3 hops, the NAT, 3 TTLs, 3 IP checksums, the TCP checksum behind the NAT
    assert html.count('<td class="chg">') == 2 * 3 + 1 + 3 + 3 + 1
    assert "198.18.0.100:53980 → 203.0.113.2:53980" in html
    assert "back to 198.18.0.100:53980" in html
    assert "style=" not in html
    assert re.search(r"\bwidth:\s*\d+px", CSS) is None
    assert "table.etable{width:100%;table-layout:fixed" in CSS


@needs_tshark
def test_no_hops_capture_no_section(tmp_path: Path) -> None:
    """An older run folder without hops.pcapng gets no section, and the report still builds."""
    assert encapsulation_section(tmp_path / "hops.pcapng") == ""
    run = tmp_path / "run"
    shutil.copytree(SAMPLE, run)
    assert not (run / "hops.pcapng").exists()
    assert 'class="encap"' not in build_report(run).read_text()


@needs_tshark
def test_report_places_the_section_after_the_journey(tmp_path: Path) -> None:
    """build_report reads hops.pcapng next to the capture and puts the view after the journey."""
    run = tmp_path / "run"
    shutil.copytree(RUN, run)
    shutil.copy(RUN / "hops.pcapng", run / "capture.pcapng")  # any capture will do here
    html = build_report(run).read_text()
    assert html.index('class="journey-map"') < html.index('<section class="encap"')
    assert "GET https://www.example.com/" in html


def test_fallbacks_clienthello_then_syn() -> None:
    """With no readable request the first ClientHello is taken, with neither the first SYN."""
    client, edge = PLAN.address("client"), PLAN.address("edge")

    def row(frame: int, net: str, **extra: list[str]) -> dict[str, list[str]]:
        base = {"frame.number": [str(frame)], "frame.interface_name": [net],
                "frame.time_epoch": [f"{frame / 1000}"], "ip.src": [client], "ip.dst": [edge],
                "ip.id": ["0x1"], "ip.len": ["60"], "tcp.srcport": ["40000"],
                "tcp.dstport": ["443"], "tcp.seq_raw": [str(frame)], "tcp.ack_raw": ["0"],
                "tcp.flags": ["0x0002"], "ip.ttl": ["64"], "frame.len": ["74"]}  # fmt: skip
        return {**base, **extra}

    syn = row(1, "home")
    tls = {"tls.handshake.type": ["1"], "tls.record.content_type": ["22"]}
    hello = row(2, "home", **tls, **{"tcp.flags": ["0x0018"], "tls.record.length": ["512"]})
    picked = encapsulation([syn, hello], PLAN)
    assert picked is not None
    assert (picked.kind, picked.hops[0].copy.frame) == ("client-hello", 2)
    only_syn = encapsulation([syn], PLAN)
    assert only_syn is not None
    assert (only_syn.kind, [la.name for la in only_syn.layers]) == (
        "syn",
        ["Ethernet", "IP", "TCP"],
    )
    assert encapsulation([], PLAN) is None

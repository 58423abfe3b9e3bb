"""The journey map: the hosts a run went through, numbered in capture order, on the lab's plan."""

import re

import pytest

from lab.report.journey import COLUMNS, column, journey, journey_section, journey_svg
from lab.report.packets import Message, read_messages
from lab.topology import BY_SERVICE, DEFAULT_PLAN, HOSTS

from .conftest import FLAT, FLAT_IP, SAMPLE, needs_tshark

# The sample run is a flat one (before the home network): its hosts, named from its plan.
IP = FLAT_IP
pytestmark = pytest.mark.usefixtures("fixture_plan")


def msg(frame: int, src: str, dst: str, proto: str = "dns", kind: str = "query") -> Message:
    return Message(frame, float(frame), IP[src], IP[dst], proto, kind, f"{proto} {kind}")


@needs_tshark
def test_cold_browse_path_in_capture_order() -> None:
    """The cold browse starts client -> resolver, then resolver -> a root; hops in frame order."""
    hops = journey(read_messages(SAMPLE / "capture.pcapng"))
    assert [h.number for h in hops] == list(range(1, len(hops) + 1))
    assert [h.frame for h in hops] == sorted(h.frame for h in hops)
    assert (hops[0].src, hops[0].dst) == (IP["client"], IP["resolver"])
    assert hops[1].src == IP["resolver"]
    assert hops[1].dst in (IP["root-a"], IP["root-b"])
    assert (hops[0].proto, hops[1].proto) == ("DNS", "DNS")
    edge = next(h for h in hops if h.dst == IP["edge"])
    assert (edge.src, edge.proto) == (IP["client"], "TCP")
    assert edge.label == "TLS www.example.com · GET /"
    assert set(edge.protos) == {"TCP", "TLS", "HTTP"}


@needs_tshark
def test_cold_browse_svg_badges_hosts_and_grey() -> None:
    """One badge per hop, linked to its frame; every planned host drawn; untouched ones greyed."""
    messages = read_messages(SAMPLE / "capture.pcapng")
    hops = journey(messages)
    svg = journey_svg(messages)
    badges = re.findall(r'<g class="jhop" data-frame="(\d+)"', svg)
    assert [int(f) for f in badges] == [h.frame for h in hops]
    numbers = re.findall(r'<text [^>]*text-anchor="middle">(\d+)</text></g>', svg)
    assert numbers == [str(h.number) for h in hops]
    found = re.findall(r'class="jhost (\w+)" data-address="([^"]+)"', svg)
    states = {addr: state for state, addr in found}
    assert len(found) == len(FLAT.hosts)
    assert set(states) == {h.ipv4 for h in FLAT.hosts}
    touched = {a for h in hops for a in (h.src, h.dst)}
    assert {a for a, s in states.items() if s == "seen"} == touched
    for service in ("root-b", "tld-b", "origin", "api", "badcert"):
        assert states[IP[service]] == "idle", service


def test_repeated_contacts_counted_not_numbered() -> None:
    """A second query between the same two hosts, either way, adds to the hop's count."""
    hops = journey([msg(1, "client", "resolver"), msg(2, "resolver", "root-a"),
                    msg(3, "root-a", "resolver", kind="response"), msg(4, "resolver", "root-a"),
                    msg(5, "resolver", "client", kind="response")])  # fmt: skip
    assert [(h.number, h.frame, h.messages) for h in hops] == [(1, 1, 2), (2, 2, 3)]
    assert all(h.answered for h in hops)


def test_path_starts_with_the_client() -> None:
    """Traffic before the client's first message (health checks, priming) is not on the path."""
    messages = [msg(1, "edge", "origin", "http", "request"), msg(2, "resolver", "root-a"),
                msg(3, "client", "resolver"), msg(4, "resolver", "root-a")]  # fmt: skip
    hops = journey(messages)
    assert [(h.frame, h.src, h.dst) for h in hops] == [
        (3, IP["client"], IP["resolver"]),
        (4, IP["resolver"], IP["root-a"]),
    ]
    assert "The 2 messages before the client" in journey_section(messages)


def test_leftover_reply_does_not_turn_the_arrow() -> None:
    """A health check's answer left from before the path opens no hop; the next request does."""
    hops = journey([msg(1, "client", "resolver"), msg(2, "origin", "edge", "http", "response"),
                    msg(3, "edge", "origin", "http", "request")])  # fmt: skip
    assert [(h.frame, h.src, h.dst) for h in hops][1] == (3, IP["edge"], IP["origin"])


def test_unanswered_hop_drawn_as_such() -> None:
    """A server that never replies (a TLD outage) gets a dashed red arrow and "no reply"."""
    reply = msg(4, "tld-b", "resolver", kind="response")
    messages = [msg(1, "client", "resolver"), msg(2, "resolver", "tld-a"),
                msg(3, "resolver", "tld-b"), reply]  # fmt: skip
    hops = journey(messages)
    assert [h.answered for h in hops] == [False, False, True]  # the client got no answer either
    assert journey_svg(messages).count('stroke-dasharray="5 4"') == 2
    assert journey_section(messages).count('class="jnoreply"') == 2


def test_columns_by_role() -> None:
    """Hosts fall into the role columns; a host of a role the map does not know goes last."""
    cols = {h.service: column(h) for h in HOSTS}
    assert cols["client"] == "client"
    assert cols["resolver"] == "resolver"
    assert {cols[s] for s in ("root-a", "tld-b", "ns-example", "ns-cdn")} == {"dns"}
    assert cols["edge"] == "edge"
    assert {cols[s] for s in ("origin", "origin-2", "api", "badcert")} == {"origin"}
    stranger = BY_SERVICE["edge"].__class__("box-1", "a box", "198.51.100.2", "b1.isp.test")
    assert column(stranger) == "other"
    # The lab's routers are routers, whatever else they run (the home router's DNS cache),
    # in the column beside the client.
    assert {cols[s] for s in ("home-router", "isp-router", "ix-router")} == {"router"}
    assert COLUMNS.index("router") == COLUMNS.index("client") + 1


def test_stranger_address_gets_a_node() -> None:
    """An address outside the plan that the path meets is drawn too, not dropped."""
    m = Message(1, 1.0, IP["client"], "198.51.100.7", "tcp", "syn", "SYN")
    svg = journey_svg([m])
    assert 'data-address="198.51.100.7"' in svg
    assert svg.count('class="jhop"') == 1


def test_a_router_is_one_host_whichever_interface_it_speaks_from() -> None:
    """The home router's lookups leave from its WAN address (the home's public one): on the map
    they start at the home router's node, and no stranger node is drawn for that address."""
    from lab.report import hosts

    p = DEFAULT_PLAN
    wan, lan = p.address("home-router", "isp"), p.address("home-router")
    client, resolver = p.address("client"), p.address("resolver")
    messages = [
        Message(1, 1.0, client, lan, "dns", "query", "dns query"),
        Message(2, 2.0, wan, resolver, "dns", "query", "dns query"),
        Message(3, 3.0, resolver, wan, "dns", "response", "dns response"),
    ]
    with hosts.using(p):
        hops = journey(messages)
        svg = journey_svg(messages)
    assert [(h.src, h.dst, h.answered) for h in hops] == [(client, lan, False),
                                                          (lan, resolver, True)]  # fmt: skip
    assert f'data-address="{wan}"' not in svg
    assert svg.count('class="jhost') == len(p.hosts)

"""Authoritative answers from the lab's real zone files (RFC 1034 §4.3.2)."""

from pathlib import Path

import pytest
from dnslib import QTYPE, RCODE, DNSRecord

from services.dns.answer import answer
from services.dns.zone import ZoneSet, build_zone, load_zone
from services.dnscore.masterfile import parse_master

ZONES = Path(__file__).resolve().parents[3] / "services" / "zones"


def zones(*files: str) -> ZoneSet:
    return ZoneSet(load_zone(ZONES / f) for f in files)


@pytest.fixture(scope="module")
def root() -> ZoneSet:
    return zones("root.zone", "root-servers.net.zone")


@pytest.fixture(scope="module")
def tld() -> ZoneSet:
    return zones("com.zone", "net.zone", "gtld-servers.net.zone")


@pytest.fixture(scope="module")
def example() -> ZoneSet:
    return zones("example.com.zone")


def ask(zs: ZoneSet, name: str, qtype: str = "A") -> DNSRecord:
    return answer(zs, DNSRecord.question(name, qtype)).reply


def rrs(section: list) -> list[tuple[str, str, str]]:
    return [(str(r.rname), QTYPE.get(r.rtype), str(r.rdata)) for r in section]


def test_authoritative_answer(example: ZoneSet) -> None:
    """A name with data gets AA=1 and the RRset."""
    reply = ask(example, "origin.example.com")
    assert reply.header.aa == 1
    assert reply.header.rcode == RCODE.NOERROR
    assert rrs(reply.rr) == [("origin.example.com.", "A", "198.51.100.90")]


def test_names_are_case_insensitive(example: ZoneSet) -> None:
    """Mixed-case questions match (RFC 4343)."""
    assert ask(example, "OrIgIn.Example.COM").rr


def test_referral_from_root_carries_glue(root: ZoneSet) -> None:
    """The root refers com. to the gTLD servers, glue included, AA=0."""
    out = answer(root, DNSRecord.question("www.example.com", "A"))
    reply = out.reply
    assert out.referral
    assert out.delegated_to == "com."
    assert reply.header.aa == 0
    assert not reply.rr
    assert {r[2] for r in rrs(reply.auth)} == {"a.gtld-servers.net.", "b.gtld-servers.net."}
    assert {r[2] for r in rrs(reply.ar)} == {"198.51.100.11", "198.51.100.12"}


def test_glueless_referral_has_no_additional(tld: ZoneSet) -> None:
    """net. refers edgecdn.net. to an out-of-bailiwick server without any glue."""
    out = answer(tld, DNSRecord.question("www.example.com.edgecdn.net", "A"))
    assert out.referral
    assert out.delegated_to == "edgecdn.net."
    assert rrs(out.reply.auth) == [("edgecdn.net.", "NS", "ns1.edgecdn-dns.com.")]
    assert out.reply.ar == []


def test_referral_glue_only_from_the_same_zone() -> None:
    """Glue for an NS name outside the zone is never added, even if present elsewhere."""
    parent = build_zone(
        parse_master(
            "$TTL 60\n$ORIGIN p.\n@ SOA ns.p. h.p. 1 2 3 4 5\n@ NS ns.p.\nns A 192.0.2.1\n"
            "child NS ns.child.p.\nchild NS ns.p.\nchild NS ns.q.\nns.child A 192.0.2.2\n"
        )
    )
    other = build_zone(
        parse_master(
            "$TTL 60\n$ORIGIN q.\n@ SOA ns.q. h.q. 1 2 3 4 5\n@ NS ns.q.\nns A 192.0.2.3\n"
        )
    )
    reply = answer(ZoneSet([parent, other]), DNSRecord.question("x.child.p", "A")).reply
    assert {r[0] for r in rrs(reply.ar)} == {"ns.child.p.", "ns.p."}


def test_cname_answer_stops_at_zone_edge(example: ZoneSet) -> None:
    """www is a CNAME into the CDN's zone: the CNAME alone, authoritatively."""
    reply = ask(example, "www.example.com")
    assert reply.header.aa == 1
    assert reply.header.rcode == RCODE.NOERROR
    assert rrs(reply.rr) == [("www.example.com.", "CNAME", "www.example.com.edgecdn.net.")]


def test_cname_chain_followed_inside_zone() -> None:
    """A CNAME whose target is in the same zone is followed to the data."""
    zone = build_zone(
        parse_master(
            "$TTL 60\n$ORIGIN z.\n@ SOA ns.z. h.z. 1 2 3 4 5\n@ NS ns.z.\nns A 192.0.2.9\n"
            "a CNAME b\nb CNAME c\nc A 192.0.2.7\nloop1 CNAME loop2\nloop2 CNAME loop1\n"
        )
    )
    reply = ask(ZoneSet([zone]), "a.z")
    assert [r[2] for r in rrs(reply.rr)] == ["b.z.", "c.z.", "192.0.2.7"]
    looped = ask(ZoneSet([zone]), "loop1.z")
    assert len(looped.rr) == 2
    assert looped.header.rcode == RCODE.NOERROR


def test_cname_query_returns_cname_itself(example: ZoneSet) -> None:
    """Asking for the CNAME type returns the CNAME without following it."""
    assert rrs(ask(example, "www.example.com", "CNAME").rr)[0][1] == "CNAME"


def test_nxdomain_with_soa_negative_ttl(example: ZoneSet) -> None:
    """A missing name is NXDOMAIN, AA, with the SOA at min(SOA TTL, MINIMUM)."""
    reply = ask(example, "nope.example.com")
    assert reply.header.rcode == RCODE.NXDOMAIN
    assert reply.header.aa == 1
    assert rrs(reply.auth)[0][:2] == ("example.com.", "SOA")
    assert reply.auth[0].ttl == 300
    assert reply.rr == []


def test_nodata_with_soa(example: ZoneSet) -> None:
    """An existing name without the type is NOERROR, empty answer, SOA."""
    reply = ask(example, "origin.example.com", "AAAA")
    assert reply.header.rcode == RCODE.NOERROR
    assert reply.header.aa == 1
    assert reply.rr == []
    assert rrs(reply.auth)[0][1] == "SOA"


def test_empty_non_terminal_is_nodata() -> None:
    """A name that only has children exists: NODATA, not NXDOMAIN (RFC 8020)."""
    cdn = zones("edgecdn.net.zone")
    reply = ask(cdn, "example.com.edgecdn.net")
    assert reply.header.rcode == RCODE.NOERROR
    assert rrs(reply.auth)[0][1] == "SOA"


def test_refused_outside_every_zone(example: ZoneSet) -> None:
    """A name in no zone held is REFUSED, not NXDOMAIN."""
    reply = ask(example, "example.org")
    assert reply.header.rcode == RCODE.REFUSED
    assert reply.header.aa == 0


def test_deepest_zone_wins(root: ZoneSet) -> None:
    """The root servers answer root-servers.net. names from that zone, authoritatively."""
    reply = ask(root, "b.root-servers.net")
    assert reply.header.aa == 1
    assert rrs(reply.rr) == [("b.root-servers.net.", "A", "198.51.100.5")]


def test_apex_ns_answer_adds_addresses(example: ZoneSet) -> None:
    """An NS or MX answer carries the addresses the zone holds for the targets."""
    reply = ask(example, "example.com", "MX")
    assert rrs(reply.ar) == [("mail.example.com.", "A", "198.51.100.25")]
    assert rrs(ask(example, "example.com", "NS").ar)[0][2] == "198.51.100.21"


def test_soa_query_is_answered(tld: ZoneSet) -> None:
    """The health check's question (SOA at a held apex) gets an AA answer."""
    reply = ask(tld, "com", "SOA")
    assert reply.header.aa == 1
    assert rrs(reply.rr)[0][1] == "SOA"


def test_ds_at_cut_answered_by_parent(tld: ZoneSet) -> None:
    """DS at a delegation point is the parent's data (RFC 4035): NODATA, not a referral."""
    out = answer(tld, DNSRecord.question("example.com", "DS"))
    assert not out.referral
    assert out.reply.header.aa == 1


def test_ds_at_child_apex_comes_from_the_parent_zone(tld: ZoneSet) -> None:
    """Holding net. and its child, DS at the child's apex is net.'s NODATA (RFC 4035 §3.1.4.1)."""
    reply = ask(tld, "gtld-servers.net", "DS")
    assert reply.header.aa == 1
    assert reply.header.rcode == RCODE.NOERROR
    assert not reply.rr
    assert [(str(r.rname), QTYPE.get(r.rtype)) for r in reply.auth] == [("net.", "SOA")]
    # Other types at the apex still come from the child zone.
    soa = ask(tld, "gtld-servers.net", "SOA")
    assert rrs(soa.rr)[0][:2] == ("gtld-servers.net.", "SOA")


def test_ds_at_apex_without_the_parent_is_the_childs_nodata() -> None:
    """Holding only the child, DS at its apex is NODATA with the child's SOA."""
    reply = ask(zones("gtld-servers.net.zone"), "gtld-servers.net", "DS")
    assert reply.header.aa == 1
    assert not reply.rr
    assert [str(r.rname) for r in reply.auth] == ["gtld-servers.net."]

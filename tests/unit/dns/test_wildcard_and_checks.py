"""RFC 4592 wildcards in the lab's example.com zone, and the zone checks at load."""

from pathlib import Path

import pytest
from dnslib import QTYPE, RCODE, DNSRecord

from services.dns.answer import answer, closest_encloser
from services.dns.zone import ZoneSet, build_zone, load_zone
from services.dnscore.masterfile import ZoneFileError, parse_master

ZONES = Path(__file__).resolve().parents[3] / "services" / "zones"
HEAD = "$TTL 60\n$ORIGIN z.\n@ SOA ns.z. h.z. 1 2 3 4 5\n@ NS ns.z.\nns A 192.0.2.9\n"


@pytest.fixture(scope="module")
def example() -> ZoneSet:
    return ZoneSet([load_zone(ZONES / "example.com.zone")])


def ask(zones: ZoneSet, name: str, qtype: str = "A") -> DNSRecord:
    return answer(zones, DNSRecord.question(name, qtype)).reply


def test_wildcard_synthesises_with_query_owner(example: ZoneSet) -> None:
    """RFC 4592 §3.4.1: a.b.wild.example.com A comes from *.wild with the asked owner."""
    reply = ask(example, "a.b.wild.example.com")
    assert reply.header.aa
    assert reply.header.rcode == RCODE.NOERROR
    assert [(str(r.rname), str(r.rdata)) for r in reply.rr] == [
        ("a.b.wild.example.com.", "198.51.100.80")
    ]


def test_wildcard_txt_and_nodata(example: ZoneSet) -> None:
    """The wildcard's TXT is synthesised; a type it lacks is NODATA, not NXDOMAIN."""
    assert "RFC 4592" in str(ask(example, "x.wild.example.com", "TXT").rr[0].rdata)
    mx = ask(example, "x.wild.example.com", "MX")
    assert mx.header.rcode == RCODE.NOERROR
    assert mx.rr == []
    assert mx.auth[0].rtype == QTYPE.SOA


def test_existing_empty_non_terminal_blocks_wildcard(example: ZoneSet) -> None:
    """sub.wild exists (empty non-terminal): it is NODATA and names below it are NXDOMAIN."""
    ent = ask(example, "sub.wild.example.com")
    assert ent.header.rcode == RCODE.NOERROR
    assert ent.rr == []
    below = ask(example, "x.sub.wild.example.com")
    assert below.header.rcode == RCODE.NXDOMAIN
    assert closest_encloser(example.zones["example.com."], "x.sub.wild.example.com.") == (
        "sub.wild.example.com."
    )


def test_wildcard_cname_is_followed_in_zone(example: ZoneSet) -> None:
    """*.alias CNAME www: owner rewritten, then www's CNAME out to the CDN is added."""
    reply = ask(example, "shop.alias.example.com")
    assert [(str(r.rname), str(r.rdata)) for r in reply.rr] == [
        ("shop.alias.example.com.", "www.example.com."),
        ("www.example.com.", "www.example.com.edgecdn.net."),
    ]


def test_no_wildcard_outside_its_subtree(example: ZoneSet) -> None:
    """Names elsewhere in the zone stay NXDOMAIN: there is no *.example.com."""
    assert ask(example, "nope.example.com").header.rcode == RCODE.NXDOMAIN


def test_cname_to_other_zone_on_same_server_is_not_followed(example: ZoneSet) -> None:
    """Like NSD, only in-zone targets are chased; another zone's data is left to the resolver."""
    cdn = load_zone(ZONES / "edgecdn.net.zone")
    both = ZoneSet([example.zones["example.com."], cdn])
    reply = ask(both, "www.example.com")
    assert [str(r.rdata) for r in reply.rr] == ["www.example.com.edgecdn.net."]


@pytest.mark.parametrize(
    ("body", "line", "reason"),
    [
        ('sub NS ns.other.\nsub TXT "hidden"\n', 7, "below the delegation"),
        ("sub NS ns.other.\nx.sub MX 10 z.\n", 7, "below the delegation"),
        ("sub NS ns.sub.z.\n", 6, "has no address"),
        ("*.w NS ns.other.\n", 6, "wildcard"),
        ('a CNAME b.z.\na TXT "x"\n', 6, "CNAME and other data"),
    ],
)
def test_zone_checks_report_file_and_line(body: str, line: int, reason: str) -> None:
    """Occluded data, missing glue, wildcard NS and CNAME-and-other-data fail at load."""
    with pytest.raises(ZoneFileError) as caught:
        build_zone(parse_master(HEAD + body, "t.zone"), "t.zone")
    assert caught.value.line == line
    assert reason in caught.value.reason
    assert str(caught.value).startswith(f"t.zone:{line}:")


def test_glue_below_a_cut_is_accepted() -> None:
    """Addresses for in-bailiwick name servers under a cut are glue, not occluded data."""
    zone = build_zone(parse_master(HEAD + "sub NS ns.sub.z.\nns.sub A 192.0.2.10\n"))
    assert zone.cuts == {"sub.z."}

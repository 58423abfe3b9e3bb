"""Master-file parsing and zone checks: good files load, bad ones name file:line."""

from pathlib import Path

import pytest
from dnslib import QTYPE

from services.dns.zone import build_zone, load_zone
from services.dnscore.masterfile import ZoneFileError, load_master, parse_master, parse_ttl

ZONES = Path(__file__).resolve().parents[3] / "services" / "zones"

GOOD = """\
$ORIGIN example.test.
$TTL 1h
@   IN SOA ns1 hostmaster (
        1 ; serial
        7200 3600 1209600 300 )
    IN NS  ns1
ns1    A   192.0.2.1
www 60 IN CNAME @
txt    TXT "hello world" "second; not a comment"
mx     MX  10 mail.other.test.
"""


def test_parses_origin_ttl_parens_blank_owner_and_quotes() -> None:
    """Relative names, $TTL, parentheses, blank owners and quoted strings all parse."""
    entries = parse_master(GOOD, "good.zone")
    texts = [(str(e.rr.rname), QTYPE.get(e.rr.rtype), e.rr.ttl, e.line) for e in entries]
    assert texts[0] == ("example.test.", "SOA", 3600, 3)
    assert texts[1] == ("example.test.", "NS", 3600, 6)
    assert texts[3] == ("www.example.test.", "CNAME", 60, 8)
    assert str(entries[3].rr.rdata) == "example.test."
    assert entries[4].rr.rdata.data == [b"hello world", b"second; not a comment"]
    assert str(entries[5].rr.rdata.label) == "mail.other.test."


def test_ttl_units() -> None:
    """TTLs accept BIND unit suffixes."""
    assert parse_ttl("300") == 300
    assert parse_ttl("1h30m") == 5400
    assert parse_ttl("2d") == 172800


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("$TTL 60\n@ SOA a. b. 1 2 3 4 5\n@ NS a.\nx A 999.1.1.1\n", 4, "IPv4"),
        ("$TTL 60\n@ SOA a. b. 1 2 3 4 5\nx BOGUS 1\n", 3, "BOGUS"),
        ("@ SOA a. b. 1 2 3 4 5\n", 1, "no TTL"),
        ("$TTL 60\n@ SOA a. b. (1 2 3 4 5\n\n", 2, "never closed"),
        ("$TTL 60\n@ SOA a. b. 1 2 3 4\n", 2, "SOA needs"),
        ('$TTL 60\nx TXT "open\n', 2, "unterminated"),
        ("$TTL 60\n$INCLUDE other\n", 2, "unsupported directive"),
        ("$TTL 60\nx CH A 1.2.3.4\n", 2, "class CH"),
        ("$TTL 60\n" + "a" * 64 + " A 1.2.3.4\n", 2, ""),
    ],
)
def test_bad_records_report_file_and_line(text: str, line: int, reason: str) -> None:
    """Every bad record is reported as file:line with a reason."""
    with pytest.raises(ZoneFileError) as info:
        parse_master(text, "bad.zone")
    assert info.value.line == line
    assert str(info.value).startswith(f"bad.zone:{line}: ")
    assert reason in str(info.value)


def test_zone_rules_are_checked() -> None:
    """SOA first, single SOA, data inside the zone, CNAME alone, apex NS present."""
    cases = {
        "$TTL 60\n$ORIGIN z.\nw A 1.2.3.4\n@ SOA a. b. 1 2 3 4 5\n": "first record",
        "$TTL 60\n$ORIGIN z.\n@ SOA a. b. 1 2 3 4 5\n@ NS a.\nx.other. A 1.2.3.4\n": "outside",
        "$TTL 60\n$ORIGIN z.\n@ SOA a. b. 1 2 3 4 5\n@ NS a.\nw CNAME a.\nw A 1.2.3.4\n": "CNAME",
        "$TTL 60\n$ORIGIN z.\n@ SOA a. b. 1 2 3 4 5\n@ SOA a. b. 2 2 3 4 5\n": "exactly one",
        "$TTL 60\n$ORIGIN z.\n@ SOA a. b. 1 2 3 4 5\n": "no NS",
    }
    for text, reason in cases.items():
        with pytest.raises(ZoneFileError, match=reason):
            build_zone(parse_master(text, "z.zone"), "z.zone")


def test_unreadable_file_is_a_zone_error(tmp_path: Path) -> None:
    """A missing file is reported as a ZoneFileError naming it."""
    with pytest.raises(ZoneFileError, match="cannot read"):
        load_master(tmp_path / "missing.zone")


def test_all_lab_zone_files_load() -> None:
    """Every shipped zone file loads and its apex matches its file name."""
    files = sorted(ZONES.glob("*.zone"))
    assert len(files) == 8
    for path in files:
        zone = load_zone(path)
        expected = "." if path.name == "root.zone" else path.name.removesuffix("zone")
        assert zone.origin == expected, path


def test_lab_zones_match_the_topology() -> None:
    """Addresses published in the zones are the ones lab/topology.py assigns."""
    from lab.topology import HOSTS

    published: dict[str, set[str]] = {}
    for path in ZONES.glob("*.zone"):
        for (name, rtype), rrs in load_zone(path).rrsets.items():
            if rtype == QTYPE.A:
                published.setdefault(name, set()).update(str(rr.rdata) for rr in rrs)
    for host in HOSTS:
        if host.network != "internet" or host.router:
            continue  # the ISP's, the home's and the routers' hosts are not in the public DNS
        assert published.get(host.dns_name + ".") == {host.ipv4}, host

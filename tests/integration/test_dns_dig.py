"""Each DNS server answered by dig, as a network engineer would check it."""

from __future__ import annotations

import pytest

from lab.compose import Lab
from lab.topology import BY_SERVICE

from .conftest import dig

ROOTS = (BY_SERVICE["root-a"].ipv4, BY_SERVICE["root-b"].ipv4)
TLDS = (BY_SERVICE["tld-a"].ipv4, BY_SERVICE["tld-b"].ipv4)


@pytest.mark.parametrize("server", ROOTS)
def test_root_refers_to_com_with_glue(lab: Lab, server: str) -> None:
    """A root server refers www.example.com to the com. servers, glue included, no AA."""
    d = dig(lab, f"@{server}", "+norec", "www.example.com", "A")
    assert d.status == "NOERROR"
    assert "aa" not in d.flags
    assert not d.records("ANSWER")
    ns = {r[4] for r in d.records("AUTHORITY", "NS") if r[0] == "com."}
    assert ns == {"a.gtld-servers.net.", "b.gtld-servers.net."}
    glue = {r[4] for r in d.records("ADDITIONAL", "A")}
    assert glue == set(TLDS)


@pytest.mark.parametrize("server", TLDS)
def test_tld_refers_to_example_com(lab: Lab, server: str) -> None:
    """Both TLD servers refer example.com to ns1.example.com with its glue."""
    d = dig(lab, f"@{server}", "+norec", "www.example.com", "A")
    assert d.status == "NOERROR"
    assert "aa" not in d.flags
    assert [r[4] for r in d.records("AUTHORITY", "NS")] == ["ns1.example.com."]
    assert [r[4] for r in d.records("ADDITIONAL", "A")] == [BY_SERVICE["ns-example"].ipv4]


def test_tld_gives_glueless_cdn_delegation(lab: Lab) -> None:
    """edgecdn.net is delegated to a name server in another zone, with no glue."""
    d = dig(lab, f"@{BY_SERVICE['tld-b'].ipv4}", "+norec", "www.example.com.edgecdn.net", "A")
    assert [r[4] for r in d.records("AUTHORITY", "NS")] == ["ns1.edgecdn-dns.com."]
    assert not d.records("ADDITIONAL", "A")


def test_example_com_answers_cname_authoritatively(lab: Lab) -> None:
    """ns1.example.com answers www with a CNAME into the CDN's zone, AA set."""
    d = dig(lab, f"@{BY_SERVICE['ns-example'].ipv4}", "+norec", "www.example.com", "A")
    assert d.status == "NOERROR"
    assert "aa" in d.flags
    assert d.records("ANSWER", "CNAME")[0][4] == "www.example.com.edgecdn.net."


def test_cdn_server_answers_edge_address(lab: Lab) -> None:
    """The CDN's server gives the edge's address for the CDN name."""
    d = dig(lab, f"@{BY_SERVICE['ns-cdn'].ipv4}", "+norec", "www.example.com.edgecdn.net", "A")
    assert "aa" in d.flags
    assert [r[4] for r in d.records("ANSWER", "A")] == [BY_SERVICE["edge"].ipv4]


def test_nxdomain_carries_soa(lab: Lab) -> None:
    """A name that does not exist: NXDOMAIN, AA, and the zone's SOA in authority."""
    d = dig(lab, f"@{BY_SERVICE['ns-example'].ipv4}", "+norec", "nosuch.example.com", "A")
    assert d.status == "NXDOMAIN"
    assert "aa" in d.flags
    assert d.records("AUTHORITY", "SOA")[0][0] == "example.com."


def test_nodata_carries_soa(lab: Lab) -> None:
    """A name with no record of the asked type: NOERROR, empty answer, SOA."""
    d = dig(lab, f"@{BY_SERVICE['ns-example'].ipv4}", "+norec", "origin.example.com", "MX")
    assert d.status == "NOERROR"
    assert not d.records("ANSWER")
    assert d.records("AUTHORITY", "SOA")


def test_outside_zones_refused(lab: Lab) -> None:
    """An authoritative server refuses names outside its zones."""
    d = dig(lab, f"@{BY_SERVICE['ns-example'].ipv4}", "+norec", "www.example.org", "A")
    assert d.status == "REFUSED"


def test_tcp_query(lab: Lab) -> None:
    """The root answers over TCP as well as UDP."""
    d = dig(lab, f"@{BY_SERVICE['root-a'].ipv4}", "+norec", "+tcp", "example.com", "NS")
    assert d.status == "NOERROR"
    assert d.records("AUTHORITY", "NS")


def test_resolver_full_answer(lab: Lab) -> None:
    """The lab resolver returns the whole CNAME chain and the edge's address, RA set."""
    d = dig(lab, f"@{BY_SERVICE['resolver'].ipv4}", "www.example.com", "A")
    assert d.status == "NOERROR"
    assert "ra" in d.flags
    assert "aa" not in d.flags
    assert d.records("ANSWER", "CNAME")[0][4] == "www.example.com.edgecdn.net."
    assert [r[4] for r in d.records("ANSWER", "A")] == [BY_SERVICE["edge"].ipv4]


def test_client_uses_its_stub_then_the_home_router(lab: Lab) -> None:
    """With no @server, the client's dig asks its stub cache on 127.0.0.53 (not Docker's
    127.0.0.11), which asks the DNS server the DHCP lease named: the home router."""
    d = dig(lab, "static.example.com", "A")
    assert d.server == "127.0.0.53"
    assert [r[4] for r in d.records("ANSWER", "A")] == [BY_SERVICE["edge"].ipv4]
    upstream = lab.exec("client", "cat", "/run/weblab/upstream.conf", check=True).stdout
    assert upstream.split() == ["nameserver", BY_SERVICE["home-router"].ipv4]


def test_resolver_nxdomain(lab: Lab) -> None:
    """The resolver passes NXDOMAIN through with the SOA for negative caching."""
    d = dig(lab, f"@{BY_SERVICE['resolver'].ipv4}", "nosuch.example.com", "A")
    assert d.status == "NXDOMAIN"
    assert d.records("AUTHORITY", "SOA")


def test_resolver_caches_with_ttl_counting_down(lab: Lab) -> None:
    """A second lookup comes from the cache, its TTL no higher than the first."""
    first = dig(lab, f"@{BY_SERVICE['resolver'].ipv4}", "origin.example.com", "A")
    second = dig(lab, f"@{BY_SERVICE['resolver'].ipv4}", "origin.example.com", "A")
    t1 = int(first.records("ANSWER", "A")[0][1])
    t2 = int(second.records("ANSWER", "A")[0][1])
    assert t2 <= t1


def test_dig_trace_from_the_client(lab: Lab) -> None:
    """dig +trace from the client walks the lab's hierarchy: root, com., example.com."""
    r = lab.exec(
        "client",
        "dig",
        "+trace",
        "+time=3",
        "+tries=1",
        f"@{BY_SERVICE['root-a'].ipv4}",
        "www.example.com",
        "A",
        timeout=60,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    assert "from 198.51.100.4#53" in out or "from 198.51.100.5#53" in out
    assert "(a.gtld-servers.net)" in out or "(b.gtld-servers.net)" in out
    assert "(ns1.example.com)" in out
    assert "www.example.com.edgecdn.net." in out


def test_truncated_udp_answer_sets_tc(lab: Lab) -> None:
    """A 512-byte UDP limit makes the big answer come back truncated (TC=1)."""
    d = dig(
        lab,
        f"@{BY_SERVICE['ns-example'].ipv4}",
        "+norec",
        "+bufsize=512",
        "+ignore",
        "big.example.com",
        "TXT",
    )
    assert "tc" in d.flags
    assert not d.records("ANSWER")
    full = dig(lab, f"@{BY_SERVICE['ns-example'].ipv4}", "+norec", "+tcp", "big.example.com", "TXT")
    assert len(full.records("ANSWER", "TXT")) == 24


def test_edns_and_no_dnssec(lab: Lab) -> None:
    """Replies carry an OPT record when asked with EDNS, and no AD bit on unsigned data."""
    d = dig(
        lab, f"@{BY_SERVICE['resolver'].ipv4}", "+dnssec", "+bufsize=1232", "example.com", "SOA"
    )
    assert "ad" not in d.flags
    assert "; EDNS: version: 0" in d.text


def test_lab_cache_shows_and_flushes(lab: Lab) -> None:
    """`lab cache` lists cached names with remaining TTL; `--flush NAME` removes them."""
    import json
    import subprocess

    from lab.compose import ROOT

    dig(lab, f"@{BY_SERVICE['resolver'].ipv4}", "origin2.example.com", "A")
    lab_cli = str(ROOT / ".venv" / "bin" / "lab")
    r = subprocess.run([lab_cli, "cache", "--json"], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    text = json.dumps(json.loads(r.stdout))
    assert "origin2.example.com" in text
    r = subprocess.run(
        [lab_cli, "cache", "--flush", "origin2.example.com"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    r = subprocess.run([lab_cli, "cache", "--json"], capture_output=True, text=True, check=False)
    assert "origin2.example.com" not in json.dumps(json.loads(r.stdout))


def test_do_bit_is_copied(lab: Lab) -> None:
    """dig +dnssec sees `flags: do` in the OPT record of the authoritative server and of the
    resolver (RFC 3225 §3), as NSD and Unbound answer; the zones stay unsigned."""
    for server, extra in (
        (BY_SERVICE["ns-example"].ipv4, "+norec"),
        (BY_SERVICE["resolver"].ipv4, "+rec"),
    ):
        d = dig(lab, f"@{server}", extra, "+dnssec", "www.example.com", "A")
        assert d.status == "NOERROR"
        assert "; EDNS: version: 0, flags: do;" in d.text, server

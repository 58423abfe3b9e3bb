"""Real clients this project did not write (dig, kdig, drill) against our servers."""

from __future__ import annotations

import re

from harness.addresses import LAB_DNS
from harness.dnsservers import root_hints
from tests.dnsdiff.conftest import Lab

RESOLVER = LAB_DNS["resolver"]


def test_dig_trace_walks_root_com_example_from_the_namespace(lab: Lab) -> None:
    """dig +trace from a.root-servers.net reaches ns1.example.com through both levels."""
    netns_conf = lab.net.resolv_conf(RESOLVER)  # dig +trace looks NS names up here
    assert netns_conf.exists()
    r = lab.net.run(["dig", "+trace", "+nodnssec", "www.example.com", "@198.51.100.4"])
    assert r.returncode == 0, r.stderr
    assert re.search(r"from 198\.51\.100\.(4|5)#53", r.stdout), r.stdout
    assert re.search(r"from 198\.51\.100\.(11|12)#53\((a|b)\.gtld-servers\.net\)", r.stdout)
    assert "from 198.51.100.21#53(ns1.example.com)" in r.stdout
    assert "www.example.com.edgecdn.net." in r.stdout


def test_kdig_over_tcp_gets_the_cname_chain(lab: Lab) -> None:
    """kdig +tcp to our resolver gets the CNAME and the edge address over TCP."""
    r = lab.net.run(["kdig", "+tcp", f"@{RESOLVER}", "www.example.com", "A"])
    assert r.returncode == 0, r.stderr
    assert "(TCP)" in r.stdout
    assert "status: NOERROR" in r.stdout
    assert re.search(
        r"www\.example\.com\.edgecdn\.net\.\s+\d+\s+IN\s+A\s+198\.51\.100\.80", r.stdout
    ), r.stdout


def test_dig_bufsize_512_sees_tc_on_the_big_name(lab: Lab) -> None:
    """dig +bufsize=512 +ignore on big.example.com TXT gets TC=1 from ns1.example.com."""
    r = lab.net.run(
        ["dig", "+bufsize=512", "+ignore", "+norec", "@198.51.100.21", "big.example.com", "TXT"]
    )
    flags = re.search(r";; flags: ([a-z ]+);", r.stdout)
    assert flags is not None, r.stdout
    assert "tc" in flags.group(1).split()
    assert "aa" in flags.group(1).split()
    full = lab.net.run(["dig", "+norec", "@198.51.100.21", "big.example.com", "TXT"])
    assert "(TCP)" in full.stdout, full.stdout
    assert full.stdout.count("IN\tTXT") >= 24, full.stdout


def test_drill_trace_from_our_root_hints(lab: Lab) -> None:
    """drill -T with our generated root hints traces www.example.com to the edge address."""
    hints = root_hints(lab.tmp)
    r = lab.net.run(["drill", "-T", "-r", str(hints), "www.example.com"])
    assert r.returncode == 0, r.stderr
    assert "example.com.\t172800\tIN\tNS\tns1.example.com." in r.stdout
    assert "198.51.100.80" in r.stdout

"""RFC 3225 §3: the DO bit of a query is copied into the response's OPT record."""

from __future__ import annotations

import pytest
from dnslib import EDNS0, QTYPE, RR, DNSRecord

from services.dnscore.wire import finish, parse_query, wants_dnssec


def _query(do: bool, version: int = 0) -> DNSRecord:
    q = DNSRecord.question("www.example.com", "A")
    q.add_ar(EDNS0(udp_len=1232, version=version, flags="do" if do else ""))
    return q


def _opt_flags(wire: bytes) -> int:
    reply = DNSRecord.parse(wire)
    (opt,) = [rr for rr in reply.ar if rr.rtype == QTYPE.OPT]
    return int(opt.ttl) & 0xFFFF


@pytest.mark.parametrize("do", [True, False])
def test_do_is_copied_into_the_answer(do: bool) -> None:
    """A reply to a query with DO set has DO set; without it, not (dig shows `flags: do`)."""
    q = _query(do)
    assert wants_dnssec(q) is do
    wire = finish(q, q.reply(), "udp")
    assert bool(_opt_flags(wire) & 0x8000) is do


def test_do_is_copied_into_a_truncated_answer() -> None:
    """The short TC=1 answer keeps the OPT record, DO included."""
    q = _query(True)
    reply = q.reply()
    for i in range(200):
        reply.add_answer(*RR.fromZone(f"www.example.com. 60 IN A 198.51.100.{i % 250}"))
    wire = finish(q, reply, "udp")
    assert DNSRecord.parse(wire).header.tc == 1
    assert _opt_flags(wire) & 0x8000


def test_do_is_copied_into_badvers() -> None:
    """Even the BADVERS answer to an EDNS version 1 query copies DO."""
    parsed = parse_query(_query(True, version=1).pack())
    assert parsed.query is None
    assert parsed.error is not None
    assert _opt_flags(parsed.error) & 0x8000

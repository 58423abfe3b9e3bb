"""Reading an authoritative server's reply (RFC 1034 §5.3.3 step 4), no I/O.

Pure functions the iterator uses to tell an answer from a referral, a CNAME,
a negative answer or a lame reply, and to describe each for the trace.
"""

from __future__ import annotations

from dnslib import QTYPE, RCODE, RR, DNSRecord

from services.dnscore.names import is_subdomain, norm
from services.resolver.transport import qtype_text


def rrsets(rrs: list[RR]) -> list[list[RR]]:
    """Group records into RRsets by (owner, type), keeping order."""
    groups: dict[tuple[str, int], list[RR]] = {}
    for rr in rrs:
        groups.setdefault((norm(rr.rname), int(rr.rtype)), []).append(rr)
    return list(groups.values())


def follow_chain(records: list[RR], name: str, qtype: int) -> tuple[list[RR], str, bool]:
    """Follow CNAMEs from ``name`` through ``records``.

    Returns the records on the path, the last name reached, and whether
    records of ``qtype`` were found there.
    """
    path: list[RR] = []
    seen = {name}
    while True:
        final = [
            r
            for r in records
            if norm(r.rname) == name
            and (r.rtype == qtype or (qtype == QTYPE.ANY and r.rtype != QTYPE.CNAME))
        ]
        if final:
            return path + final, name, True
        cname = [r for r in records if norm(r.rname) == name and r.rtype == QTYPE.CNAME]
        if not cname or qtype == QTYPE.CNAME:
            return path, name, False
        path.append(cname[0])
        name = norm(cname[0].rdata.label)
        if name in seen:
            return path, name, False
        seen.add(name)


def soa_of(reply: DNSRecord, zone: str) -> RR | None:
    """The SOA in authority, if the answering zone may speak for it."""
    return next(
        (r for r in reply.auth if r.rtype == QTYPE.SOA and is_subdomain(norm(r.rname), zone)), None
    )


def referral_target(reply: DNSRecord, zone: str, name: str) -> str | None:
    """The child zone of a referral, if it is strictly closer to ``name`` than ``zone``."""
    owners = {norm(r.rname) for r in reply.auth if r.rtype == QTYPE.NS}
    for owner in owners:
        if owner != zone and is_subdomain(owner, zone) and is_subdomain(name, owner):
            return owner
    return None


def describe(reply: DNSRecord, zone: str, name: str) -> tuple[str, str]:
    """Classify a final-hop reply for the trace: (result, human detail)."""
    rcode = int(reply.header.rcode)
    if rcode == RCODE.NXDOMAIN:
        return "nxdomain", f"{name} does not exist"
    if rcode == RCODE.SERVFAIL:
        return "servfail", "server failure"
    if rcode == RCODE.REFUSED:
        return "refused", f"server does not serve {zone}"
    if rcode != RCODE.NOERROR:
        return "error", f"rcode {RCODE.get(rcode)}"
    if reply.rr:
        first = reply.rr[0]
        kind = "cname" if first.rtype == QTYPE.CNAME and norm(first.rname) == name else "answer"
        shown = ", ".join(f"{qtype_text(r.rtype)} {r.rdata}" for r in reply.rr[:4])
        return kind, shown
    child = referral_target(reply, zone, name)
    if child is not None:
        ns = [
            norm(r.rdata.label)
            for r in reply.auth
            if r.rtype == QTYPE.NS and norm(r.rname) == child
        ]
        glue = {norm(r.rname) for r in reply.ar if r.rtype == QTYPE.A}
        with_glue = [n for n in ns if n in glue and is_subdomain(n, zone)]
        note = f"glue for {', '.join(with_glue)}" if with_glue else "no glue"
        return "referral", f"referral to {child} ({', '.join(ns)}; {note})"
    if reply.header.aa or soa_of(reply, zone) is not None:
        return "nodata", f"{name} has no records of this type"
    return "lame", "neither answer nor closer referral (lame delegation)"

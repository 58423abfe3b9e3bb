"""Decide an authoritative server's reply to one query (RFC 1034 §4.3.2), no I/O.

Given the zones a server holds and a parsed query, ``answer`` builds the reply:
an authoritative answer (AA=1), a CNAME chain followed inside the zone, a
referral (NS in authority, in-zone glue in additional, AA=0), NXDOMAIN or
NODATA with the SOA in authority (RFC 2308), or REFUSED for a name in no zone.

Wildcards follow RFC 4592: a name that does not exist is answered from
``*.<closest encloser>`` if that exists, with the records' owner rewritten
to the query name; a name that exists (even as an empty non-terminal) is
never wildcard-matched (§2.2.1, §3.3.1). CNAMEs are followed only inside the
zone that holds the first name, as NSD does: a target in another zone this
same server holds is left to the resolver (RFC 1034 §4.3.2 step 3a allows
either; keeping to one zone keeps AA and the SOA of a denial unambiguous).

Classes (as NSD does): IN and ANY (255) are answered from the zones;
CHAOS TXT ``id.server.``/``hostname.bind.`` (RFC 4892) names the server;
anything else in CH, HS or other classes is REFUSED.
"""

from __future__ import annotations

from dataclasses import dataclass

from dnslib import CLASS, QTYPE, RCODE, RR, TXT, DNSRecord

from services.dns.zone import ADDRESS_TYPES, Zone, ZoneSet
from services.dnscore.names import ancestors, norm, parent
from services.dnscore.wire import reply_to

CLASS_ANY = 255  # RFC 1035 §3.2.5 QCLASS "*"
CLASS_CH = 3  # CHAOS, used for server identification (RFC 4892)
ID_NAMES = ("id.server.", "hostname.bind.")
MAX_CHAIN = 8  # CNAMEs followed inside one zone before giving up (loop guard)


@dataclass
class Outcome:
    """The reply and the facts the query log wants about it."""

    reply: DNSRecord
    zone: str | None
    referral: bool = False
    delegated_to: str | None = None


def _copy(rr: RR, ttl: int | None = None) -> RR:
    return RR(rr.rname, rr.rtype, rr.rclass, rr.ttl if ttl is None else ttl, rr.rdata)


def _addresses(zone: Zone, names: list[str]) -> list[RR]:
    """A/AAAA records the zone itself holds for ``names`` (never other zones' data)."""
    found: list[RR] = []
    for name in names:
        for rtype in ADDRESS_TYPES:
            found.extend(_copy(rr) for rr in zone.get(name, rtype))
    return found


def _targets(rrs: list[RR]) -> list[str]:
    """Host names an NS or MX RRset points to, in order."""
    names: list[str] = []
    for rr in rrs:
        if rr.rtype in (QTYPE.NS, QTYPE.MX):
            name = norm(rr.rdata.label)
            if name not in names:
                names.append(name)
    return names


def _negative(reply: DNSRecord, zone: Zone) -> None:
    """RFC 2308 §3: put the SOA in authority with TTL min(SOA TTL, MINIMUM)."""
    reply.add_auth(_copy(zone.soa, zone.negative_ttl()))


def _referral(reply: DNSRecord, zone: Zone, cut: str) -> None:
    """RFC 1034 §4.3.2 step 3b: NS of the child in authority, glue in additional.

    Glue comes only from this zone's own data, so it is always in-bailiwick;
    an NS name outside the zone (e.g. edgecdn.net's ns1.edgecdn-dns.com in
    net.) gets no address and the resolver must look it up itself.
    """
    ns = [_copy(rr) for rr in zone.get(cut, QTYPE.NS)]
    for rr in ns:
        reply.add_auth(rr)
    for rr in _addresses(zone, _targets(ns)):
        reply.add_ar(rr)


def closest_encloser(zone: Zone, name: str) -> str:
    """RFC 4592 §3.3.1: the deepest existing ancestor of a name that does not exist."""
    for candidate in ancestors(name):
        if candidate in zone.names:
            return candidate
    return zone.origin


def _source(zone: Zone, name: str) -> str | None:
    """Whose RRsets answer for ``name``: itself, its wildcard, or nobody (NXDOMAIN).

    RFC 4592 §3.3.1: only a name that does not exist is matched, and only by
    ``*.<closest encloser>``; a wildcard that is itself an empty non-terminal
    still exists and yields NODATA.
    """
    if name in zone.names:
        return name
    source = "*." + closest_encloser(zone, name)
    return source if source in zone.names else None


def _synth(rrs: list[RR], owner: str) -> list[RR]:
    """Copies of ``rrs`` with the owner rewritten (RFC 4592 §3.4.1)."""
    return [RR(owner, rr.rtype, rr.rclass, rr.ttl, rr.rdata) for rr in rrs]


def _chaos(reply: DNSRecord, qname: str, qtype: int, server_name: str) -> DNSRecord:
    """RFC 4892: CH TXT id.server / hostname.bind name the server; the rest is refused."""
    if qname in ID_NAMES and qtype in (QTYPE.TXT, QTYPE.ANY) and server_name:
        reply.header.aa = 1
        reply.add_answer(RR(qname, QTYPE.TXT, CLASS_CH, 0, TXT(server_name)))
    else:
        reply.header.rcode = RCODE.REFUSED
    return reply


def _zone_for(zones: ZoneSet, qname: str, qtype: int) -> Zone | None:
    """The zone that answers: the deepest holding ``qname``, but the parent's for DS at an apex.

    RFC 4035 §3.1.4.1: DS records live on the parent side of a cut, so a
    server holding both parent and child answers DS at the child's apex from
    the parent zone (the DS, or NODATA with the parent's SOA); holding only
    the child, it answers from the child (NODATA with the child's SOA).
    """
    zone = zones.find(qname)
    above = parent(qname)
    if zone is not None and qtype == QTYPE.DS and qname == zone.origin and above is not None:
        return zones.find(above) or zone
    return zone


def answer(zones: ZoneSet, query: DNSRecord, server_name: str = "") -> Outcome:
    """Build the reply to a single-question query from the zones held."""
    outcome = _answer(zones, query, server_name)
    if query.q.qclass == CLASS_ANY:
        # RFC 6895 §3.2: a QCLASS ANY question might have data in classes this
        # server is not authoritative for, so the reply cannot claim AA (as NSD).
        outcome.reply.header.aa = 0
    return outcome


def _answer(zones: ZoneSet, query: DNSRecord, server_name: str) -> Outcome:
    reply = reply_to(query, aa=False, ra=False)
    question = query.q
    qname, qtype = norm(question.qname), int(question.qtype)
    if question.qclass == CLASS_CH:
        return Outcome(_chaos(reply, qname, qtype, server_name), None)
    zone = _zone_for(zones, qname, qtype)
    if zone is None or question.qclass not in (CLASS.IN, CLASS_ANY):
        # Not our data: refuse rather than pretend it does not exist.
        reply.header.rcode = RCODE.REFUSED
        return Outcome(reply, None)
    outcome = Outcome(reply, zone.origin)
    name, seen = qname, {qname}
    for _ in range(MAX_CHAIN + 1):
        cut = zone.find_cut(name)
        if cut == name and qtype == QTYPE.DS:
            cut = None  # RFC 4035 §3.1.4.1: the parent side answers DS at a cut
        if cut is not None:
            _referral(reply, zone, cut)
            outcome.referral, outcome.delegated_to = not reply.rr, cut
            return outcome
        reply.header.aa = 1
        source, owner = _source(zone, name), name
        if source is None:
            reply.header.rcode = RCODE.NXDOMAIN  # RFC 6604: for the last name in the chain
            _negative(reply, zone)
            return outcome
        cname = zone.get(source, QTYPE.CNAME)
        if cname and qtype not in (QTYPE.CNAME, QTYPE.ANY):
            # RFC 1034 §4.3.2 step 3a: copy the CNAME and restart at its target,
            # here only while the target stays in this zone; a resolver follows
            # the rest of the chain itself.
            reply.add_answer(_synth(cname, owner)[0])
            target = norm(cname[0].rdata.label)
            if target in seen or zones.find(target) is not zone:
                return outcome
            seen.add(target)
            name = target
            continue
        if qtype == QTYPE.ANY:
            records = [rr for t in zone.types_at(source) for rr in zone.get(source, t)]
        else:
            records = zone.get(source, qtype)
        if not records:
            _negative(reply, zone)  # NODATA: NOERROR, empty answer, SOA (RFC 2308 §2.2)
            return outcome
        for rr in _synth(records, owner):
            reply.add_answer(rr)
        # RFC 1034 §4.3.2 step 6: addresses for NS/MX targets we hold.
        for rr in _addresses(zone, _targets(records)):
            reply.add_ar(rr)
        return outcome
    return outcome

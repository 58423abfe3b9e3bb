"""The differential corpus: questions generated from the lab's zone files.

For every authoritative server of compose.yaml, each owner name of each zone
it holds is asked for the usual types, so the corpus covers positive answers,
NODATA, referrals (names at and below a cut, glue names), CNAMEs and
wildcards as the zone files define them; to these are added NXDOMAIN names,
empty non-terminals, case variations, the big RRset that needs TC=1, DS at a
cut, ANY, an unknown type, other classes (CH, HS, ANY), header variants
(RD, AD and CD set, with and without EDNS), the DO bit (dig +dnssec, with
and without +norec) and opcodes no server here implements (NOTIMP). The
resolver corpus asks the same names recursively, plus names outside the lab,
and ends with +norec questions that the warm caches answer.

Zone files are read with dnslib's own master-file parser, independent of
services/dnscore/masterfile.py, so our parser is under test too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from dnslib import CLASS, EDNS0, QTYPE, DNSQuestion, DNSRecord, ZoneParser

from harness.addresses import NSD_FOR
from harness.dnsservers import Service, compose_services

TYPES = ("A", "AAAA", "NS", "SOA", "MX", "TXT", "CNAME")
CLASS_HS, CLASS_ANY = 4, 255


@dataclass(frozen=True)
class Question:
    """One query of the corpus: what to ask, of whom, with which header bits."""

    server: str  # compose service whose zones are asked (for the auth corpus)
    qname: str
    qtype: str
    category: str
    qclass: int = CLASS.IN
    rd: bool = False
    ad: bool = False
    cd: bool = False
    z: bool = False  # the reserved header bit (RFC 1035 §4.1.1: must be zero)
    tc: bool = False  # TC set in a query (meaningless there, RFC 1035 §4.1.1)
    edns: int | None = 1232  # requestor's UDP payload size; None: no OPT record
    do: bool = False
    opcode: int = 0  # 0 QUERY; others are answered NOTIMP (RFC 1035 §4.1.1)
    tags: tuple[str, ...] = field(default=())

    def key(self) -> str:
        """A readable identity for reports."""
        flags = "".join(
            f
            for f, on in (
                ("+rd", self.rd),
                ("+ad", self.ad),
                ("+cd", self.cd),
                ("+z", self.z),
                ("+tc", self.tc),
                ("+do", self.do),
            )
            if on
        )
        edns = f"edns{self.edns}" if self.edns is not None else "noedns"
        cls = CLASS.get(self.qclass, None) or f"CLASS{self.qclass}"
        opcode = f"/opcode{self.opcode}" if self.opcode else ""
        return f"{self.server}:{self.qname}/{self.qtype}/{cls}/{edns}{flags}{opcode}"

    def wire(self, qid: int) -> bytes:
        """The query packet with ID ``qid``."""
        q = DNSRecord(q=DNSQuestion(self.qname, _qtype(self.qtype), self.qclass))
        q.header.id = qid
        q.header.opcode = self.opcode
        q.header.rd = int(self.rd)
        q.header.ad = int(self.ad)
        q.header.cd = int(self.cd)
        q.header.z = int(self.z)
        q.header.tc = int(self.tc)
        if self.edns is not None:
            q.add_ar(EDNS0(udp_len=self.edns, flags="do" if self.do else ""))
        return bytes(q.pack())


def _qtype(text: str) -> int:
    if text.startswith("TYPE"):
        return int(text[4:])
    return int(getattr(QTYPE, text))


def zone_records(path: str) -> list[tuple[str, str, int]]:
    """(owner, type, TTL) of every record of a master file, owners lower-cased."""
    return [
        (str(rr.rname).lower(), QTYPE[rr.rtype], rr.ttl)
        for rr in ZoneParser(Path(path).read_text())
    ]


def _origin(path: str) -> str:
    name = Path(path).name.removesuffix(".zone")
    return "." if name == "root" else name + "."


def _child(name: str, label: str) -> str:
    return label + "." if name == "." else f"{label}.{name}"


def _vary_case(name: str) -> str:
    return "".join(c.upper() if i % 2 else c for i, c in enumerate(name))


def auth_corpus(services: dict[str, Service] | None = None) -> list[Question]:
    """Questions for each authoritative server that has an NSD twin (NSD_FOR)."""
    services = services or compose_services()
    out: list[Question] = []
    for server in NSD_FOR:
        zones = services[server].zones()
        for path in zones:
            origin = _origin(path)
            records = zone_records(path)
            owners = sorted({owner for owner, _, _ in records})
            for owner in owners:
                for qtype in TYPES:
                    out.append(Question(server, owner, qtype, "owner x type"))
                out.append(Question(server, owner, "A", "no EDNS", edns=None))
                if owner.startswith("*."):
                    for label in ("x", "a.b"):
                        real = owner.replace("*", label, 1)
                        out += [Question(server, real, t, "wildcard") for t in ("A", "TXT", "MX")]
            out += [
                Question(server, _child(origin, "nx-weblab"), "A", "NXDOMAIN"),
                Question(server, _child(origin, "a.b.nx-weblab"), "TXT", "NXDOMAIN"),
                Question(server, _vary_case(owners[-1]), "A", "case"),
                Question(server, _vary_case(origin), "SOA", "case"),
                Question(server, origin, "ANY", "ANY"),
                Question(server, origin, "TYPE65280", "unknown type"),
                Question(server, origin, "SOA", "RD=1", rd=True),
                Question(server, origin, "SOA", "AD=1", ad=True),
                Question(server, origin, "SOA", "CD=1", cd=True),
                Question(server, origin, "SOA", "DO=1", do=True),
                Question(server, origin, "SOA", "DO=1 RD=1", do=True, rd=True),
                Question(server, _child(origin, "nx-weblab"), "A", "DO=1 NXDOMAIN", do=True),
                Question(server, origin, "TYPE65280", "DO=1 NODATA", do=True, rd=True),
                Question(server, origin, "SOA", "Z=1", z=True),
                Question(server, origin, "SOA", "TC=1 in query", tc=True),
                Question(server, origin, "SOA", "EDNS 512", edns=512),
                Question(server, origin, "SOA", "class ANY", qclass=CLASS_ANY),
                Question(server, origin, "SOA", "class HS", qclass=CLASS_HS),
            ]
            # Empty non-terminals and names below each delegation (referrals).
            cuts = {o for o, t, _ in records if t == "NS" and o != origin}
            for cut in sorted(cuts):
                out += [
                    Question(server, cut, "DS", "DS at cut"),
                    Question(server, _child(cut, "deep.below"), "A", "below cut"),
                    Question(server, _child(cut, "deep.below"), "A", "DO=1 referral", do=True),
                ]
            ents = {o.split(".", 1)[1] for o in owners if o.count(".") > origin.count(".") + 1}
            for ent in sorted(ents - set(owners)):
                if ent.endswith(origin) and ent != origin:
                    out.append(Question(server, ent, "A", "empty non-terminal"))
        out += [
            Question(server, "id.server.", "TXT", "CHAOS", qclass=CLASS.CH),
            Question(server, "version.bind.", "TXT", "CHAOS", qclass=CLASS.CH),
            Question(server, "outside-weblab.org.", "A", "not our zone"),
        ]
        out += _opcodes(server, _origin(zones[0]), "SOA")
    example = "ns-example"
    out += [
        Question(example, "big.example.com.", "TXT", "truncation", edns=None),
        Question(example, "big.example.com.", "TXT", "truncation", edns=512),
        Question(example, "big.example.com.", "TXT", "truncation", edns=4096),
        Question(example, "big.example.com.", "A", "truncation", edns=None),
        Question(example, "big.example.com.", "ANY", "truncation", edns=1232),
        Question(example, "big.example.com.", "TXT", "DO=1 truncation", edns=1232, do=True),
        Question(example, "x.sub.wild.example.com.", "A", "wildcard: existing encloser"),
        Question(example, "sub.wild.example.com.", "A", "wildcard: empty non-terminal"),
        Question(example, "x.alias.example.com.", "A", "wildcard CNAME"),
        Question(example, "x.alias.example.com.", "CNAME", "wildcard CNAME"),
    ]
    return _unique(out)


def resolver_corpus(services: dict[str, Service] | None = None) -> list[Question]:
    """Recursive questions (RD=1) for every name the lab's zones publish, and more."""
    services = services or compose_services()
    names: set[str] = set()
    for service in services.values():
        for path in service.zones():
            names |= {owner for owner, _, _ in zone_records(path)}
    out: list[Question] = []
    for name in sorted(names):
        if name.startswith("*."):
            name = name.replace("*", "anything", 1)
        for qtype in ("A", "AAAA", "NS", "MX", "TXT"):
            out.append(Question("resolver", name, qtype, "recursive", rd=True))
    out += [
        Question("resolver", "nx-weblab.example.com.", "A", "NXDOMAIN", rd=True),
        Question("resolver", "nx-weblab.edgecdn.net.", "A", "NXDOMAIN", rd=True),
        Question("resolver", "nx-weblab.com.", "A", "NXDOMAIN", rd=True),
        Question("resolver", "outside-weblab.org.", "A", "NXDOMAIN at root", rd=True),
        Question("resolver", "x.sub.wild.example.com.", "A", "wildcard NXDOMAIN", rd=True),
        Question("resolver", "sub.wild.example.com.", "A", "wildcard ENT", rd=True),
        Question("resolver", "Www.Example.Com.", "A", "case", rd=True),
        Question("resolver", "big.example.com.", "TXT", "TCP fallback", rd=True, edns=4096),
        Question("resolver", "www.example.com.", "A", "AD=1", rd=True, ad=True),
        Question("resolver", "www.example.com.", "A", "CD=1", rd=True, cd=True),
        Question("resolver", "www.example.com.", "A", "Z=1", rd=True, z=True),
        Question("resolver", "www.example.com.", "A", "TC=1 in query", rd=True, tc=True),
        Question("resolver", "example.com.", "MX", "class ANY", rd=True, qclass=CLASS_ANY),
        Question("resolver", "example.com.", "SOA", "SOA", rd=True),
        Question("resolver", "www.example.com.", "CNAME", "CNAME", rd=True),
        Question("resolver", "www.example.com.", "A", "DO=1", rd=True, do=True),
        Question("resolver", "nx-weblab.example.com.", "A", "DO=1 NXDOMAIN", rd=True, do=True),
        Question("resolver", "big.example.com.", "TXT", "DO=1 TCP fallback", rd=True, do=True),
        *_opcodes("resolver", "www.example.com.", "A"),
        # Last, so that both caches hold these answers: RD=0 is answered from cache only.
        Question("resolver", "www.example.com.", "A", "DO=1 RD=0", do=True),
        Question("resolver", "nx-weblab.example.com.", "A", "DO=1 RD=0 NXDOMAIN", do=True),
    ]
    return _unique(out)


def _opcodes(server: str, qname: str, qtype: str) -> list[Question]:
    """Opcodes none of the servers compared implements (STATUS, unassigned 3 and 15).

    RD and CD are set (as dig sends them) to see which header bits come back
    with the NOTIMP; with EDNS and DO, and without an OPT record.
    """
    return [
        Question(server, qname, qtype, "NOTIMP opcode", rd=True, cd=True, opcode=op, **edns)
        for op in (2, 3, 15)
        for edns in ({"edns": None}, {"do": True})
    ]


def _unique(questions: list[Question]) -> list[Question]:
    seen: set[str] = set()
    kept = []
    for q in questions:
        if q.key() not in seen:
            seen.add(q.key())
            kept.append(q)
    return kept


def original_ttls(services: dict[str, Service] | None = None) -> dict[tuple[str, str], int]:
    """Largest TTL any zone file gives an RRset (owner, type): a resolver never exceeds it."""
    services = services or compose_services()
    ttls: dict[tuple[str, str], int] = {}
    for service in services.values():
        for path in service.zones():
            for owner, rtype, ttl in zone_records(path):
                ttls[(owner, rtype)] = max(ttl, ttls.get((owner, rtype), 0))
    return ttls

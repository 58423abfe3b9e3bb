"""A DNS message from tshark's dns.* fields: question, flags and the three sections.

tshark lists every resource record's owner and type in wire order (answer,
authority, additional: RFC 1035 section 4.1) and the rdata per type in
separate lists (dns.a, dns.ns, ...), so the sections are rebuilt with the
counts from the header.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from dnslib import QTYPE, RCODE

Row = Mapping[str, Sequence[str]]

RDATA_FIELD = {
    "A": "dns.a",
    "AAAA": "dns.aaaa",
    "CNAME": "dns.cname",
    "NS": "dns.ns",
    "SOA": "dns.soa.mname",
}


@dataclass(frozen=True)
class Record:
    name: str
    type: str
    data: str

    def __str__(self) -> str:
        return f"{self.name} {self.type} {self.data}".rstrip()


@dataclass
class DnsInfo:
    id: int
    response: bool
    qname: str
    qtype: str
    rcode: str = "NOERROR"
    aa: bool = False
    tc: bool = False
    rd: bool = False
    answers: list[Record] = field(default_factory=list)
    authority: list[Record] = field(default_factory=list)
    additional: list[Record] = field(default_factory=list)

    @property
    def referral(self) -> bool:
        """A delegation: no answer, not authoritative, NS records in the authority section."""
        return (
            self.response
            and not self.answers
            and not self.aa
            and any(r.type == "NS" for r in self.authority)
        )

    @property
    def referral_zone(self) -> str:
        return next((r.name for r in self.authority if r.type == "NS"), "")

    @property
    def referral_ns(self) -> list[str]:
        return [r.data for r in self.authority if r.type == "NS"]

    @property
    def glue(self) -> list[Record]:
        return [r for r in self.additional if r.type in ("A", "AAAA")]

    def label(self) -> str:
        """A short arrow label: '? name A', 'referral → com. (...)', 'aa A 1.2.3.4'."""
        if not self.response:
            return f"DNS ? {self.qname} {self.qtype}"
        if self.tc:
            return f"DNS truncated (TC): retry over TCP for {self.qname}"
        if self.rcode != "NOERROR":
            return f"DNS {self.rcode} {self.qname}"
        if self.referral:
            glue = "glue" if self.glue else "no glue"
            ns = ", ".join(self.referral_ns)
            return f"referral → {_dotted(self.referral_zone)} ({ns}; {glue})"
        if not self.answers:
            return f"DNS NODATA {self.qname} {self.qtype}"
        flag = "aa " if self.aa else ""
        return "DNS " + flag + ", ".join(f"{r.type} {r.data}" for r in self.answers)


def _dotted(name: str) -> str:
    return "." if name in ("<Root>", "") else name.rstrip(".") + "."


def _type_name(value: str) -> str:
    try:
        return str(QTYPE.get(int(value), value))
    except ValueError:
        return value


def _records(row: Row) -> list[Record]:
    """Every resource record of the message in wire order, OPT left out."""
    taken: dict[str, int] = {}
    out: list[Record] = []
    names = row.get("dns.resp.name") or []
    for name, code in zip(names, row.get("dns.resp.type") or [], strict=False):
        rtype = _type_name(code)
        data = ""
        fld = RDATA_FIELD.get(rtype)
        if fld:
            i = taken.get(fld, 0)
            values = row.get(fld) or []
            data = values[i] if i < len(values) else ""
            taken[fld] = i + 1
        out.append(Record(_dotted(name), rtype, data))
    return out


def dns_info(row: Row) -> DnsInfo:
    def one(name: str, default: str = "0") -> str:
        values = row.get(name) or []
        return values[0] if values else default

    def count(name: str) -> int:
        return int(one(name))

    rcode_num = int(one("dns.flags.rcode"))
    info = DnsInfo(
        id=int(one("dns.id"), 0),
        response=one("dns.flags.response") == "1",
        qname=one("dns.qry.name", "").rstrip("."),
        qtype=_type_name(one("dns.qry.type", "")),
        rcode=str(RCODE.get(rcode_num, str(rcode_num))),
        aa=one("dns.flags.authoritative") == "1",
        tc=one("dns.flags.truncated") == "1",
        rd=one("dns.flags.recdesired") == "1",
    )
    if info.response:
        records = _records(row)
        n_an, n_ns = count("dns.count.answers"), count("dns.count.auth_rr")
        info.answers = records[:n_an]
        info.authority = records[n_an : n_an + n_ns]
        info.additional = [r for r in records[n_an + n_ns :] if r.type != "OPT"]
    return info

"""Compare two DNS replies to the same query and name each difference.

A difference is a (kind, detail) pair; ``kind`` is a stable class name
("rcode", "opcode", "flag:aa", "opt", "opt:do", "answer", "ttl", ...) that
the allow-list matches on, ``detail`` says exactly what each side sent.
"""

from __future__ import annotations

from dataclasses import dataclass

from dnslib import CLASS, QTYPE, RCODE, RR, DNSRecord

FLAGS = ("aa", "tc", "rd", "ra", "z", "ad", "cd")
SECTIONS = ("answer", "authority", "additional")


@dataclass(frozen=True)
class Difference:
    """One way two replies disagree."""

    kind: str
    detail: str


def _section(reply: DNSRecord, name: str) -> list[RR]:
    rrs: list[RR] = {"answer": reply.rr, "authority": reply.auth, "additional": reply.ar}[name]
    return [rr for rr in rrs if rr.rtype != QTYPE.OPT]


def rr_key(rr: RR, ttl: bool = True) -> tuple[str, ...]:
    """An RR as comparable text: owner (lower case), class, type, rdata and TTL."""
    rtype = QTYPE.get(rr.rtype, None) or f"TYPE{rr.rtype}"
    rclass = CLASS.get(rr.rclass, None) or f"CLASS{rr.rclass}"
    base = (str(rr.rname).lower(), str(rclass), str(rtype), rr.rdata.toZone().lower())
    return (*base, str(rr.ttl)) if ttl else base


def summary(reply: DNSRecord | None) -> dict[str, object]:
    """A JSON-friendly digest of a reply for the report."""
    if reply is None:
        return {"timeout": True}
    h = reply.header
    return {
        "rcode": RCODE.get(h.rcode),
        "flags": [f for f in FLAGS if getattr(h, f)],
        "opt": _opt(reply),
        "do": _do(reply),
        **{name: [" ".join(rr_key(rr)) for rr in _section(reply, name)] for name in SECTIONS},
    }


def _opt(reply: DNSRecord) -> int | None:
    for rr in reply.ar:
        if rr.rtype == QTYPE.OPT:
            return int(rr.rclass)
    return None


def _do(reply: DNSRecord) -> bool | None:
    """The DO bit of the reply's OPT record (RFC 3225 §3), None without one."""
    for rr in reply.ar:
        if rr.rtype == QTYPE.OPT:
            return bool(int(rr.ttl) & 0x8000)
    return None


def _header(ours: DNSRecord, peer: DNSRecord, flags: tuple[str, ...]) -> list[Difference]:
    diffs = []
    if ours.header.opcode != peer.header.opcode:
        diffs.append(Difference("opcode", f"ours {ours.header.opcode}, peer {peer.header.opcode}"))
    if ours.header.rcode != peer.header.rcode:
        diffs.append(
            Difference(
                "rcode", f"ours {RCODE.get(ours.header.rcode)}, peer {RCODE.get(peer.header.rcode)}"
            )
        )
    for flag in flags:
        a, b = bool(getattr(ours.header, flag)), bool(getattr(peer.header, flag))
        if a != b:
            diffs.append(Difference(f"flag:{flag}", f"ours {int(a)}, peer {int(b)}"))
    if (_opt(ours) is None) != (_opt(peer) is None):
        diffs.append(Difference("opt", f"ours OPT {_opt(ours)}, peer OPT {_opt(peer)}"))
    elif _do(ours) != _do(peer):
        diffs.append(Difference("opt:do", f"ours DO {_do(ours)}, peer DO {_do(peer)}"))
    return diffs


def _sets(kind: str, ours: list[RR], peer: list[RR], ttl: bool) -> list[Difference]:
    a, b = {rr_key(rr, ttl) for rr in ours}, {rr_key(rr, ttl) for rr in peer}
    if a == b:
        return []
    only_ours = sorted(" ".join(k) for k in a - b)
    only_peer = sorted(" ".join(k) for k in b - a)
    return [Difference(kind, f"only ours: {only_ours}; only peer: {only_peer}")]


def compare_auth(ours: DNSRecord | None, peer: DNSRecord | None) -> list[Difference]:
    """Authoritative replies: header, every section as a set of RRs, TTLs equal."""
    if ours is None or peer is None:
        return (
            []
            if ours is peer
            else [
                Difference(
                    "timeout",
                    f"ours answered: {ours is not None}, peer answered: {peer is not None}",
                )
            ]
        )
    diffs = _header(ours, peer, FLAGS)
    for name in SECTIONS:
        diffs += _sets(name, _section(ours, name), _section(peer, name), ttl=True)
    return diffs


def compare_recursive(
    ours: DNSRecord | None,
    peer: DNSRecord | None,
    original: dict[tuple[str, str], int],
    slack: int = 5,
) -> list[Difference]:
    """Resolver replies: header, answer RRs without TTL, then TTL bounds.

    Ours may not exceed the TTL the zone gives (capped like Unbound's
    cache-max-ttl at 86400) and may not be lower than the peer's by more
    than ``slack`` seconds (both fetched the data moments apart).
    """
    if ours is None or peer is None:
        return (
            []
            if ours is peer
            else [
                Difference(
                    "timeout",
                    f"ours answered: {ours is not None}, peer answered: {peer is not None}",
                )
            ]
        )
    diffs = _header(ours, peer, ("aa", "tc", "ra", "z", "ad", "cd"))
    diffs += _sets("answer", _section(ours, "answer"), _section(peer, "answer"), ttl=False)
    peer_ttl = {rr_key(rr, False)[:3]: rr.ttl for rr in _section(peer, "answer")}
    for rr in _section(ours, "answer"):
        owner, _, rtype, _ = rr_key(rr, False)
        ceiling = min(original.get((owner, rtype), 86400), 86400)
        floor = peer_ttl.get(rr_key(rr, False)[:3], 0) - slack
        if not floor <= rr.ttl <= ceiling:
            diffs.append(
                Difference(
                    "ttl", f"{owner} {rtype}: ours {rr.ttl}, peer {floor + slack}, zone {ceiling}"
                )
            )
    negative = ours.header.rcode == RCODE.NXDOMAIN or (
        ours.header.rcode == RCODE.NOERROR and not ours.rr
    )
    if negative:
        soa_ours = [rr_key(rr, False) for rr in ours.auth if rr.rtype == QTYPE.SOA]
        soa_peer = [rr_key(rr, False) for rr in peer.auth if rr.rtype == QTYPE.SOA]
        if soa_ours != soa_peer:
            diffs.append(Difference("negative-soa", f"ours {soa_ours}, peer {soa_peer}"))
    return diffs

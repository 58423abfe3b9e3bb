"""The allow-list: differences from the peers that the RFCs permit, each with its citation.

Each rule names the difference kind it covers, the mode (authoritative or
resolver comparison) and a predicate that keeps it narrow, so that the same
kind in another situation (say, missing glue in a referral, which RFC 9471
requires) is still reported. Anything not covered here is a difference the
DNS owner has to fix or to justify with a new, cited entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dnslib import CLASS, QTYPE, RCODE, DNSRecord

from harness.corpus import Question
from tests.dnsdiff.compare import Difference, rr_key

CLASS_ANY = 255


@dataclass(frozen=True)
class Context:
    """What a rule may look at."""

    question: Question
    ours: DNSRecord
    peer: DNSRecord
    tcp_agrees: bool  # both gave the same answer over TCP (only computed for TC differences)


@dataclass(frozen=True)
class Rule:
    """One permitted difference."""

    mode: str  # "auth" or "resolver"
    kinds: tuple[str, ...]
    citation: str
    applies: Callable[[Context], bool]


def _extra(ctx: Context, section: str) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
    """RRs (without TTL) only in ours and only in the peer's ``section``."""
    get = {
        "answer": lambda r: r.rr,
        "authority": lambda r: r.auth,
        "additional": lambda r: [rr for rr in r.ar if rr.rtype != QTYPE.OPT],
    }[section]
    a = {rr_key(rr, False) for rr in get(ctx.ours)}
    b = {rr_key(rr, False) for rr in get(ctx.peer)}
    return sorted(a - b), sorted(b - a)


def _is_referral(reply: DNSRecord) -> bool:
    return not reply.header.aa and not reply.rr and any(rr.rtype == QTYPE.NS for rr in reply.auth)


def _apex_ns_only_in_peer(ctx: Context) -> bool:
    ours_only, peer_only = _extra(ctx, "authority")
    return (
        not ours_only
        and bool(peer_only)
        and bool(ctx.ours.rr)
        and all(k[2] == "NS" for k in peer_only)
    )


def _addresses_only(ctx: Context) -> bool:
    if _is_referral(ctx.ours) or _is_referral(ctx.peer):
        return False  # referral glue is not optional (RFC 9471 §3)
    ours_only, peer_only = _extra(ctx, "additional")
    return all(k[2] in ("A", "AAAA") for k in ours_only + peer_only)


def _any_subset(ctx: Context) -> bool:
    if ctx.question.qtype != "ANY":
        return False
    ours_only, peer_only = _extra(ctx, "answer")
    return not ours_only or not peer_only


def _notimp(ctx: Context) -> bool:
    both = ctx.ours.header.rcode == ctx.peer.header.rcode == RCODE.NOTIMP
    return ctx.question.opcode != 0 and both


def _notimp_bits_cleared(ctx: Context) -> bool:
    """Both NOTIMP for an opcode neither implements, and ours is the one without RD/CD."""
    return _notimp(ctx) and not ctx.ours.header.rd and not ctx.ours.header.cd


def _notimp_opt_echoed(ctx: Context) -> bool:
    ours_opt = any(rr.rtype == QTYPE.OPT for rr in ctx.ours.ar)
    return _notimp(ctx) and ctx.question.edns is not None and ours_opt


NOTIMP_BITS = (
    "RFC 1035 §4.1.1 copies only the ID and OPCODE into the reply to any opcode; RD and CD "
    "are QUERY's bits (RFC 6895 §2; RFC 2136 §2.2 makes those positions zero in an UPDATE), "
    "so ours clears them for an opcode it does not implement, as BIND 9.18 does; "
    "NSD 4.6 and Unbound 1.17 copy the query's whole flag word"
)


def _chaos(name: str) -> Callable[[Context], bool]:
    return lambda ctx: ctx.question.qclass == CLASS.CH and ctx.question.qname == name


RULES: tuple[Rule, ...] = (
    Rule(
        "auth",
        ("authority",),
        "RFC 1034 §4.3.2 step 4/6 and RFC 2181 §9: the zone's NS RRset in the authority "
        "section of a positive answer is optional; ours sends minimal responses (as BIND/"
        "Unbound 'minimal-responses: yes'), NSD 'minimal-responses: no' adds it",
        _apex_ns_only_in_peer,
    ),
    Rule(
        "auth",
        ("additional",),
        "RFC 1034 §4.3.2 step 6 and RFC 1035 §3.3.9/§3.3.11: additional-section addresses "
        "for NS/MX targets in answers are optional ('additional section processing'); "
        "not applied to referrals, whose glue RFC 9471 §3 requires",
        _addresses_only,
    ),
    Rule(
        "auth",
        ("answer", "additional"),
        "RFC 8482 §4.1/§4.2: a reply to QTYPE ANY may hold a subset of the RRsets",
        _any_subset,
    ),
    Rule(
        "auth",
        ("flag:cd",),
        "RFC 4035 §3.1.6: the name server MUST copy the CD bit from query to response; "
        "ours does, NSD 4.6 clears it",
        lambda ctx: ctx.question.cd and bool(ctx.ours.header.cd),
    ),
    Rule("auth", ("flag:rd", "flag:cd"), NOTIMP_BITS, _notimp_bits_cleared),
    Rule(
        "auth",
        ("opt",),
        "RFC 6891 §6.1.1: a request with an OPT record gets one in its response, NOTIMP "
        "included (DO copied, RFC 3225 §3); ours, BIND 9.18 and Unbound 1.17 send it, "
        "NSD 4.6 answers an opcode it does not implement before reading the OPT",
        _notimp_opt_echoed,
    ),
    Rule("resolver", ("flag:cd",), NOTIMP_BITS, _notimp_bits_cleared),
    Rule(
        "auth",
        ("rcode", "answer", "flag:aa"),
        "RFC 4892 §2 defines only id.server; version.bind is a BIND convention a server "
        "may refuse (NSD 'hide-version: yes', our REFUSED)",
        _chaos("version.bind."),
    ),
    Rule(
        "auth",
        ("flag:aa",),
        "RFC 4892 §2-3: the CHAOS id.server reply is a server-local convention whose header "
        "bits the RFC does not fix (BIND sets AA, NSD does not)",
        _chaos("id.server."),
    ),
    Rule(
        "resolver",
        ("flag:tc", "answer"),
        "RFC 6891 §6.2.5 and §7: a responder may keep to a UDP payload smaller than the "
        "requestor's (ours 1232, DNS Flag Day 2020; Unbound 4096), setting TC=1; checked: "
        "the same answer over TCP (RFC 7766 §5)",
        lambda ctx: bool(ctx.ours.header.tc) and not ctx.ours.rr and ctx.tcp_agrees,
    ),
    Rule(
        "resolver",
        ("rcode", "answer", "flag:ra"),
        "RFC 1035 §4.1.1 gives TC no meaning in a query: Unbound rejects it (FORMERR), "
        "answering it normally is equally permitted (the echoed TC bit is not)",
        lambda ctx: ctx.question.tc and ctx.peer.header.rcode == 1,
    ),
    Rule(
        "auth",
        ("flag:tc", "answer"),
        "RFC 6891 §6.2.5 and §7: a responder may keep to a smaller UDP payload than the "
        "other's and set TC=1; checked: the same answer over TCP (RFC 7766 §5)",
        lambda ctx: ctx.tcp_agrees,
    ),
)


def explain(
    q: Question,
    diffs: list[Difference],
    ours: DNSRecord | None,
    peer: DNSRecord | None,
    mode: str,
    tcp_agrees: bool = False,
) -> dict[str, str]:
    """kind -> RFC citation for each difference some rule covers."""
    if ours is None or peer is None:
        return {}
    ctx = Context(q, ours, peer, tcp_agrees)
    allowed: dict[str, str] = {}
    for d in diffs:
        for rule in RULES:
            if rule.mode == mode and d.kind in rule.kinds and rule.applies(ctx):
                allowed[d.kind] = rule.citation
                break
    return allowed

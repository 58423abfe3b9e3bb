"""The forwarder's answer cache: whole answers by question, clock injected, no I/O.

A forwarder caches what its upstream said about one question, not RRsets
it assembles itself (that is the resolver's cache, services/resolver/cache.py):

- The key is (qname in lower case, qtype, qclass): names compare without
  regard to case (RFC 1035 §2.3.3, RFC 4343), and an A and an AAAA question
  are different answers.
- A positive answer (NOERROR with records in the answer section) is kept for
  the smallest TTL of the answer section. RFC 2181 §5.2: the records of one
  RRset share a TTL, so "the answer's TTL" is the smallest over its RRsets
  (a CNAME and the A it leads to, say); the entry cannot outlive any of them.
- A negative answer, NXDOMAIN or NODATA (NOERROR, no answer; RFC 2308 §1),
  is kept for min(SOA TTL, SOA MINIMUM) of the SOA in the authority section
  (RFC 2308 §5), and not at all when the upstream sent no SOA (§5: "negative
  responses without SOA records SHOULD NOT be cached").
- Every TTL is capped by ``max_ttl`` (``--max-ttl``, a day by default), as
  RFC 2308 §5 and RFC 8767 §4 expect a cache to bound what it is told.
  TTL 0 means "use once, do not cache" (RFC 1035 §3.2.1).
- SERVFAIL, REFUSED and every other error are not cached. RFC 2308 §7.1
  allows a server failure to be cached for up to five minutes; here the
  next question goes upstream again, so the moment a DHCP lease names an
  upstream or a blackholed server comes back, the lab's learner sees it work.
- An answer is served with every record's TTL set to the time the entry has
  left: its lifetime minus the whole seconds it has been held (RFC 1035
  §3.2.1, RFC 2308 §5 for the SOA of a denial). The answer that fills the
  cache already shows that TTL (held 0 s), so the first reply and the
  repeats agree, and a cache below this one (the client's stub behind the
  router) can never keep the answer longer than this one does.

What is kept: the answer section, and of the authority section only the
SOA of a denial; the additional section and OPT are not (OPT is per hop,
RFC 6891 §6.1.1, and is made afresh for each asker).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from dnslib import CLASS, QTYPE, RCODE, RR, DNSRecord

from services.dnscore.names import is_subdomain, norm
from services.dnscore.wire import type_text

Clock = Callable[[], float]
MAX_TTL = 86400  # a day: the default --max-ttl
MAX_ENTRIES = 10_000  # questions remembered; beyond that the soonest to expire goes


@dataclass(frozen=True)
class Key:
    """One question: RFC 1035 §4.1.2's QNAME (lower-cased), QTYPE and QCLASS."""

    qname: str
    qtype: int
    qclass: int

    @classmethod
    def of(cls, query: DNSRecord) -> Key:
        """The key of a query's (first and only) question."""
        q = query.q
        return cls(norm(q.qname), int(q.qtype), int(q.qclass))

    def class_text(self) -> str:
        """``IN``, ``CH``, or RFC 3597's ``CLASSnnn``."""
        # Not CLASS.get: dnslib's Bimap.get gives str(k) for an unknown value.
        name = CLASS.forward.get(self.qclass)
        return str(name) if name is not None else f"CLASS{self.qclass}"


@dataclass(frozen=True)
class Verdict:
    """What the cache rules say about one upstream reply."""

    kind: str  # "answer", "nxdomain", "nodata", or "error"
    ttl: int  # seconds the answer may be kept; 0: not cached
    why: str  # the rule that gave ``ttl``, for the log and the dump


def _soa(reply: DNSRecord) -> RR | None:
    for rr in reply.auth:
        if rr.rtype == QTYPE.SOA:
            return rr
    return None


def _answers_question(reply: DNSRecord) -> bool:
    """Has the answer section a record of the type asked (a CNAME chain alone is not one)?"""
    qtype = int(reply.q.qtype) if reply.questions else -1
    if qtype in (QTYPE.CNAME, QTYPE.ANY):
        return bool(reply.rr)
    return any(int(rr.rtype) == qtype for rr in reply.rr)


def _capped(kind: str, ttl: int, why: str, max_ttl: int) -> Verdict:
    if ttl > max_ttl:
        return Verdict(kind, max_ttl, f"{why}, capped at --max-ttl {max_ttl}")
    return Verdict(kind, max(ttl, 0), why)


def verdict(reply: DNSRecord, max_ttl: int = MAX_TTL) -> Verdict:
    """Classify an upstream reply and say how long it may be cached (the rules above)."""
    rcode = reply.header.rcode
    if rcode not in (RCODE.NOERROR, RCODE.NXDOMAIN):
        return Verdict("error", 0, f"{RCODE.get(rcode)}: not cached")
    chain = [int(rr.ttl) for rr in reply.rr]
    if rcode == RCODE.NOERROR and _answers_question(reply):
        return _capped("answer", min(chain), f"smallest answer TTL {min(chain)}", max_ttl)
    # A denial: NXDOMAIN, or NODATA (RFC 2308 §2.2), maybe at the end of a
    # CNAME chain (§2.1, §2.2), whose records may not outlive their own TTLs.
    kind = "nxdomain" if rcode == RCODE.NXDOMAIN else "nodata"
    soa = _soa(reply)
    if soa is None:
        return Verdict(kind, 0, "no SOA in the authority section: not cached (RFC 2308 §5)")
    ttl, minimum = int(soa.ttl), int(soa.rdata.times[4])
    why = f"min(SOA TTL {ttl}, SOA MINIMUM {minimum}) (RFC 2308 §5)"
    if chain:
        why += f" and the CNAME chain's {min(chain)}"
    return _capped(kind, min(ttl, minimum, *chain), why, max_ttl)


def _with_ttl(rrs: list[RR], ttl: int) -> list[RR]:
    return [RR(rr.rname, rr.rtype, rr.rclass, ttl, rr.rdata) for rr in rrs]


@dataclass(frozen=True)
class Answer:
    """What an asker is sent: rcode and sections, TTLs already counted down."""

    rcode: int
    answer: list[RR]
    authority: list[RR]
    ttl: int  # the TTL every record shows (the entry's time left); 0 if never cached
    held: int = 0  # whole seconds the cache has held it


@dataclass
class _Entry:
    verdict: Verdict
    rcode: int
    answer: list[RR]
    authority: list[RR]
    stored: float
    hits: int = 0
    expires: float = field(init=False)

    def __post_init__(self) -> None:
        self.expires = self.stored + self.verdict.ttl

    def held(self, now: float) -> int:
        return int(now - self.stored)

    def left(self, now: float) -> int:
        # Whole seconds held, counted down from the lifetime: a fresh entry
        # shows at least 1, never 0, which a client would take as "do not cache".
        return self.verdict.ttl - self.held(now)

    def serve(self, now: float) -> Answer:
        left = self.left(now)
        return Answer(
            self.rcode,
            _with_ttl(self.answer, left),
            _with_ttl(self.authority, left),
            left,
            self.held(now),
        )


def fresh(reply: DNSRecord, max_ttl: int = MAX_TTL) -> Answer:
    """An upstream reply as the cache serves it (held 0 s), whether it was cached or not.

    The first asker sees what every later one will, counted down; a reply
    the rules do not cache (an error, a denial without SOA) is relayed.
    """
    ruling = verdict(reply, max_ttl)
    if ruling.ttl <= 0:
        return relayed(reply)
    authority = _kept_authority(reply, ruling)
    return Answer(
        reply.header.rcode,
        _with_ttl(list(reply.rr), ruling.ttl),
        _with_ttl(authority, ruling.ttl),
        ruling.ttl,
    )


def relayed(reply: DNSRecord) -> Answer:
    """An upstream reply passed on as it came: the answer and authority sections, TTLs as sent."""
    return Answer(reply.header.rcode, list(reply.rr), list(reply.auth), 0)


def _kept_authority(reply: DNSRecord, ruling: Verdict) -> list[RR]:
    """Nothing for an answer, the SOA for a denial (the only authority record kept)."""
    soa = _soa(reply)
    return [soa] if ruling.kind != "answer" and soa is not None else []


class AnswerCache:
    """Answers by question (``Key``), each with its own lifetime and hit count."""

    def __init__(
        self, clock: Clock = time.monotonic, max_ttl: int = MAX_TTL, max_entries: int = MAX_ENTRIES
    ) -> None:
        self.clock = clock
        self.max_ttl = max_ttl
        self.max_entries = max_entries
        self._entries: dict[Key, _Entry] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Key) -> Answer | None:
        """The cached answer with TTLs counted down (and one more hit), or None."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        now = self.clock()
        if now >= entry.expires:
            del self._entries[key]
            return None
        entry.hits += 1
        return entry.serve(now)

    def put(self, key: Key, reply: DNSRecord) -> Verdict:
        """Remember an upstream reply if the rules allow; the verdict says what was decided."""
        ruling = verdict(reply, self.max_ttl)
        if ruling.ttl <= 0:
            return ruling
        if key not in self._entries and len(self._entries) >= self.max_entries:
            self._make_room()
        self._entries[key] = _Entry(
            ruling, reply.header.rcode, list(reply.rr), _kept_authority(reply, ruling), self.clock()
        )
        return ruling

    def _make_room(self) -> None:
        now = self.clock()
        self._entries = {k: e for k, e in self._entries.items() if e.expires > now}
        if len(self._entries) >= self.max_entries:
            soonest = min(self._entries, key=lambda k: self._entries[k].expires)
            del self._entries[soonest]

    def flush(self, name: str | None = None) -> int:
        """Forget everything, or ``name`` and every name below it; returns entries dropped."""
        before = len(self._entries)
        if name is None:
            self._entries.clear()
        else:
            zone = norm(name)
            self._entries = {
                k: e for k, e in self._entries.items() if not is_subdomain(k.qname, zone)
            }
        return before - len(self._entries)

    def dump(self) -> list[dict[str, object]]:
        """Every fresh entry: question, kind, TTL left, the rule that set it, hits, records."""
        now = self.clock()
        self._entries = {k: e for k, e in self._entries.items() if e.expires > now}
        rows: list[dict[str, object]] = []
        for key, entry in self._entries.items():
            rows.append(
                {
                    "name": key.qname,
                    "type": type_text(key.qtype),
                    "class": key.class_text(),
                    "kind": entry.verdict.kind,
                    "rcode": RCODE.get(entry.rcode),
                    "ttl": entry.left(now),
                    "original_ttl": entry.verdict.ttl,
                    "why": entry.verdict.why,
                    "hits": entry.hits,
                    "records": [
                        f"{QTYPE.get(rr.rtype)} {rr.rdata}" for rr in entry.answer + entry.authority
                    ],
                }
            )
        rows.sort(key=lambda r: (str(r["name"]).split(".")[::-1], str(r["type"])))
        return rows

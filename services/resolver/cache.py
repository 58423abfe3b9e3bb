"""The resolver's cache: RRsets, negative answers and delegations, clock injected.

- Positive RRsets are kept for their TTL and handed out with the TTL counting
  down (RFC 1035 §3.2.1: the TTL is the time the record may be cached).
- Negative answers (NXDOMAIN for a name, NODATA for a name and type) are kept
  for min(SOA TTL, SOA MINIMUM) (RFC 2308 §5), capped at a few hours.
- Every RRset carries a rank (RFC 2181 §5.4.1): glue and referral NS records
  may steer iteration but are never returned to a client as an answer, and
  never replace fresher data of a higher rank. Referral NS sets and glue
  form the delegation (infrastructure) cache that lets iteration start
  below the root.
- TTLs are clamped to [min_ttl, max_ttl] when stored (RFC 8767 §4 on caps).
- Serve-stale (RFC 8767): expired entries are kept for ``max_stale`` more
  seconds and handed out, with TTL ``stale_ttl`` (30 s, §4), only when the
  resolver could not refresh them because every upstream failed.
- ``flush`` drops one name and everything below it, or everything; ``dump``
  lists each entry with its remaining TTL, for ``services.resolver.ctl``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from dnslib import QTYPE, RCODE, RR

from services.dnscore.names import ancestors, is_subdomain, norm
from services.dnscore.wire import type_text as _type_text

Clock = Callable[[], float]


class Rank(IntEnum):
    """How far a record can be trusted, lowest first (RFC 2181 §5.4.1, simplified)."""

    GLUE = 1  # additional section of a referral
    REFERRAL = 2  # NS in the authority section of a referral
    ANSWER = 3  # answer section of an authoritative reply


@dataclass
class _Entry:
    rrs: list[RR]
    expires: float
    rank: Rank


@dataclass
class _Negative:
    rcode: int
    soa: RR | None
    expires: float


@dataclass(frozen=True)
class Negative:
    """A cached negative answer, SOA TTL already counted down."""

    rcode: int
    soa: RR | None


@dataclass(frozen=True)
class CacheConfig:
    """Bounds on what upstream TTLs may ask for."""

    max_ttl: int = 86400  # a day: longer upstream TTLs are capped
    min_ttl: int = 0  # raise shorter TTLs to this (0: keep them; TTL 0 is never cached)
    max_negative_ttl: int = 10800  # RFC 2308 §5 suggests one to three hours
    serve_stale: bool = False  # RFC 8767
    stale_ttl: int = 30  # RFC 8767 §4: TTL of a stale answer
    max_stale: int = 86400  # RFC 8767 §5 suggests 1 to 3 days


def _with_ttl(rr: RR, ttl: int) -> RR:
    return RR(rr.rname, rr.rtype, rr.rclass, ttl, rr.rdata)


def _rrset_key(rr: RR) -> tuple[str, int]:
    return norm(rr.rname), int(rr.rtype)


class Cache:
    """RRset and negative cache keyed by normalised (name, type)."""

    def __init__(self, clock: Clock = time.monotonic, config: CacheConfig | None = None) -> None:
        self.clock = clock
        self.config = config or CacheConfig()
        self._rrsets: dict[tuple[str, int], _Entry] = {}
        self._negative: dict[tuple[str, int | None], _Negative] = {}

    def __len__(self) -> int:
        return len(self._rrsets) + len(self._negative)

    def put_rrset(self, rrs: list[RR], rank: Rank) -> bool:
        """Store one RRset (all members share owner and type); False if kept the old one."""
        if not rrs:
            return False
        key = (norm(rrs[0].rname), int(rrs[0].rtype))
        now = self.clock()
        old = self._rrsets.get(key)
        if old is not None and old.expires > now and old.rank > rank:
            return False
        ttl = self.rrset_ttl(rrs)
        if ttl <= 0:
            return False  # RFC 1035 §3.2.1: TTL 0 means use once, do not cache
        self._rrsets[key] = _Entry([_with_ttl(rr, ttl) for rr in rrs], now + ttl, rank)
        # Fresh positive data supersedes a cached denial of the same name.
        self._negative.pop((key[0], None), None)
        self._negative.pop(key, None)
        return True

    def rrset_ttl(self, rrs: list[RR]) -> int:
        """The TTL an RRset gets here: its lowest, clamped to [min_ttl, max_ttl]; 0 stays 0."""
        ttl = min(min(int(rr.ttl) for rr in rrs), self.config.max_ttl)
        return max(ttl, self.config.min_ttl) if ttl > 0 else 0

    def negative_ttl(self, soa: RR) -> int:
        """How long a denial with this SOA is kept: min(TTL, MINIMUM, cap), RFC 2308 §5."""
        return min(int(soa.ttl), int(soa.rdata.times[4]), self.config.max_negative_ttl)

    def as_cached(self, rrs: list[RR]) -> list[RR]:
        """Copies of ``rrs`` with each RRset's TTL as the cache gives it out.

        The reply that first brings data in must show the same capped TTLs as
        the replies later served from the cache, or a client would see the TTL
        jump down (say from 172800 to 86400) between two identical questions.
        """
        groups: dict[tuple[str, int], list[RR]] = {}
        for rr in rrs:
            groups.setdefault(_rrset_key(rr), []).append(rr)
        ttls = {key: self.rrset_ttl(rrset) for key, rrset in groups.items()}
        return [_with_ttl(rr, ttls[_rrset_key(rr)]) for rr in rrs]

    def get_rrset(self, name: str, qtype: int, min_rank: Rank = Rank.ANSWER) -> list[RR] | None:
        """A fresh RRset of at least ``min_rank``, TTLs showing the time left."""
        key = (norm(name), qtype)
        entry = self._rrsets.get(key)
        if entry is None:
            return None
        left = int(entry.expires - self.clock())
        if left <= 0:
            self._expire(self._rrsets, key, entry.expires)
            return None
        if entry.rank < min_rank:
            return None
        return [_with_ttl(rr, left) for rr in entry.rrs]

    def put_negative(self, name: str, qtype: int, rcode: int, soa: RR | None) -> None:
        """Cache NXDOMAIN (whole name) or NODATA (name and type), RFC 2308 §5."""
        if soa is None:
            return  # RFC 2308 §5: no SOA, no negative caching
        ttl = self.negative_ttl(soa)
        if ttl <= 0:
            return
        key: tuple[str, int | None] = (norm(name), None if rcode == RCODE.NXDOMAIN else qtype)
        self._negative[key] = _Negative(rcode, _with_ttl(soa, ttl), self.clock() + ttl)

    def get_negative(self, name: str, qtype: int) -> Negative | None:
        """A cached NXDOMAIN for the name or NODATA for (name, type), if fresh."""
        now = self.clock()
        for key in ((norm(name), None), (norm(name), qtype)):
            entry = self._negative.get(key)
            if entry is None:
                continue
            left = int(entry.expires - now)
            if left <= 0:
                self._expire(self._negative, key, entry.expires)
                continue
            soa = _with_ttl(entry.soa, left) if entry.soa is not None else None
            return Negative(entry.rcode, soa)
        return None

    def _expire(self, table: dict[Any, Any], key: object, expires: float) -> None:
        """Drop an expired entry, unless serve-stale keeps it a while longer."""
        if not self.config.serve_stale or self.clock() > expires + self.config.max_stale:
            del table[key]

    def get_stale(self, name: str, qtype: int) -> list[RR] | Negative | None:
        """RFC 8767 §4: an expired answer or denial, TTL set to ``stale_ttl``."""
        if not self.config.serve_stale:
            return None
        now = self.clock()
        name = norm(name)
        for nkey in ((name, None), (name, qtype)):
            neg = self._negative.get(nkey)
            if neg is not None and now <= neg.expires + self.config.max_stale:
                soa = _with_ttl(neg.soa, self.config.stale_ttl) if neg.soa else None
                return Negative(neg.rcode, soa)
        for rtype in (qtype, QTYPE.CNAME):
            entry = self._rrsets.get((name, rtype))
            if (
                entry is not None
                and entry.rank >= Rank.ANSWER
                and now <= entry.expires + self.config.max_stale
            ):
                ttl = self.config.stale_ttl if entry.expires <= now else int(entry.expires - now)
                return [_with_ttl(rr, ttl) for rr in entry.rrs]
        return None

    def flush(self, name: str | None = None) -> int:
        """Forget everything, or ``name`` and all names below it; returns entries dropped."""
        if name is None:
            dropped = len(self)
            self._rrsets.clear()
            self._negative.clear()
            return dropped
        zone = norm(name)
        before = len(self)
        self._rrsets = {k: v for k, v in self._rrsets.items() if not is_subdomain(k[0], zone)}
        self._negative = {k: v for k, v in self._negative.items() if not is_subdomain(k[0], zone)}
        return before - len(self)

    def dump(self) -> list[dict[str, object]]:
        """Every entry with its kind (answer, negative, delegation) and remaining TTL."""
        now = self.clock()
        rows: list[dict[str, object]] = []
        for (name, rtype), entry in self._rrsets.items():
            kind = "answer" if entry.rank >= Rank.ANSWER else "delegation"
            rows.append(
                {
                    "name": name,
                    "type": _type_text(rtype),
                    "kind": kind,
                    "rank": entry.rank.name.lower(),
                    "ttl": int(entry.expires - now),
                    "stale": entry.expires <= now,
                    "records": [str(rr.rdata) for rr in entry.rrs],
                }
            )
        for (name, ntype), neg in self._negative.items():
            rows.append(
                {
                    "name": name,
                    "type": "*" if ntype is None else _type_text(ntype),
                    "kind": "negative",
                    "rank": RCODE.get(neg.rcode),
                    "ttl": int(neg.expires - now),
                    "stale": neg.expires <= now,
                    "records": [str(neg.soa.rdata)] if neg.soa else [],
                }
            )
        rows.sort(key=lambda r: (str(r["name"]).split(".")[::-1], str(r["type"])))
        return rows

    def addresses(self, name: str) -> list[str]:
        """IPv4 addresses known for a host name at any rank (glue is fine here)."""
        rrs = self.get_rrset(name, QTYPE.A, min_rank=Rank.GLUE) or []
        return [str(rr.rdata) for rr in rrs]

    def closest_delegation(self, name: str) -> tuple[str, list[str]] | None:
        """The deepest zone above ``name`` whose NS set is cached (RFC 1034 §5.3.3 step 2)."""
        for zone in ancestors(norm(name)):
            rrs = self.get_rrset(zone, QTYPE.NS, min_rank=Rank.REFERRAL)
            if rrs:
                return zone, [norm(rr.rdata.label) for rr in rrs]
        return None

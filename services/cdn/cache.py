"""The edge's response store: keys, Vary, ages and limits; no I/O.

Primary key: the public host and the request target (path and query), as
RFC 9111 §2 describes with the URI. Secondary key: the request headers named
by the response's Vary (§4.1), so ``Accept-Encoding: gzip`` and a client
without it get their own variants. The store is bounded (entries and bytes)
and forgets the least recently used first. Time comes from an injected clock.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property

from multidict import CIMultiDictProxy

from services.cdn.freshness import combined, freshness_lifetime, initial_age
from services.cdn.policy import vary_names

Headers = tuple[tuple[str, str], ...]
Key = tuple[str, str]

# Fields written afresh on every answer from an entry (respond.py): Age (RFC 9111
# §5.1), the edge's own X-Cache, and the lists each hop appends to (Cache-Status,
# RFC 9211 §2; Via, RFC 9110 §7.6.3).
PER_ANSWER = frozenset({"age", "x-cache", "cache-status", "via"})


def key(host: str, target: str) -> Key:
    """Host is case-insensitive (RFC 9110 §4.2.3); the target is compared as sent."""
    return host.lower(), target


def _normalize(value: str | None) -> str | None:
    """Whitespace around list members does not make a different variant (§4.1)."""
    if value is None:
        return None
    return ",".join(part.strip() for part in value.split(","))


def secondary_key(
    names: tuple[str, ...], request: Mapping[str, str]
) -> tuple[tuple[str, str | None], ...]:
    """The request's values for the Vary'd fields; repeated fields are combined with
    commas (RFC 9110 §5.3), names compared case-insensitively."""
    if not names:
        return ()
    values: dict[str, str] = {}
    for k, v in request.items():
        low = k.lower()
        if low in names:
            values[low] = f"{values[low]},{v}" if low in values else v
    return tuple((name, _normalize(values.get(name))) for name in names)


@dataclass(frozen=True)
class Entry:
    """A response as stored. Entries never change (a 304 makes a new one), so what is
    derived from the headers is worked out once, on first use, not on every hit."""

    status: int
    headers: Headers  # as received, hop-by-hop fields already removed
    body: bytes
    request_time: float
    response_time: float
    vary: tuple[tuple[str, str | None], ...]

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def header_map(self) -> CIMultiDictProxy[str]:
        """Headers for the rules, repeated fields combined (RFC 9110 §5.3)."""
        return self._header_map

    @cached_property
    def _header_map(self) -> CIMultiDictProxy[str]:
        return CIMultiDictProxy(combined(self.headers))

    @cached_property
    def vary_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.vary)

    @cached_property
    def initial_age(self) -> float:
        """Age on arrival (§4.2.3); the current age adds the time spent here."""
        return initial_age(
            self.header_map(), request_time=self.request_time, response_time=self.response_time
        )

    @cached_property
    def lifetime(self) -> float:
        """Freshness lifetime (§4.2.1), explicit or heuristic; 0 when there is none."""
        return (
            freshness_lifetime(
                self.header_map(), response_time=self.response_time, status=self.status
            )
            or 0.0
        )

    @cached_property
    def kept_headers(self) -> Headers:
        """The stored fields an answer repeats as they are: all but PER_ANSWER."""
        return tuple((n, v) for n, v in self.headers if n.lower() not in PER_ANSWER)

    @cached_property
    def prior(self) -> Mapping[str, str]:
        """Each PER_ANSWER field as received (repeated fields joined by ", "), for the
        answer to append to (Cache-Status, Via)."""
        out: dict[str, list[str]] = {}
        for n, v in self.headers:
            low = n.lower()
            if low in PER_ANSWER:
                out.setdefault(low, []).append(v)
        return {low: ", ".join(values) for low, values in out.items()}


@dataclass(frozen=True)
class Hit:
    entry: Entry
    age: float
    lifetime: float

    @property
    def ttl(self) -> float:
        """Seconds of freshness left; negative when stale (RFC 9211 §2.6)."""
        return self.lifetime - self.age


@dataclass
class Stats:
    hits: int = 0
    misses: int = 0
    stores: int = 0
    evictions: int = 0
    invalidations: int = 0


class Cache:
    def __init__(
        self,
        clock: Callable[[], float],
        *,
        max_entries: int = 1000,
        max_bytes: int = 64 * 2**20,
        max_object_bytes: int = 8 * 2**20,
    ) -> None:
        self.clock = clock
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.max_object_bytes = max_object_bytes
        self.stats = Stats()
        self._store: OrderedDict[Key, list[Entry]] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return sum(len(v) for v in self._store.values())

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def has_url(self, host: str, target: str) -> bool:
        """Any variant stored for this URL (tells a Vary miss from a URI miss)."""
        return bool(self._store.get(key(host, target)))

    def lookup(self, host: str, target: str, request: Mapping[str, str]) -> Hit | None:
        """The newest stored variant matching ``request`` (§4.1), with its age and lifetime."""
        k = key(host, target)
        for entry in reversed(self._store.get(k, [])):
            names = entry.vary_names
            if "*" not in names and secondary_key(names, request) == entry.vary:
                break
        else:
            return None
        self._store.move_to_end(k)
        return self.age_of(entry)

    def age_of(self, entry: Entry) -> Hit:
        # §4.2.3: current_age = corrected_initial_age + resident_time
        resident_time = max(0.0, self.clock() - entry.response_time)
        return Hit(entry, entry.initial_age + resident_time, entry.lifetime)

    def store(
        self,
        host: str,
        target: str,
        request: Mapping[str, str],
        *,
        status: int,
        headers: Headers,
        body: bytes,
        request_time: float,
        response_time: float,
    ) -> Entry | None:
        """Keep a response the caller found storable; None if it is too large to keep."""
        if len(body) > self.max_object_bytes:
            return None
        entry = Entry(
            status=status,
            headers=headers,
            body=body,
            request_time=request_time,
            response_time=response_time,
            vary=secondary_key(vary_names(combined(headers)), request),
        )
        self._put(key(host, target), entry)
        self.stats.stores += 1
        return entry

    def update(
        self,
        host: str,
        target: str,
        old: Entry,
        *,
        headers: Headers,
        request_time: float,
        response_time: float,
    ) -> Entry:
        """Freshen a stored response after validation (§4.3.4): new headers and times,
        same content; the old entry is replaced wherever it still is."""
        entry = dataclasses.replace(
            old, headers=headers, request_time=request_time, response_time=response_time
        )
        k = key(host, target)
        variants = self._store.get(k, [])
        if old in variants:
            variants[variants.index(old)] = entry
        return entry

    def _put(self, k: Key, entry: Entry) -> None:
        old = self._store.pop(k, [])
        self._bytes -= sum(len(e.body) for e in old)
        # A new response replaces the variant it matches (§4.3.3 spirit), keeps the others.
        variants = [e for e in old if e.vary != entry.vary] + [entry]
        self._store[k] = variants
        self._bytes += sum(len(e.body) for e in variants)
        self._evict()

    def _evict(self) -> None:
        while self._store and (len(self) > self.max_entries or self._bytes > self.max_bytes):
            _, victims = self._store.popitem(last=False)
            self._bytes -= sum(len(e.body) for e in victims)
            self.stats.evictions += len(victims)

    def purge(self, host: str, target: str) -> int:
        """Drop every variant of one URL; how many were dropped."""
        victims = self._store.pop(key(host, target), [])
        self._bytes -= sum(len(e.body) for e in victims)
        self.stats.invalidations += len(victims)
        return len(victims)

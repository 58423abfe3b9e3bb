"""The edge's response store: keys, Vary, ages and limits; no I/O.

Primary key: the public host and the request target (path and query), as
RFC 9111 §2 describes with the URI. Secondary key: the request headers named
by the response's Vary (§4.1), so ``Accept-Encoding: gzip`` and a client
without it get their own variants. The store is bounded (entries and bytes)
and forgets the least recently used first. Time comes from an injected clock.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from services.cdn.freshness import Decision, current_age, freshness_lifetime, usable

Headers = tuple[tuple[str, str], ...]


def key(host: str, target: str) -> tuple[str, str]:
    """Host is case-insensitive (RFC 9110 §4.2.3); the target is compared as sent."""
    return host.lower(), target


def _normalize(value: str | None) -> str | None:
    """Whitespace around list members does not make a different variant (§4.1)."""
    if value is None:
        return None
    return ",".join(part.strip() for part in value.split(","))


def vary_names(response: Mapping[str, str]) -> tuple[str, ...]:
    names = {n.strip().lower() for n in response.get("Vary", "").split(",") if n.strip()}
    return tuple(sorted(names))


def secondary_key(names: tuple[str, ...], request: Mapping[str, str]
                  ) -> tuple[tuple[str, str | None], ...]:
    """The request's values for the Vary'd fields; repeated fields are combined with
    commas (RFC 9110 §5.3), names compared case-insensitively."""
    combined: dict[str, str] = {}
    for k, v in request.items():
        if k.lower() in names:
            combined[k.lower()] = f"{combined[k.lower()]},{v}" if k.lower() in combined else v
    return tuple((name, _normalize(combined.get(name))) for name in names)


@dataclass(frozen=True)
class Entry:
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

    def header_map(self) -> dict[str, str]:
        """Headers for the freshness rules (the first of repeated fields is enough there)."""
        out: dict[str, str] = {}
        for k, v in self.headers:
            out.setdefault(k.title(), v)
        return out


@dataclass(frozen=True)
class Hit:
    entry: Entry
    age: float
    decision: Decision


@dataclass
class Stats:
    hits: int = 0
    misses: int = 0
    stores: int = 0
    evictions: int = 0


class Cache:
    def __init__(self, clock: Callable[[], float], *, max_entries: int = 1000,
                 max_bytes: int = 64 * 2**20, max_object_bytes: int = 8 * 2**20) -> None:
        self.clock = clock
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.max_object_bytes = max_object_bytes
        self.stats = Stats()
        self._store: OrderedDict[tuple[str, str], list[Entry]] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return sum(len(v) for v in self._store.values())

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def lookup(self, host: str, target: str, request: Mapping[str, str]) -> Hit | None:
        """The stored variant matching ``request``, with its age and whether it may be used.

        None when nothing matches; a Hit whose decision is not ok when the stored
        response is stale or the request refuses it.
        """
        k = key(host, target)
        variants = self._store.get(k)
        if not variants:
            return None
        for entry in variants:
            names = tuple(name for name, _ in entry.vary)
            if secondary_key(names, request) == entry.vary:
                break
        else:
            return None
        self._store.move_to_end(k)
        headers = entry.header_map()
        age = current_age(headers, request_time=entry.request_time,
                          response_time=entry.response_time, now=self.clock())
        lifetime = freshness_lifetime(headers, response_time=entry.response_time) or 0.0
        return Hit(entry, age, usable(request, age=age, lifetime=lifetime))

    def store(self, host: str, target: str, request: Mapping[str, str], *, status: int,
              headers: Headers, body: bytes, request_time: float,
              response_time: float) -> Entry | None:
        """Keep a response the caller found storable; None if it is too large to keep."""
        if len(body) > self.max_object_bytes:
            return None
        response = {k.title(): v for k, v in reversed(headers)}
        entry = Entry(status=status, headers=headers, body=body, request_time=request_time,
                      response_time=response_time,
                      vary=secondary_key(vary_names(response), request))
        k = key(host, target)
        old = self._store.pop(k, [])
        self._bytes -= sum(len(e.body) for e in old)
        # A new response replaces the variant it matches (§4.3.3 spirit), keeps the others.
        variants = [e for e in old if e.vary != entry.vary] + [entry]
        self._store[k] = variants
        self._bytes += sum(len(e.body) for e in variants)
        self.stats.stores += 1
        self._evict()
        return entry

    def _evict(self) -> None:
        while self._store and (len(self) > self.max_entries or self._bytes > self.max_bytes):
            _, victims = self._store.popitem(last=False)
            self._bytes -= sum(len(e.body) for e in victims)
            self.stats.evictions += len(victims)

    def purge(self, host: str, target: str) -> int:
        """Drop every variant of one URL; how many were dropped."""
        victims = self._store.pop(key(host, target), [])
        self._bytes -= sum(len(e.body) for e in victims)
        return len(victims)

"""The packed-reply cache both DNS servers answer repeated queries from.

The key is a query's bytes after its 2-byte ID, in one table per transport
(a UDP reply may be truncated, a TCP one not). The ID is the only field a
reply copies that differs between identical questions (RFC 1035 §4.1.1);
flags, the question's case and the EDNS size are all in the key, so a hit
needs no parsing: the caller sends ``wire[:2] + hit.tail``, the stored reply
under the new query's ID. A table that reaches its size bound is emptied at
once rather than evicted entry by entry, so the hot path keeps no
bookkeeping. ``max_age``, if set, bounds how long an entry may be reused
(the resolver's replies carry TTLs that count down); without it an entry
lasts until ``clear()`` or the size bound.

Time is passed in (``now``) rather than read here: the cache is plain data,
and each caller reads its own clock only when it needs to.
"""

from __future__ import annotations

from typing import Any

WIRE_CACHE_SIZE = 4096  # distinct query byte strings remembered per transport
TRANSPORTS = ("udp", "tcp")


class Packed:
    """A stored reply: when it was packed, everything after its ID, the query log's fields."""

    __slots__ = ("fields", "stored", "tail")

    def __init__(self, stored: float, data: bytes, fields: dict[str, Any]) -> None:
        self.stored = stored
        self.tail = data[2:]
        self.fields = fields


class WireCache:
    """Packed replies by (transport, query bytes after the ID)."""

    def __init__(self, max_age: float | None = None, size: int = WIRE_CACHE_SIZE) -> None:
        self.max_age = max_age
        self.size = size
        self._tables: dict[str, dict[bytes, Packed]] = {proto: {} for proto in TRANSPORTS}

    def get(self, wire: bytes, proto: str, now: float) -> Packed | None:
        """The reply stored for these query bytes, unless it is ``max_age`` old or more."""
        hit = self._tables[proto].get(wire[2:])
        if hit is None or self.max_age is None or now - hit.stored < self.max_age:
            return hit
        return None

    def put(self, wire: bytes, proto: str, data: bytes, fields: dict[str, Any], now: float) -> None:
        """Remember ``data`` (a whole packed reply) as the answer to the query ``wire``."""
        table = self._tables[proto]
        if len(table) >= self.size:
            table.clear()
        table[wire[2:]] = Packed(now, data, fields)

    def clear(self) -> None:
        """Forget every stored reply (the data they were packed from has changed)."""
        for table in self._tables.values():
            table.clear()

"""How the edge says what it did: X-Cache and the standard Cache-Status (RFC 9211)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

CACHE_NAME = "weblab-edge"
# §2.8 detail of an answer the edge made itself (its own errors): neither a stored
# response nor one from upstream, whatever fwd says about the attempt.
GENERATED = "edge-generated"


@dataclass(frozen=True)
class Outcome:
    x_cache: str  # HIT, MISS, STALE, REVALIDATED, BYPASS
    hit: bool = False  # §2.1: served from cache without going upstream
    fwd: str | None = None  # §2.2: uri-miss, vary-miss, stale, request, bypass
    fwd_status: int | None = None  # §2.3
    ttl: float | None = None  # §2.4
    stored: bool = False  # §2.5
    collapsed: bool = False  # §2.6
    detail: str | None = None  # §2.8

    def header(self) -> str:
        """The Cache-Status member for this cache (§2), e.g. ``weblab-edge; hit; ttl=42``."""
        return self._header

    @cached_property
    def _header(self) -> str:
        params = [CACHE_NAME]
        if self.hit:
            params.append("hit")
        if self.fwd:
            params.append(f"fwd={self.fwd}")
        if self.fwd_status is not None:
            params.append(f"fwd-status={self.fwd_status}")
        if self.ttl is not None:
            params.append(f"ttl={int(self.ttl)}")
        if self.stored:
            params.append("stored")
        if self.collapsed:
            params.append("collapsed")
        if self.detail:
            params.append(f'detail="{self.detail}"')
        return "; ".join(params)

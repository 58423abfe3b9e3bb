"""Choosing among a route's upstreams: round-robin over the healthy ones; no I/O.

Health is learnt two ways, as real load balancers do: actively (the edge's
prober GETs a health path every few seconds and reports here) and passively
(a connection failure marks the upstream down at once, and the request moves
on to the next one). A down upstream is still tried last, after every
healthy one, so a route whose upstreams are all marked down still gets a
real attempt rather than an instant 502; with no active probing a down mark
also expires after ``retry_after`` seconds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from yarl import URL

from services.cdn.routing import label


@dataclass
class Upstream:
    url: URL
    healthy: bool = True
    down_since: float | None = None
    reason: str = ""

    @property
    def label(self) -> str:
        return label(self.url)


class Pool:
    def __init__(
        self, urls: Iterable[URL], clock: Callable[[], float], *, retry_after: float = 30.0
    ) -> None:
        self.members = [Upstream(u) for u in urls]
        self.clock = clock
        self.retry_after = retry_after
        self._next = 0

    def _up(self, member: Upstream) -> bool:
        if member.healthy:
            return True
        assert member.down_since is not None
        return self.clock() - member.down_since >= self.retry_after

    def order(self) -> list[Upstream]:
        """Upstreams to try for one request: healthy ones from the round-robin position,
        then the ones marked down."""
        n = len(self.members)
        start = self._next % n
        self._next = (start + 1) % n
        rotated = self.members[start:] + self.members[:start]
        return [m for m in rotated if self._up(m)] + [m for m in rotated if not self._up(m)]

    def mark_down(self, member: Upstream, reason: str) -> None:
        member.healthy = False
        member.down_since = self.clock()
        member.reason = reason

    def mark_up(self, member: Upstream) -> None:
        member.healthy, member.down_since, member.reason = True, None, ""

    def status(self) -> list[dict[str, object]]:
        return [
            {
                "upstream": str(m.url),
                "healthy": self._up(m),
                **({"reason": m.reason} if m.reason else {}),
            }
            for m in self.members
        ]

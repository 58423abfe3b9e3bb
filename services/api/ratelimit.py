"""A token bucket per bearer token: the 429 Too Many Requests (RFC 6585 §4) demo.

Each key gets ``burst`` requests at once, refilled at ``rate`` per second.
Pure: the clock is passed in, so tests need no waiting.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class _Bucket:
    tokens: float
    stamp: float


@dataclass
class RateLimiter:
    rate: float  # tokens per second; 0 disables the limit
    burst: int
    clock: Callable[[], float]
    max_keys: int = 10_000  # bound memory: forget the stalest buckets beyond this
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    def check(self, key: str) -> int | None:
        """None when the request may proceed, else the Retry-After in whole seconds."""
        if self.rate <= 0:
            return None
        now = self.clock()
        bucket = self._buckets.pop(key, None) or _Bucket(tokens=float(self.burst), stamp=now)
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.stamp) * self.rate)
        bucket.stamp = now
        self._buckets[key] = bucket  # re-inserted last: dict order is recency order
        if len(self._buckets) > self.max_keys:
            del self._buckets[next(iter(self._buckets))]
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return None
        # Retry-After is delay-seconds, an integer (RFC 9110 §10.2.3): round up.
        return max(1, math.ceil((1 - bucket.tokens) / self.rate))

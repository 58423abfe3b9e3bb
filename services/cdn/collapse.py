"""Collapsed forwarding: concurrent misses for one key make one upstream request.

The first request for a key leads and goes upstream; the others wait for it to
finish and then look in the cache again, as nginx's proxy_cache_lock and
Varnish's waiting list do (RFC 9111 §4 allows a cache to wait for a response
it is already fetching). A waiter that still finds nothing usable (the
response was not storable, or varies on something else) goes upstream itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable, Iterator
from contextlib import contextmanager


class Collapser:
    def __init__(self) -> None:
        self._flights: dict[Hashable, asyncio.Event] = {}
        self._waiting: dict[Hashable, int] = {}

    def waiting(self, key: Hashable) -> int:
        """How many requests are waiting on ``key`` (for health output and tests)."""
        return self._waiting.get(key, 0)

    def in_flight(self, key: Hashable) -> asyncio.Event | None:
        return self._flights.get(key)

    @contextmanager
    def lead(self, key: Hashable) -> Iterator[None]:
        """Mark ``key`` as being fetched; waiters are released when the block ends."""
        done = asyncio.Event()
        self._flights[key] = done
        try:
            yield
        finally:
            if self._flights.get(key) is done:
                del self._flights[key]
            done.set()

    async def wait(self, key: Hashable, timeout: float) -> bool:
        """Wait for the fetch of ``key`` in flight, if any; False when there was none."""
        done = self._flights.get(key)
        if done is None:
            return False
        self._waiting[key] = self._waiting.get(key, 0) + 1
        try:
            await asyncio.wait_for(done.wait(), timeout)
        except TimeoutError:
            pass
        finally:
            self._waiting[key] -= 1
            if not self._waiting[key]:
                del self._waiting[key]
        return True

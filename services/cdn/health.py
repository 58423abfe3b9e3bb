"""Active health checks: GET a health path on every upstream, every few seconds.

Any 2xx marks the upstream up; another status, a timeout or a failed
connection marks it down (upstreams.py keeps the state and the passive checks).
The checks have a session and connections of their own: they must not keep
warm the connections that client requests use, nor be mistaken for them in a
capture.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import aiohttp
from yarl import URL

from services.cdn.upstreams import Pool
from services.common.logs import log_event

logger = logging.getLogger(__name__)


async def check(session: aiohttp.ClientSession, url: URL, timeout: float) -> tuple[bool, str]:
    """One health check: (healthy, why not)."""
    try:
        async with session.get(
            url, timeout=aiohttp.ClientTimeout(total=timeout), allow_redirects=False
        ) as response:
            await response.read()
            return 200 <= response.status < 300, f"health check status {response.status}"
    except (aiohttp.ClientError, TimeoutError) as e:
        return False, f"health check failed: {type(e).__name__}: {e}"


def record(pools: Sequence[Pool], url: URL, ok: bool, reason: str) -> None:
    """Apply one check's result to that upstream in every route that uses it."""
    for pool in pools:
        for member in pool.members:
            if member.url != url:
                continue
            was = member.healthy
            if ok:
                pool.mark_up(member)
            else:
                pool.mark_down(member, reason)
            if was != ok:
                log_event(
                    logger,
                    "upstream_health",
                    upstream=member.label,
                    healthy=ok,
                    reason="" if ok else reason,
                )


async def probe_forever(
    session: aiohttp.ClientSession, pools: Sequence[Pool], path: str, interval: float
) -> None:
    """Check each distinct upstream once every ``interval`` seconds until cancelled.

    Several routes often share an upstream (www and static on the same origins):
    it is checked once and the result applies to every route.
    """
    urls = list(dict.fromkeys(m.url for pool in pools for m in pool.members))
    timeout = max(interval, 1.0)
    while True:
        results = await asyncio.gather(*(check(session, u.join(URL(path)), timeout) for u in urls))
        for url, (ok, reason) in zip(urls, results, strict=False):
            record(pools, url, ok, reason)
        await asyncio.sleep(interval)

"""Active health checks: GET a health path on every upstream, every few seconds.

Any 2xx marks the upstream up; another status, a timeout or a failed
connection marks it down (upstreams.py keeps the state and the passive checks).
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp
from yarl import URL

from services.cdn.upstreams import Pool, Upstream
from services.common.logs import log_event

logger = logging.getLogger(__name__)


async def probe(session: aiohttp.ClientSession, pool: Pool, member: Upstream, path: str,
                timeout: float) -> None:
    url = member.url.join(URL(path))
    was = member.healthy
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=timeout),
                               allow_redirects=False) as response:
            await response.read()
            ok, reason = 200 <= response.status < 300, f"health check status {response.status}"
    except (aiohttp.ClientError, TimeoutError) as e:
        ok, reason = False, f"health check failed: {type(e).__name__}: {e}"
    if ok:
        pool.mark_up(member)
    else:
        pool.mark_down(member, reason)
    if was != ok:
        log_event(logger, "upstream_health", upstream=member.label, healthy=ok,
                  reason="" if ok else reason)


async def probe_forever(session: aiohttp.ClientSession, pool: Pool, path: str,
                        interval: float) -> None:
    """Probe every member of ``pool`` each ``interval`` seconds until cancelled."""
    while True:
        await asyncio.gather(*(probe(session, pool, m, path, timeout=max(interval, 1.0))
                               for m in pool.members))
        await asyncio.sleep(interval)

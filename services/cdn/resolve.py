"""Upstream name resolution with curl-style pins (``--resolve HOST:PORT:ADDR``).

Pinned (name, port) pairs answer from the table; every other name goes to the
system resolver, which in the lab is the lab's own recursive resolver.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver


class PinnedResolver(AbstractResolver):
    def __init__(self, pins: Mapping[tuple[str, int], str]) -> None:
        self._pins = dict(pins)
        self._fallback = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        address = self._pins.get((host.lower().rstrip("."), port))
        if address is None:
            return await self._fallback.resolve(host, port, family)
        fam = socket.AF_INET6 if ":" in address else socket.AF_INET
        return [
            ResolveResult(
                hostname=host,
                host=address,
                port=port,
                family=fam,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
        ]

    async def close(self) -> None:
        await self._fallback.close()

"""A one-shot UDP client for the DNS servers' functional tests (dig-like, no retries)."""

from __future__ import annotations

import asyncio

DEADLINE = 5.0


async def udp_exchange(port: int, data: bytes, *more: bytes, deadline: float = DEADLINE) -> bytes:
    """Send DATA (and MORE, from the same socket) to 127.0.0.1:PORT; return the first
    datagram that comes back."""
    loop = asyncio.get_running_loop()
    got: asyncio.Future[bytes] = loop.create_future()

    class Client(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            if not got.done():
                got.set_result(data)

    transport, _ = await loop.create_datagram_endpoint(Client, remote_addr=("127.0.0.1", port))
    try:
        for datagram in (data, *more):
            transport.sendto(datagram)
        return await asyncio.wait_for(got, deadline)
    finally:
        transport.close()

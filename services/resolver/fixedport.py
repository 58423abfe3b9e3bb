"""The weakened mode: every upstream query from one fixed source port.

This exists only to demonstrate RFC 5452. A resolver that sends all its
queries from one port (as most did before 2008) leaves the 16-bit ID as the
only secret: each forged answer that lands before the real one wins with
odds of 1 in 65,536, not about 1 in 2^32 with a random port as well (§9.2).
Off by default; turned on only by the ``weaken`` control command.

One unconnected socket serves every query while the mode is on, and replies
are dispatched by (source address, source port, ID). Why not one connected
socket per query bound to the same port with SO_REUSEPORT: Linux lets two
such sockets connect to the same server (no EADDRINUSE), and then delivers
every reply for that 4-tuple to only one of them, so the other query would
time out silently. Two queries to the same server in flight here never
share an ID (a fresh one is drawn), so each gets its own answer.

What this mode gives up besides the random port: an unconnected socket gets
no ICMP port-unreachable, so a dead server is a timeout, not an error.

The socket is read until it is empty on each wakeup (up to DRAIN datagrams),
not one datagram per turn of the event loop as asyncio's datagram transport
does: under a flood of forgeries that is the difference between reading
every one of them and letting the kernel drop most (as a real resolver,
which reads in batches, would not).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
from collections import Counter
from dataclasses import dataclass

from dnslib import DNSRecord

from services.resolver.replies import HEADER, QR, Ignored, ReplyCounters

Key = tuple[str, int, int]  # server address, server port, query ID
DRAIN = 4096  # datagrams read per wakeup at most, so other work still gets its turn


@dataclass
class _Waiter:
    request: DNSRecord
    done: asyncio.Future[DNSRecord]


class SharedPort:
    """One socket bound to ``port``; queries register (server, ID) and wait for their reply."""

    def __init__(self, address: str, port: int, counters: ReplyCounters, rcvbuf: int) -> None:
        self.port = port
        self.counters = counters
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            if rcvbuf:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            self.sock.bind((address, port))
            self.rcvbuf = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        except OSError:
            self.sock.close()
            raise
        self.sock.setblocking(False)
        self._reading = False
        self._waiting: dict[Key, _Waiter] = {}
        self._servers: Counter[tuple[str, int]] = Counter()  # queries in flight per server
        self.closed = False

    async def ready(self) -> None:
        """Start reading the bound socket, once, however many queries ask."""
        if not self._reading and not self.closed:
            asyncio.get_running_loop().add_reader(self.sock.fileno(), self._drain)
            self._reading = True

    def _drain(self) -> None:
        for _ in range(DRAIN):
            try:
                data, addr = self.sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return  # an ICMP error queued on the socket: not one query's
            self.datagram_received(data, addr)

    async def ask(self, peer: tuple[str, int], request: DNSRecord, timeout: float) -> DNSRecord:
        """Send ``request`` to ``peer`` from the fixed port and wait for its reply."""
        await self.ready()
        if self.closed:  # the mode changed while the socket was being handed over
            raise OSError("the weakened mode was changed")
        while (peer[0], peer[1], request.header.id) in self._waiting:
            request.header.id = secrets.randbelow(65536)  # IDs stay unique per server
        key = (peer[0], peer[1], int(request.header.id))
        waiter = _Waiter(request, asyncio.get_running_loop().create_future())
        self._waiting[key] = waiter
        self._servers[peer] += 1
        try:
            self.sock.sendto(request.pack(), peer)
            return await asyncio.wait_for(asyncio.shield(waiter.done), timeout)
        finally:
            del self._waiting[key]
            self._servers[peer] -= 1
            if not self._servers[peer]:
                del self._servers[peer]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        # The ID pre-check: a dict lookup on (source, ID) before any parsing.
        qid = int.from_bytes(data[:2], "big") if len(data) >= HEADER else -1
        waiter = self._waiting.get((addr[0], addr[1], qid))
        if waiter is None or waiter.done.done() or not data[2] & QR:
            if (addr[0], addr[1]) in self._servers:
                self.counters.count(Ignored.ID)
            else:
                self.counters.count(Ignored.SOURCE)
            return
        self.counters.settle(waiter.request, data, waiter.done)

    def close(self) -> None:
        """Close the socket; queries still waiting fail at once."""
        self.closed = True
        for waiter in self._waiting.values():
            if not waiter.done.done():
                waiter.done.set_exception(OSError("the weakened mode was changed"))
                # Retrieved by ask(); mark it so a cancelled ask leaves no warning.
                waiter.done.exception()
        if self._reading:
            with contextlib.suppress(RuntimeError):  # no loop running: nothing reads it
                asyncio.get_running_loop().remove_reader(self.sock.fileno())
            self._reading = False
        # Release the port now, so "weaken off" then "weaken" on the same port binds.
        self.sock.close()

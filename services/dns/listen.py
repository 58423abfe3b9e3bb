"""Thin asyncio UDP and TCP listeners for DNS, shared by both DNS servers.

A handler turns request bytes into reply bytes (or None to stay silent);
this module only moves bytes. TCP uses the 2-byte length prefix of
RFC 1035 §4.2.2 and keeps a connection open for several queries (RFC 7766
§6.2.1), closing it after an idle period.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import cast

from services.common.logs import log_event

logger = logging.getLogger(__name__)

Address = tuple[str, int]
Handler = Callable[[bytes, Address, str], Awaitable[bytes | None]]

TCP_IDLE_TIMEOUT = 10.0  # seconds; RFC 7766 §6.2.3 suggests "at least a few seconds"


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.transport: asyncio.DatagramTransport | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Address) -> None:
        # Each query runs as its own task: a slow recursive lookup must not
        # hold up the next client's cached answer.
        task = asyncio.ensure_future(self._serve(data, (addr[0], addr[1])))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def error_received(self, exc: Exception) -> None:
        # ICMP errors about earlier replies; nothing to do but note them.
        log_event(logger, "udp_error", error=str(exc))

    async def _serve(self, data: bytes, addr: Address) -> None:
        try:
            reply = await self.handler(data, addr, "udp")
        except Exception:  # a bug in one query must not stop the server
            logger.exception("handler failed", extra={"event": "handler_error"})
            return
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)


async def _serve_tcp(handler: Handler, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter, tasks: set[asyncio.Task[None]]) -> None:
    task = asyncio.current_task()
    if task is not None:  # remembered so that closing the listener can end it
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    peer = writer.get_extra_info("peername") or ("?", 0)
    addr: Address = (str(peer[0]), int(peer[1]))
    try:
        while True:
            try:
                prefix = await asyncio.wait_for(reader.readexactly(2), TCP_IDLE_TIMEOUT)
                (length,) = struct.unpack("!H", prefix)
                data = await asyncio.wait_for(reader.readexactly(length), TCP_IDLE_TIMEOUT)
            except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
                return
            try:
                reply = await handler(data, addr, "tcp")
            except Exception:
                logger.exception("handler failed", extra={"event": "handler_error"})
                return
            if reply is None:
                return  # nothing sensible to say: close, as for an unparseable stream
            writer.write(struct.pack("!H", len(reply)) + reply)
            await writer.drain()
    except ConnectionError:
        return
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


@dataclass
class Listener:
    """A bound UDP socket and TCP server on the same address and port."""

    host: str
    port: int
    udp: asyncio.DatagramTransport
    tcp: asyncio.Server
    protocol: _UdpProtocol = field(repr=False)
    connections: set[asyncio.Task[None]] = field(default_factory=set, repr=False)

    async def close(self) -> None:
        """Stop accepting queries and wait for the TCP server to close."""
        self.udp.close()
        self.tcp.close()
        pending = [*self.protocol.tasks, *self.connections]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await self.tcp.wait_closed()


async def listen(handler: Handler, host: str, port: int) -> Listener:
    """Bind UDP and TCP on ``host:port``; port 0 picks one free for both."""
    loop = asyncio.get_running_loop()
    attempts = 20 if port == 0 else 1
    for attempt in range(attempts):
        protocol = _UdpProtocol(handler)
        connections: set[asyncio.Task[None]] = set()
        udp, _ = await loop.create_datagram_endpoint(lambda: protocol, local_addr=(host, port))
        bound = int(udp.get_extra_info("sockname")[1])
        try:
            tcp = await asyncio.start_server(
                lambda r, w: _serve_tcp(handler, r, w, connections), host, bound,
                reuse_address=True,
            )
        except OSError as e:
            udp.close()
            # With port 0 the UDP port may be taken for TCP: try another one.
            if e.errno != errno.EADDRINUSE or attempt == attempts - 1:
                raise
            continue
        return Listener(host, bound, udp, tcp, protocol, connections)
    raise OSError(errno.EADDRINUSE, "no port free for both UDP and TCP")

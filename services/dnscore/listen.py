"""Thin asyncio UDP and TCP listeners for DNS, shared by both DNS servers.

A handler turns request bytes into reply bytes (or None to stay silent);
this module only moves bytes. TCP uses the 2-byte length prefix of
RFC 1035 §4.2.2 and keeps a connection open for several queries (RFC 7766
§6.2.1), answers pipelined queries concurrently (§6.2.1.1), closes a
connection after an idle period (§6.2.3) and caps simultaneous connections
(§6.2.2).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import logging
import struct
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, cast

from services.common.logs import log_event

logger = logging.getLogger(__name__)

Address = tuple[str, int]
Handler = Callable[[bytes, Address, str], Awaitable[bytes | None]]
# Answers from a cache synchronously, or None to hand the query to the Handler.
FastPath = Callable[[bytes, Address, str], bytes | None]

TCP_IDLE_TIMEOUT = 10.0  # seconds; RFC 7766 §6.2.3 suggests "at least a few seconds"
TCP_MAX_CONNECTIONS = 128  # simultaneous TCP clients (RFC 7766 §6.2.2)
TCP_MAX_INFLIGHT = 32  # pipelined queries in progress on one connection


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, handler: Handler, fast: FastPath | None = None) -> None:
        self.handler = handler
        self.fast = fast
        self.transport: asyncio.DatagramTransport | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Address) -> None:
        # A cached answer goes out at once: no task, no coroutine (most of
        # the per-query cost at high rates).
        if self.fast is not None and self.transport is not None:
            try:
                reply = self.fast(data, addr, "udp")
            except Exception:  # a bug in one query must not stop the server
                logger.exception("fast path failed", extra={"event": "handler_error"})
                reply = None
            if reply is not None:
                self.transport.sendto(reply, addr)
                return
        # Otherwise each query runs as its own task: a slow recursive lookup
        # must not hold up the next client's cached answer.
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


@dataclass
class TcpPolicy:
    """RFC 7766 §6.2 resource limits for TCP clients."""

    idle_timeout: float = TCP_IDLE_TIMEOUT
    max_connections: int = TCP_MAX_CONNECTIONS
    max_inflight: int = TCP_MAX_INFLIGHT


async def _answer_one(
    handler: Handler, data: bytes, addr: Address, writer: asyncio.StreamWriter, lock: asyncio.Lock
) -> None:
    try:
        reply = await handler(data, addr, "tcp")
    except Exception:
        logger.exception("handler failed", extra={"event": "handler_error"})
        return
    if reply is None:
        writer.close()  # nothing sensible to say: close, as for an unparseable stream
        return
    async with lock:  # one whole message at a time on the stream
        writer.write(struct.pack("!H", len(reply)) + reply)
        await writer.drain()


async def _serve_tcp(
    handler: Handler,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    tasks: set[asyncio.Task[None]],
    policy: TcpPolicy,
) -> None:
    task = asyncio.current_task()
    peer = writer.get_extra_info("peername") or ("?", 0)
    addr: Address = (str(peer[0]), int(peer[1]))
    if len(tasks) >= policy.max_connections:
        # RFC 7766 §6.2.2: a server may refuse connections beyond what it can
        # serve; closing at once frees the client to retry elsewhere.
        log_event(logger, "tcp_refused", client=addr[0], connections=len(tasks))
        writer.close()
        return
    if task is not None:  # remembered so that closing the listener can end it
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    lock = asyncio.Lock()
    inflight: set[asyncio.Task[None]] = set()
    try:
        while True:
            try:
                prefix = await asyncio.wait_for(reader.readexactly(2), policy.idle_timeout)
                (length,) = struct.unpack("!H", prefix)
                data = await asyncio.wait_for(reader.readexactly(length), policy.idle_timeout)
            except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
                break
            # RFC 7766 §6.2.1.1: pipelined queries are processed concurrently
            # and answered as each is ready (clients match replies by ID).
            one = asyncio.ensure_future(_answer_one(handler, data, addr, writer, lock))
            inflight.add(one)
            one.add_done_callback(inflight.discard)
            if len(inflight) >= policy.max_inflight:
                await asyncio.wait(inflight, return_when=asyncio.FIRST_COMPLETED)
        if inflight:
            await asyncio.gather(*inflight, return_exceptions=True)
    except (ConnectionError, asyncio.CancelledError):
        # Cancelled by Listener.close: end quietly, since asyncio's stream
        # callback reports a cancelled handler task as an error.
        for one in inflight:
            one.cancel()
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
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


async def listen(
    handler: Handler,
    host: str,
    port: int,
    tcp_policy: TcpPolicy | None = None,
    fast: FastPath | None = None,
) -> Listener:
    """Bind UDP and TCP on ``host:port``; port 0 picks one free for both.

    ``fast``, if given, is tried first for each UDP query, synchronously.
    """
    policy = tcp_policy or TcpPolicy()
    loop = asyncio.get_running_loop()
    attempts = 20 if port == 0 else 1
    for attempt in range(attempts):
        # Factories made with partial, not closures over the loop's variables:
        # the TCP callback outlives this iteration.
        udp, protocol = await loop.create_datagram_endpoint(
            functools.partial(_UdpProtocol, handler, fast), local_addr=(host, port)
        )
        bound = int(udp.get_extra_info("sockname")[1])
        connections: set[asyncio.Task[None]] = set()
        try:
            tcp = await asyncio.start_server(
                functools.partial(_serve_tcp, handler, tasks=connections, policy=policy),
                host,
                bound,
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


def run(main: Coroutine[Any, Any, None]) -> None:
    """Run the server's main coroutine, on uvloop when it is installed (faster I/O)."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
        return
    uvloop.run(main)

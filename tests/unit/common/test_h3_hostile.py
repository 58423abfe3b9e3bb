"""Hostile datagrams at the HTTP/3 port: garbage, truncated and replayed Initials, a flood.

Each kind is sent from raw UDP sockets, then aioquic's own client must still be
served: a QUIC server on a public port meets all of these (RFC 9000 section 21).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import QuicConnection

from services.common.h3server import H3Site

from .test_h3server import HOST, Client, Site, client, make_app


def _initial(site: Site) -> bytes:
    """A real client's first datagram (its Initial with the ClientHello), never sent by it."""
    config = QuicConfiguration(is_client=True, alpn_protocols=["h3"], server_name=HOST)
    config.load_verify_locations(str(site.ca))
    quic = QuicConnection(configuration=config)
    quic.connect(("127.0.0.1", site.h3.port), now=time.time())
    (datagram, _addr), *_ = quic.datagrams_to_send(now=time.time())
    return datagram


async def _blast(site: Site, datagrams: list[bytes], sockets: int = 1) -> None:
    """Send DATAGRAMS round-robin from SOCKETS fresh UDP sockets, then let the server read."""
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(sockets)]
    try:
        for i, d in enumerate(datagrams):
            socks[i % sockets].sendto(d, ("127.0.0.1", site.h3.port))
            if i % 50 == 49:
                await asyncio.sleep(0)  # let the server's loop drain its socket
        await asyncio.sleep(0.2)
    finally:
        for s in socks:
            s.close()


async def _still_serves(site: Site) -> None:
    async with client(site) as conn:
        assert isinstance(conn, Client)
        reply = await conn.request("GET", "/")
    assert reply.status == 200


async def test_random_bytes(site: Site) -> None:
    """500 datagrams of random bytes, 1 to 1,400 long: ignored, the next client is served."""
    await _blast(site, [os.urandom(1 + (i * 37) % 1400) for i in range(500)], sockets=5)
    await _still_serves(site)


async def test_truncated_initials(site: Site) -> None:
    """A real Initial cut short at 20 lengths: undecryptable, dropped, no connection made."""
    initial = _initial(site)
    before = len(site.h3.connections)
    await _blast(site, [initial[:n] for n in range(20, 1200, 60)])
    assert len(site.h3.connections) == before
    await _still_serves(site)


async def test_short_initial_is_refused(site: Site) -> None:
    """An Initial in a datagram under 1,200 bytes opens nothing (RFC 9000 section 14.1)."""
    initial = _initial(site)
    assert len(initial) >= 1200
    before = len(site.h3.connections)
    await _blast(site, [initial[:1199]])
    assert len(site.h3.connections) == before


async def test_replayed_initial(site: Site) -> None:
    """One Initial replayed 20 times from one address: at most one connection, still serving."""
    initial = _initial(site)
    before = len(site.h3.connections)
    await _blast(site, [initial] * 20)
    assert len(site.h3.connections) - before <= 1
    await _still_serves(site)


async def test_bounded_flood_of_new_connections(site: Site) -> None:
    """200 handshakes begun and abandoned: the server answers what it reads, still serves."""
    initials = [_initial(site) for _ in range(200)]
    before = len(site.h3.connections)
    t0 = time.monotonic()
    await _blast(site, initials, sockets=20)
    # Each Initial the server reads costs it a handshake's CPU; those it has no time
    # for overflow the socket's buffer and the kernel drops them (68 of 200 read here).
    assert len(site.h3.connections) - before >= 10
    await _still_serves(site)
    assert time.monotonic() - t0 < 30


@pytest.fixture
async def retry_site(certs: Path, tmp_path: Path) -> AsyncIterator[Site]:
    """The same app over HTTP/3 with address validation: a Retry for every tokenless Initial."""
    app = make_app()
    runner = web.AppRunner(app)
    await runner.setup()
    h3 = H3Site(runner, "127.0.0.1", 0, certs / "origin.crt", certs / "origin.key",
                logging.getLogger("test.h3"), env={}, retry=True)  # fmt: skip
    await h3.start()
    yield Site(app, h3, 0, certs / "ca.crt", tmp_path / "keys.log")
    await h3.stop()
    await runner.cleanup()


async def test_retry_holds_no_state_for_a_flood(retry_site: Site) -> None:
    """With Retry on, 200 Initials without a token (a spoofed flood never sends the token
    back) open no connection at all, where the default server held at least 10; a real
    client follows the Retry and is served, its handshake one round trip longer."""
    initials = [_initial(retry_site) for _ in range(200)]
    await _blast(retry_site, initials, sockets=20)
    assert len(retry_site.h3.connections) == 0
    async with client(retry_site) as conn:
        assert isinstance(conn, Client)
        reply = await conn.request("GET", "/")
        assert reply.status == 200
        # The client took the Retry's token: its connection names the Retry's source CID.
        assert conn._quic._retry_source_connection_id is not None

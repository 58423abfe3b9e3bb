"""The plain-HTTP listener on a real socket: 301 to https with the same host and path."""

from __future__ import annotations

import socket

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from services.common.httpserver import plain_listener
from services.common.redirect import make_redirect_app


async def test_plain_http_redirects() -> None:
    """GET http://www.example.com/a?b=1 -> 301 Location https://www.example.com/a?b=1."""
    server = TestServer(make_redirect_app(), host="127.0.0.1", port=0)
    await server.start_server()
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(
                f"http://127.0.0.1:{server.port}/a?b=1",
                allow_redirects=False,
                headers={"Host": "www.example.com"},
            ) as resp,
        ):
            assert resp.status == 301
            assert resp.headers["Location"] == "https://www.example.com/a?b=1"
            assert "Strict-Transport-Security" not in resp.headers  # RFC 6797 §7.2
    finally:
        await server.close()


async def test_plain_listener_runs_beside_the_main_app() -> None:
    """httpserver.plain_listener starts the redirector with the main app and stops with it."""
    with socket.socket() as probe:  # a free port for the plain listener
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    main = web.Application()
    main.cleanup_ctx.append(
        plain_listener(make_redirect_app(), host="127.0.0.1", port=port, service="web")
    )
    server = TestServer(main, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(
                f"http://127.0.0.1:{port}/x",
                allow_redirects=False,
                headers={"Host": "origin.example.com"},
            ) as resp,
        ):
            assert resp.status == 301
            assert resp.headers["Location"] == "https://origin.example.com/x"
    finally:
        await server.close()

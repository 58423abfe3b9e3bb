"""Alt-Svc names this server's own HTTP/3 listener, even on an answer relayed from upstream."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from services.common.h3server import advertise_h3


async def test_upstream_alt_svc_is_replaced() -> None:
    """An answer carrying its origin's Alt-Svc (h3 on the origin's port) leaves with ours."""

    async def relayed(request: web.Request) -> web.Response:
        return web.Response(text="from the origin", headers={"Alt-Svc": 'h3=":38959"; ma=86400'})

    app = web.Application()
    app.router.add_get("/", relayed)
    advertise_h3(app, 443)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{port}/") as r:
            values = r.headers.getall("Alt-Svc")
    finally:
        await runner.cleanup()
    assert values == ['h3=":443"; ma=86400']

"""WebSocket through the edge: the HTTP/1.1 Upgrade (RFC 6455 §4) relayed, never cached.

A CDN passes WebSocket connections through: it accepts the client's upgrade,
opens its own WebSocket to the upstream with the same path, credentials and
subprotocols, and relays messages both ways until either side closes, with
the same close code. If the upstream refuses the handshake (a 401 for a
missing token) the client gets that status, not a generic error.

Over HTTP/2 a WebSocket is an RFC 8441 extended CONNECT (``:protocol
websocket``, answered 200, frames in the stream's DATA), which the edge's
HTTP/2 layer announces and hands over as an H2Tunnel. The same route and
pool choose the upstream, and the edge opens its usual HTTP/1.1 Upgrade to
it, with a key of its own, and relays the bytes (services/cdn/wsconnect.py).
"""

from __future__ import annotations

import asyncio
import contextlib

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

from services.cdn.cachestatus import Outcome
from services.cdn.respond import edge_error
from services.cdn.routing import Route, append_via, upstream_request_headers
from services.cdn.upstreams import Pool
from services.cdn.wsconnect import (
    VERSION,
    Dialer,
    new_key,
    parse_head,
    relay,
    upgrade_problem,
    upgrade_request,
)
from services.common.h2tunnel import H2Tunnel

# Fields aiohttp's ws_connect writes itself for the edge's own handshake.
OWN = ("Sec-WebSocket-Key", "Sec-WebSocket-Version", "Sec-WebSocket-Extensions",
       "Sec-WebSocket-Protocol")  # fmt: skip


def is_upgrade(request: web.Request) -> bool:
    """A WebSocket opening handshake (RFC 6455 §4.1): GET with Upgrade: websocket."""
    connection = request.headers.get("Connection", "").lower()
    return (
        request.method == "GET"
        and request.headers.get("Upgrade", "").lower() == "websocket"
        and "upgrade" in connection
    )


async def _relay(
    source: web.WebSocketResponse | aiohttp.ClientWebSocketResponse,
    sink: web.WebSocketResponse | aiohttp.ClientWebSocketResponse,
    counts: dict[str, int],
    direction: str,
) -> None:
    async for msg in source:
        if msg.type == aiohttp.WSMsgType.TEXT:
            await sink.send_str(msg.data)
        elif msg.type == aiohttp.WSMsgType.BINARY:
            await sink.send_bytes(msg.data)
        else:
            break
        counts[direction] += 1


async def tunnel(
    request: web.Request,
    session: aiohttp.ClientSession,
    route: Route,
    pool: Pool,
    fields: dict[str, object],
    scheme: str,
) -> web.StreamResponse:
    """Relay one WebSocket to the first upstream that takes the handshake."""
    headers = upstream_request_headers(
        request.headers, public_host=route.public_host, client_ip=request.remote, proto=scheme
    )
    for name in OWN:
        headers.pop(name, None)
    protocols = [
        p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()
    ]
    fields["cache"] = "BYPASS"
    fields["websocket"] = True
    upstream: aiohttp.ClientWebSocketResponse | None = None
    failures: list[str] = []
    for member in pool.order():
        url = route.target(request.raw_path, member.url)
        url = url.with_scheme("wss" if url.scheme == "https" else "ws")
        try:
            upstream = await session.ws_connect(url, headers=headers, protocols=protocols)
            fields["upstream"] = member.label
            break
        except aiohttp.WSServerHandshakeError as e:
            # The upstream answered: its refusal (401, 404) is the answer; no failover.
            return edge_error(e.status, f"the upstream refused the WebSocket: {e.message}",
                              Outcome("BYPASS", fwd="bypass", fwd_status=e.status))  # fmt: skip
        except (aiohttp.ClientError, OSError) as e:
            failures.append(f"{member.label}: {e}")
    if upstream is None:
        return edge_error(502, "no upstream took the WebSocket: " + "; ".join(failures),
                          Outcome("BYPASS", fwd="bypass"))  # fmt: skip
    client = web.WebSocketResponse(protocols=[upstream.protocol] if upstream.protocol else ())
    await client.prepare(request)
    counts = {"to_upstream": 0, "to_client": 0}
    tasks = [
        asyncio.create_task(_relay(client, upstream, counts, "to_upstream")),
        asyncio.create_task(_relay(upstream, client, counts, "to_client")),
    ]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        code = upstream.close_code or client.close_code or aiohttp.WSCloseCode.OK
        await upstream.close(code=code)
        await client.close(code=code)
        fields.update(counts)
    return client


async def tunnel_extended(
    request: web.Request,
    tunnel: H2Tunnel,
    dialer: Dialer,
    route: Route,
    pool: Pool,
    fields: dict[str, object],
    scheme: str,
    timeout: float,
) -> web.StreamResponse:
    """An RFC 8441 WebSocket from an HTTP/2 client, relayed to an HTTP/1.1 Upgrade upstream."""
    fields.update(cache="BYPASS", websocket=True, websocket_over="h2")
    bypass = Outcome("BYPASS", fwd="bypass")
    version = request.headers.get("Sec-WebSocket-Version", VERSION)
    if version != VERSION:
        # RFC 6455 §4.4: an unknown version is refused with the one this side speaks.
        refused = edge_error(426, f"WebSocket version {version!r}: this edge speaks {VERSION}")
        refused.headers["Sec-WebSocket-Version"] = VERSION
        return refused
    headers = upstream_request_headers(
        request.headers, public_host=route.public_host, client_ip=request.remote, proto=scheme
    )
    # Protocol and extensions are offered end to end: the frames pass through unchanged.
    for name in ("Sec-WebSocket-Key", "Sec-WebSocket-Version"):
        headers.pop(name, None)
    failures: list[str] = []
    for member in pool.order():
        url = route.target(request.raw_path, member.url)
        key = new_key()
        try:
            reader, writer = await dialer.open(url)
        except (OSError, TimeoutError) as e:
            failures.append(f"{member.label}: {type(e).__name__}: {e}")
            continue
        try:
            writer.write(upgrade_request(url, key, headers))
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
            answer = parse_head(head)
        except (OSError, TimeoutError, ValueError, asyncio.IncompleteReadError) as e:
            writer.close()
            failures.append(f"{member.label}: {type(e).__name__}: {e}")
            continue
        fields["upstream"] = member.label
        if answer.status != 101:
            writer.close()
            # The upstream answered: its refusal (401, 404) is the answer; no failover.
            outcome = Outcome("BYPASS", fwd="bypass", fwd_status=answer.status)
            why = f"the upstream refused the WebSocket: {answer.reason}"
            return edge_error(answer.status, why, outcome)
        problem = upgrade_problem(answer, key)
        if problem is not None:
            writer.close()
            return edge_error(502, f"the upstream's WebSocket handshake: {problem}",
                              bypass)  # fmt: skip
        accepted: CIMultiDict[str] = CIMultiDict()
        for name in ("Sec-WebSocket-Protocol", "Sec-WebSocket-Extensions"):
            if name in answer.headers:
                accepted[name] = answer.headers[name]
        append_via(accepted)
        response = await tunnel.accept(request, accepted)
        try:
            fields["closed"] = await relay(tunnel, reader, writer)
        finally:
            fields.update(bytes_to_upstream=tunnel.bytes_in, bytes_to_client=tunnel.bytes_out)
        return response
    return edge_error(502, "no upstream took the WebSocket: " + "; ".join(failures),
                      bypass)  # fmt: skip

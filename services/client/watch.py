"""``python -m services.client.watch WSS_URL --post URL --json BODY``: watch a WebSocket live.

The ``websocket`` scenario step: log in, open the WebSocket (an HTTP/1.1
Upgrade, RFC 6455 §4, or with ``--http 2`` an HTTP/2 extended CONNECT,
RFC 8441, services/client/h2ws.py) with the bearer token, wait for the server's first
message, then make a change over plain HTTPS on another connection and wait
for the event that change pushes. Prints one JSON line per event and a final
JSON summary; exit 0 when the expected event arrived before the deadline.
The TLS key log lets the capture decrypt the WebSocket frames too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import sys
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from services.client.fetch import CA_FILE, login
from services.client.h2ws import H2WebSocket, Refused


async def watch(
    args: argparse.Namespace, ctx: ssl.SSLContext, ws_context: Callable[[], ssl.SSLContext]
) -> dict[str, Any]:
    """``ws_context`` makes the WebSocket's own TLS context for ``--http 2`` (ALPN h2 only)."""
    parts = urlsplit(args.post)
    token = await asyncio.to_thread(login, f"{parts.scheme}://{parts.netloc}", ctx)
    auth = {"Authorization": f"Bearer {token}"}
    result: dict[str, Any] = {"url": args.url, "http": args.http, "events": [], "ok": False,
                              "error": ""}  # fmt: skip
    started = time.monotonic()
    async with aiohttp.ClientSession() as session:

        async def changed() -> None:
            """The POST over plain HTTPS (HTTP/1.1, another connection) once subscribed."""
            async with session.post(
                args.post, data=args.json, ssl=ctx,
                headers={**auth, "Content-Type": "application/json"},
            ) as r:  # fmt: skip
                result["post_status"] = r.status
                print(json.dumps({"event": "http.done", "status": r.status}), flush=True)

        def seen(msg: Any) -> bool:
            result["events"].append(msg)
            print(json.dumps({"event": "ws.message", "data": msg}), flush=True)
            return isinstance(msg, dict) and msg.get("type") == args.expect

        try:
            if args.http == "2":
                ws2 = await H2WebSocket.connect(args.url, auth, ws_context(), args.timeout)
                try:
                    seen(await ws2.receive_json(args.timeout))
                    await changed()
                    while time.monotonic() - started < args.timeout:
                        if seen(await ws2.receive_json(args.timeout)):
                            result["ok"] = True
                            break
                finally:
                    await ws2.aclose()
            else:
                async with session.ws_connect(args.url, headers=auth, ssl=ctx) as ws:
                    seen(await ws.receive_json(timeout=args.timeout))
                    await changed()
                    while time.monotonic() - started < args.timeout:
                        if seen(await ws.receive_json(timeout=args.timeout)):
                            result["ok"] = True
                            break
        except aiohttp.WSServerHandshakeError as e:
            result["error"] = f"the WebSocket upgrade was refused: {e.status} {e.message}"
        except Refused as e:
            result["error"] = f"the WebSocket's extended CONNECT was refused: {e.status}"
        except (aiohttp.ClientError, TimeoutError, OSError) as e:
            result["error"] = f"{type(e).__name__}: {e}"
    result["ms"] = round((time.monotonic() - started) * 1000, 1)
    if not result["ok"] and not result["error"]:
        result["error"] = f"no {args.expect} event within {args.timeout:g} s"
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m services.client.watch", description=__doc__)
    p.add_argument("url", help="the WebSocket URL (wss://...)")
    p.add_argument("--post", required=True, help="an HTTPS URL to POST to once subscribed")
    p.add_argument("--json", required=True, help="the POST's JSON body")
    p.add_argument("--expect", default="user.created", help="the event type to wait for")
    p.add_argument("--timeout", type=float, default=10.0)
    p.add_argument("--keylog", help="TLS key log file (for the capture)")
    p.add_argument("--http", choices=("1.1", "2"), default="1.1",
                   help="the WebSocket's HTTP: 1.1 Upgrade (RFC 6455) or 2, extended CONNECT "
                   "(RFC 8441); the POST is HTTP/1.1 either way")  # fmt: skip
    args = p.parse_args(argv)

    def context() -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=CA_FILE)
        if args.keylog:
            ctx.keylog_filename = args.keylog
        return ctx

    result = asyncio.run(watch(args, context(), context))
    print(json.dumps({"event": "ws.result", **result}), flush=True)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())

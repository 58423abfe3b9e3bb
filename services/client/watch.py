"""``python -m services.client.watch WSS_URL --post URL --json BODY``: watch a WebSocket live.

The ``websocket`` scenario step: log in, open the WebSocket (an HTTP/1.1
Upgrade, RFC 6455 §4) with the bearer token, wait for the server's first
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
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from services.client.fetch import CA_FILE, login


async def watch(args: argparse.Namespace, ctx: ssl.SSLContext) -> dict[str, Any]:
    parts = urlsplit(args.post)
    token = await asyncio.to_thread(login, f"{parts.scheme}://{parts.netloc}", ctx)
    auth = {"Authorization": f"Bearer {token}"}
    result: dict[str, Any] = {"url": args.url, "events": [], "ok": False, "error": ""}
    started = time.monotonic()
    async with aiohttp.ClientSession() as session:
        try:
            async with session.ws_connect(args.url, headers=auth, ssl=ctx) as ws:
                first = await ws.receive_json(timeout=args.timeout)
                result["events"].append(first)
                print(json.dumps({"event": "ws.message", "data": first}), flush=True)
                async with session.post(
                    args.post, data=args.json, ssl=ctx,
                    headers={**auth, "Content-Type": "application/json"},
                ) as r:  # fmt: skip
                    result["post_status"] = r.status
                    print(json.dumps({"event": "http.done", "status": r.status}), flush=True)
                while time.monotonic() - started < args.timeout:
                    msg = await ws.receive_json(timeout=args.timeout)
                    result["events"].append(msg)
                    print(json.dumps({"event": "ws.message", "data": msg}), flush=True)
                    if msg.get("type") == args.expect:
                        result["ok"] = True
                        break
        except aiohttp.WSServerHandshakeError as e:
            result["error"] = f"the WebSocket upgrade was refused: {e.status} {e.message}"
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
    args = p.parse_args(argv)
    ctx = ssl.create_default_context(cafile=CA_FILE)
    if args.keylog:
        ctx.keylog_filename = args.keylog
    result = asyncio.run(watch(args, ctx))
    print(json.dumps({"event": "ws.result", **result}), flush=True)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())

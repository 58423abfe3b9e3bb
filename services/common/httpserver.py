"""Running an aiohttp app as a lab service: JSON access log, TLS, clean shutdown.

Shared by the origin, the API and the edge (it belongs in services/common/
once that package takes HTTP helpers).
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from services.common.logs import log_event

# Handlers add fields for the access log line here (the edge's cache status,
# upstream and upstream_ms): request["log_fields"] = {...}.
LOG_FIELDS = "log_fields"


class JsonAccessLogger(AbstractAccessLogger):
    """One structured "request" event per request, timed by aiohttp itself."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        extra: dict[str, Any] = request.get(LOG_FIELDS, {})
        log_event(self.logger, "request", method=request.method, path=request.path_qs,
                  host=request.host, status=response.status, bytes=response.body_length,
                  duration_ms=round(time * 1000, 3), remote=request.remote, **extra)


def plain_listener(app: web.Application, *, host: str, port: int, service: str,
                   ssl_context: ssl.SSLContext | None = None
                   ) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context serving ``app`` on ``port`` beside the main site.

    Plain HTTP by default (the port-80 redirectors); with ``ssl_context``, one more
    TLS listener (the bad-certificate server's one port per certificate). It starts
    and stops with the main app.
    """
    logger = logging.getLogger(f"services.{service}")

    async def listen(_main: web.Application) -> AsyncIterator[None]:
        runner = web.AppRunner(app, access_log=logging.getLogger(f"services.{service}.access"),
                               access_log_class=JsonAccessLogger)
        await runner.setup()
        await web.TCPSite(runner, host, port, ssl_context=ssl_context).start()
        log_event(logger, "listening", host=host, port=port,
                  tls=None if ssl_context is None else "1.2-1.3")
        yield
        await runner.cleanup()

    return listen


def run(app: web.Application, *, host: str, port: int, ssl_context: ssl.SSLContext,
        service: str, plain: tuple[web.Application, int] | None = None) -> None:
    """Serve ``app`` until SIGINT/SIGTERM (compose stop sends SIGTERM).

    ``plain`` = (app, port) adds a plain-HTTP listener (the origin's redirect to HTTPS).
    """
    logger = logging.getLogger(f"services.{service}")
    if plain is not None:
        app.cleanup_ctx.append(plain_listener(plain[0], host=host, port=plain[1],
                                              service=service))

    # cleanup_ctx rather than on_startup: its type is checkable with this aiohttp/aiosignal pair.
    async def announce(_app: web.Application) -> AsyncIterator[None]:
        log_event(logger, "listening", host=host, port=port, tls="1.2-1.3", alpn="http/1.1")
        yield
        log_event(logger, "stopped")

    app.cleanup_ctx.append(announce)
    web.run_app(app, host=host, port=port, ssl_context=ssl_context, print=None,
                access_log=logging.getLogger(f"services.{service}.access"),
                access_log_class=JsonAccessLogger)

"""Running an aiohttp app as a lab service: JSON access log, TLS, clean shutdown.

Shared by the origin, the API and the edge. Every TLS port speaks HTTP/2 and
HTTP/1.x, chosen by ALPN (services/common/h2server.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import signal
import ssl
import time as _time
from collections.abc import AsyncIterator, Callable
from json.encoder import encode_basestring_ascii
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from services.common.errorpage import ErrorPageRunner
from services.common.h2server import TlsSite
from services.common.h3server import H3Site, advertise_h3
from services.common.logs import JsonFormatter, log_event
from services.common.tls import SERVER_ALPN

# Handlers add fields for the access log line here (the edge's cache status,
# upstream and upstream_ms): request["log_fields"] = {...}.
LOG_FIELDS = "log_fields"


class JsonAccessLogger(AbstractAccessLogger):
    """One structured "request" event per request, timed by aiohttp itself.

    When the only destination is logs.setup()'s JSON handler (how services run), the
    line JsonFormatter would make is built directly and the lines of one event-loop
    turn reach the stream in one write: a LogRecord, the formatter's walk over it and
    a write per request (stdout is unbuffered in the image) cost more than a cache HIT
    itself. Any other configuration (a filter, another handler, pytest's caplog) gets
    the ordinary log_event.
    """

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        extra: dict[str, Any] = request.get(LOG_FIELDS, {})
        fields: dict[str, Any] = {
            "method": request.method,
            "path": request.path_qs,
            "host": request.host,
            "status": response.status,
            "bytes": response.body_length,
            "duration_ms": round(time * 1000, 3),
            "remote": request.remote,
            **extra,
        }
        handler = _json_handler(self.logger)
        if handler is None or not _RESERVED.isdisjoint(extra):
            log_event(self.logger, "request", **fields)
            return
        formatter = handler.formatter
        assert isinstance(formatter, JsonFormatter)
        line = (
            f'{{"time":{round(_time.time(), 6)!r},"service":{_json(formatter.service)},'
            f'"level":"info","event":"request",'
            + ",".join(f"{_json(k)}:{_json(v)}" for k, v in fields.items())
            + "}"
            + handler.terminator
        )
        lines = _pending.get(handler)
        if lines is None:
            lines = _pending[handler] = []
            try:
                asyncio.get_running_loop().call_soon(_write_pending)
            except RuntimeError:  # no loop running: nothing would write them later
                lines.append(line)
                _write_pending()
                return
        lines.append(line)


_ENCODER = json.JSONEncoder(default=str, separators=(",", ":"))  # as JsonFormatter's


def _json(value: Any) -> str:
    """``value`` as JsonFormatter's json.dumps writes it; the common types directly."""
    kind = type(value)
    if kind is str:
        return encode_basestring_ascii(value)
    if kind is int or (kind is float and math.isfinite(value)):
        return repr(value)
    return _ENCODER.encode(value)


_RESERVED = frozenset(vars(logging.makeLogRecord({})))
# Access log lines not yet written, by handler; emptied at the end of each loop turn.
_pending: dict[logging.StreamHandler[Any], list[str]] = {}


def _json_handler(logger: logging.Logger) -> logging.StreamHandler[Any] | None:
    """The one handler an INFO record of ``logger`` would reach, when it is a
    StreamHandler with JsonFormatter and nothing filters; else None."""
    if logger.disabled or logger.filters or not logger.isEnabledFor(logging.INFO):
        return None
    found: list[logging.Handler] = []
    current: logging.Logger | None = logger
    while current is not None:
        found.extend(current.handlers)
        if not current.propagate:
            break
        current = current.parent
    if len(found) != 1:
        return None
    handler = found[0]
    if (
        type(handler) is not logging.StreamHandler
        or handler.filters
        or handler.level > logging.INFO
        or not isinstance(handler.formatter, JsonFormatter)
    ):
        return None
    return handler


def _write_pending() -> None:
    while _pending:
        handler, lines = _pending.popitem()
        try:
            with handler.lock or contextlib.nullcontext():
                handler.stream.write("".join(lines))
                handler.flush()
        except (OSError, ValueError):  # as StreamHandler.emit: report, carry on
            handler.handleError(logging.makeLogRecord({"msg": "access log lines lost"}))


def plain_listener(
    app: web.Application,
    *,
    host: str,
    port: int,
    service: str,
    ssl_context: ssl.SSLContext | None = None,
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context serving ``app`` on ``port`` beside the main site.

    Plain HTTP by default (the port-80 redirectors); with ``ssl_context``, one more
    TLS listener (the bad-certificate server's one port per certificate). It starts
    and stops with the main app.
    """
    logger = logging.getLogger(f"services.{service}")

    async def listen(_main: web.Application) -> AsyncIterator[None]:
        access = logging.getLogger(f"services.{service}.access")
        runner = ErrorPageRunner(app, access_log=access, access_log_class=JsonAccessLogger)
        await runner.setup()
        site: TlsSite | None = None
        if ssl_context is None:
            await web.TCPSite(runner, host, port).start()
        else:
            site = TlsSite(runner, host, port, ssl_context, logger, JsonAccessLogger(access, ""))
            await site.start()
        log_event(
            logger,
            "listening",
            host=host,
            port=port,
            tls=None if ssl_context is None else "1.2-1.3",
            alpn=None if ssl_context is None else SERVER_ALPN,
        )
        yield
        if site is not None:
            await site.stop()
        await runner.cleanup()

    return listen


def run(
    app: web.Application,
    *,
    host: str,
    port: int,
    ssl_context: ssl.SSLContext | None,
    service: str,
    plain: tuple[web.Application, int] | None = None,
    h3: tuple[Path, Path] | None = None,
) -> None:
    """Serve ``app`` until SIGINT/SIGTERM (compose stop sends SIGTERM).

    ``ssl_context`` None serves plain HTTP/1.x (the edge's --plain test mode).

    ``plain`` = (app, port) adds a plain-HTTP listener (the origin's redirect to HTTPS).
    ``h3`` = (certificate chain, key) also serves HTTP/3 over QUIC on UDP ``port``
    (services/common/h3server.py) and advertises it with Alt-Svc on TCP responses.
    """
    logger = logging.getLogger(f"services.{service}")
    if plain is not None:
        app.cleanup_ctx.append(plain_listener(plain[0], host=host, port=plain[1], service=service))

    asyncio.run(_serve(app, host, port, ssl_context, logger, service, h3))


async def _serve(
    app: web.Application,
    host: str,
    port: int,
    ssl_context: ssl.SSLContext | None,
    logger: logging.Logger,
    service: str,
    h3: tuple[Path, Path] | None = None,
) -> None:
    """The main site, until a signal: HTTP/2 or HTTP/1.x by ALPN (h2server.TlsSite) and
    HTTP/3, or plain HTTP/1.x without ``ssl_context``."""
    access = logging.getLogger(f"services.{service}.access")
    # ErrorPageRunner: an app's ERROR_PAGE answers the HTTP/1 parser's errors too.
    runner = ErrorPageRunner(
        app, access_log=access, access_log_class=JsonAccessLogger, handle_signals=False
    )
    if h3:
        advertise_h3(app, port)  # before setup: the app's signals freeze there
    await runner.setup()
    site: TlsSite | web.TCPSite
    if ssl_context is None:
        site = web.TCPSite(runner, host, port)
    else:
        site = TlsSite(runner, host, port, ssl_context, logger, JsonAccessLogger(access, ""))
    await site.start()
    quic = (
        H3Site(runner, host, port, h3[0], h3[1], logger, JsonAccessLogger(access, ""))
        if h3
        else None
    )
    if quic:
        await quic.start()
    tls = ssl_context is not None
    log_event(logger, "listening", host=host, port=port, tls="1.2-1.3" if tls else None,
              alpn=SERVER_ALPN if tls else None)  # fmt: skip
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        if quic:
            await quic.stop()
        await site.stop()
        await runner.cleanup()
        log_event(logger, "stopped")

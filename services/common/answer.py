"""One request of an HTTP/2 stream or an HTTP/3 stream, answered as aiohttp's own server does.

h2server and h3server each turn a stream into an aiohttp ``Request``; from
there the handling is the same for both: the application's handler (with its
middlewares) makes the response, an ``HTTPException`` is a response too, any
other error is a logged 500 (the app's ERROR_PAGE when it has one), and the
access log gets its line.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from services.common.errorpage import DETAILS, own_error


async def answer(
    app: web.Application,
    request: web.BaseRequest,
    *,
    logger: logging.Logger,
    event: str,
    access_logger: AbstractAccessLogger | None,
    started: float,
    refusal: web.StreamResponse | None = None,
) -> None:
    """Run the handler (or send ``refusal``), write the response, log the access.

    ``event`` names the log event of a handler error; ``started`` is the loop
    time the request began. Errors of the stream itself are the caller's.
    """
    try:
        response = refusal if refusal is not None else await app._handle(request)  # type: ignore[arg-type]
    except web.HTTPException as exc:
        response = exc
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # as aiohttp's own server: a 500, logged
        logger.exception("handler error", extra={"event": event, "error": str(exc)})
        response = own_error(app, 500, DETAILS[500], "500 Internal Server Error")
    await response.prepare(request)
    await response.write_eof()
    if access_logger is not None:
        access_logger.log(request, response, asyncio.get_running_loop().time() - started)

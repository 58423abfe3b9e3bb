"""The server's own errors, answered in the app's format instead of aiohttp's plain text.

Some errors happen where no handler or middleware runs. aiohttp's HTTP/1
``RequestHandler`` answers a request its parser rejects (a malformed request
line, a header field over 8190 bytes) with ``handle_error``: text/plain, and
always 400. It does the same for a handler that raised (500) or timed out
(504). The HTTP/2 and HTTP/3 layers make their own 500s and refusals
(services/common/answer.py, h2server.py).

An app that sets :data:`ERROR_PAGE` gets all of these from its own function
(the edge: RFC 9457 problem documents with Via and Cache-Status). Apps without
it keep aiohttp's answers. On HTTP/1 this takes :class:`ErrorPageRunner` in
place of ``web.AppRunner``: aiohttp has no setting for the protocol class, so
the runner's server makes a ``RequestHandler`` subclass. That leans on aiohttp
3.11's ``Server`` (``_loop``, ``_kwargs``) and on ``handle_error`` being the one
way out for these errors; tests/unit/cdn/test_errors.py sends the bytes, so an
upgrade that changes either fails there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError, LineTooLong
from aiohttp.web_protocol import RequestHandler

# (status, detail) -> the response; the caller makes the connection close after it.
ErrorPage = Callable[[int, str], web.Response]
ERROR_PAGE: web.AppKey[ErrorPage] = web.AppKey("error_page")

# What aiohttp's handle_error says for the statuses it gives besides the parser's 400.
DETAILS = {
    500: "the server failed while answering this request",
    504: "the server did not finish this request in time",
}


def parser_error(exc: BaseException | None, status: int) -> tuple[int, str]:
    """The status and detail for an error of aiohttp's HTTP/1 server.

    aiohttp answers every parser error 400; a field or request line over its
    limit has a status of its own: 431 for a header field (RFC 6585 §5), 414
    for the request-target (RFC 9112 §3).
    """
    if isinstance(exc, LineTooLong):
        what, limit = str(exc.args[0]), exc.args[1]
        if what.startswith("Status line"):  # both parsers' words for the request line
            return 414, f"the request line is longer than {limit} bytes"
        return 431, f"a header field is longer than {limit} bytes"
    if isinstance(exc, HttpProcessingError):
        # llhttp's messages quote the bytes on a second line and point at the fault
        # with a caret line on a third: one line of words and the quote.
        lines = (line.strip() for line in exc.message.splitlines())
        words = " ".join(line for line in lines if line and set(line) != {"^"})
        return status, words or "the request could not be parsed"
    return status, DETAILS.get(status, "the server could not answer this request")


def own_error(app: web.Application, status: int, detail: str, text: str) -> web.Response:
    """The app's error page for ``status``, else plain ``text`` (what the layer said before)."""
    page = app.get(ERROR_PAGE)
    return page(status, detail) if page is not None else web.Response(status=status, text=text)


class ErrorPageHandler(RequestHandler):
    """aiohttp's HTTP/1 protocol with handle_error answered by an ``ErrorPage``."""

    def __init__(self, manager: ErrorPageServer, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._page = manager.page

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        # aiohttp's own first: it logs, and raises when the response had already begun.
        super().handle_error(request, status, exc, message)
        code, detail = parser_error(exc, status)
        page = self._page(code, detail)
        page.force_close()  # as aiohttp's: after such an error the connection is not reused
        return page


class ErrorPageServer(web.Server):
    """An aiohttp ``Server`` like ``base`` whose connections use :class:`ErrorPageHandler`."""

    def __init__(self, page: ErrorPage, base: web.Server) -> None:
        super().__init__(
            base.request_handler,
            request_factory=base.request_factory,
            handler_cancellation=base.handler_cancellation,
            loop=base._loop,
            **base._kwargs,
        )
        self.page = page

    def __call__(self) -> RequestHandler:
        return ErrorPageHandler(self, loop=self._loop, **self._kwargs)


class ErrorPageRunner(web.AppRunner):
    """``web.AppRunner`` whose HTTP/1 errors use the app's ERROR_PAGE when it has one."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        page = self.app.get(ERROR_PAGE)
        return server if page is None else ErrorPageServer(page, server)

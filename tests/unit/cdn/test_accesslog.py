"""The edge's access log (services.common.httpserver.JsonAccessLogger): one JSON line
per request, written directly when setup()'s handler is the only destination."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from services.common.httpserver import LOG_FIELDS, JsonAccessLogger
from services.common.logs import JsonFormatter, log_event


@pytest.fixture
def stream_logger() -> Iterator[
    tuple[logging.Logger, logging.StreamHandler[io.StringIO], io.StringIO]
]:
    """A logger whose only handler is a JSON StreamHandler on a StringIO (not root's)."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter("cdn"))
    logger = logging.getLogger("test.cdn.access")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    yield logger, handler, out
    logger.handlers.clear()
    logger.propagate = True


def request() -> web.Request:
    req = make_mocked_request("GET", "/css/site.css?v=1", headers={"Host": "static.example.com"})
    req[LOG_FIELDS] = {
        "upstream": "origin.example.com:443",
        "cache": "HIT",
        "age": 3,
        "reason": 'fresh: "quoted" \u00e9',
        "cache_status": "weblab-edge; hit",
        "stale": False,
        "error": None,
        "upstream_ms": 0.25,
    }
    return req


def lines(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


async def test_direct_line_matches_formatter(
    stream_logger: tuple[logging.Logger, logging.StreamHandler[io.StringIO], io.StringIO],
) -> None:
    """The direct line has the keys, order and values JsonFormatter gives the event."""
    logger, handler, out = stream_logger
    logger.handlers[:] = [handler]  # pytest adds its own capture during the test's call
    req, resp = request(), web.Response(body=b"x")
    JsonAccessLogger(logger, "").log(req, resp, 0.0012)
    assert out.getvalue() == ""  # written at the end of this loop turn, with the others
    await asyncio.sleep(0)
    fields = {
        "method": "GET",
        "path": "/css/site.css?v=1",
        "host": "static.example.com",
        "status": 200,
        "bytes": 0,
        "duration_ms": 1.2,
        "remote": req.remote,
        **req[LOG_FIELDS],
    }
    log_event(logger, "request", **fields)
    direct, formatted = lines(out)
    assert list(direct) == list(formatted)
    assert {k: v for k, v in direct.items() if k != "time"} == {
        k: v for k, v in formatted.items() if k != "time"
    }
    assert "\\u00e9" in out.getvalue().splitlines()[0]  # ensure_ascii, as the formatter


async def test_other_configurations_use_logging(
    stream_logger: tuple[logging.Logger, logging.StreamHandler[io.StringIO], io.StringIO],
) -> None:
    """With a filter (or caplog, another handler...) the record goes through logging."""
    logger, handler, out = stream_logger
    seen: list[logging.LogRecord] = []

    def keep(record: logging.LogRecord) -> bool:
        seen.append(record)
        return True

    handler.addFilter(keep)
    JsonAccessLogger(logger, "").log(request(), web.Response(body=b"x"), 0.001)
    assert [r.__dict__["cache"] for r in seen] == ["HIT"]
    assert lines(out)[0]["event"] == "request"
